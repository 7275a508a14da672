package io.llmj.quant;

import java.lang.foreign.MemorySegment;

/** F16: IEEE binary16, 2 bytes per element; conversion rounds to nearest even keeping subnormals ({@code ggml_fp32_to_fp16_row}). vec_dot with F16. */
public final class F16 implements QuantFormat {
    public static final F16 INSTANCE = new F16();

    public static final int BLOCK_SIZE = 1;
    public static final int BLOCK_BYTES = 2;

    private F16() {}

    @Override
    public GgmlType type() {
        return GgmlType.F16;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.F16;
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        Bytes.checkBlocks(type(), "source", src, srcOffset, n);
        Bytes.checkArray(type(), "destination", dst, dstOffset, n);
        for (int i = 0; i < n; i++) {
            long p = srcOffset + (long) i * BLOCK_BYTES;
            dst[dstOffset + i] = Bytes.f16(src, p);
        }
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /** {@code ggml_fp32_to_fp16_row}: round to nearest even, subnormals kept. */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        Bytes.checkDst(type(), dst, dstOffset, n);
        for (int i = 0; i < n; i++) {
            long p = dstOffset + (long) i * BLOCK_BYTES;
            Bytes.putF16(dst, p, src[srcOffset + i]);
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
            sum += (double) Bytes.f16(w, p) * Bytes.f16(act, a);
        }
        return sum;
    }
}
