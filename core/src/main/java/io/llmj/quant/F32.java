package io.llmj.quant;

import java.lang.foreign.MemorySegment;

/** F32: IEEE binary32, 4 bytes per element, stored as is. vec_dot with F32 (no conversion). */
public final class F32 implements QuantFormat {
    public static final F32 INSTANCE = new F32();

    public static final int BLOCK_SIZE = 1;
    public static final int BLOCK_BYTES = 4;

    private F32() {}

    @Override
    public GgmlType type() {
        return GgmlType.F32;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.F32;
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        Bytes.checkBlocks(type(), "source", src, srcOffset, n);
        Bytes.checkArray(type(), "destination", dst, dstOffset, n);
        for (int i = 0; i < n; i++) {
            long p = srcOffset + (long) i * BLOCK_BYTES;
            dst[dstOffset + i] = Bytes.f32(src, p);
        }
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /** Copies the floats (ggml F32 needs no conversion). */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        Bytes.checkDst(type(), dst, dstOffset, n);
        for (int i = 0; i < n; i++) {
            long p = dstOffset + (long) i * BLOCK_BYTES;
            Bytes.putF32(dst, p, src[srcOffset + i]);
        }
    }

    /** Σ w·a of the widened values, in double. */
    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        Bytes.checkDot(type(), w, wOffset, type(), act, actOffset, n);
        double sum = 0;
        for (int i = 0; i < n; i++) {
            long p = wOffset + (long) i * BLOCK_BYTES;
            long a = actOffset + (long) i * BLOCK_BYTES;
            sum += (double) Bytes.f32(w, p) * Bytes.f32(act, a);
        }
        return sum;
    }
}
