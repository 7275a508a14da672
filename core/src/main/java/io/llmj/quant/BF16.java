package io.llmj.quant;

import java.lang.foreign.MemorySegment;

/** BF16: bfloat16, 2 bytes per element (the high half of a float32); conversion rounds to nearest even and quiets NaN ({@code ggml_fp32_to_bf16_row_ref}). vec_dot with BF16. */
public final class BF16 implements QuantFormat {
    public static final BF16 INSTANCE = new BF16();

    public static final int BLOCK_SIZE = 1;
    public static final int BLOCK_BYTES = 2;

    private BF16() {}

    @Override
    public GgmlType type() {
        return GgmlType.BF16;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.BF16;
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        Bytes.checkBlocks(type(), "source", src, srcOffset, n);
        Bytes.checkArray(type(), "destination", dst, dstOffset, n);
        for (int i = 0; i < n; i++) {
            long p = srcOffset + (long) i * BLOCK_BYTES;
            dst[dstOffset + i] = Float16.bf16ToFloat((short) Bytes.i16(src, p));
        }
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /** {@code ggml_fp32_to_bf16_row_ref}: round to nearest even, NaN quieted. */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        Bytes.checkDst(type(), dst, dstOffset, n);
        for (int i = 0; i < n; i++) {
            long p = dstOffset + (long) i * BLOCK_BYTES;
            Bytes.put16(dst, p, Float16.floatToBf16(src[srcOffset + i]));
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
            sum += (double) Float16.bf16ToFloat((short) Bytes.i16(w, p)) * Float16.bf16ToFloat((short) Bytes.i16(act, a));
        }
        return sum;
    }
}
