package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.i8;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;

import java.lang.foreign.MemorySegment;

/**
 * Q8_1 ({@code block_q8_1}, 36 bytes): 32 int8 quants with fp16 scale d and fp16
 * {@code s = d·Σq} (d unrounded); {@code x = q · d}. Only an activation format: the vec_dot type
 * of Q4_1 and Q5_1. (gguf-py at c392e50 wrongly lists 40 bytes.)
 *
 * <p>As for {@link Q8_0}, {@link #quantize} is ggml's reference and {@link #quantizeX86} the x86
 * CPU backend's variant; they differ on rounding ties.
 */
public final class Q8_1 implements QuantFormat {
    public static final Q8_1 INSTANCE = new Q8_1();

    public static final int BLOCK_SIZE = 32;
    public static final int BLOCK_BYTES = 36;
    /** fp16 scale d. */
    public static final int OFF_D = 0;
    /** fp16 d·Σq. */
    public static final int OFF_S = 2;
    /** 32 int8 quants. */
    public static final int OFF_QS = 4;

    private Q8_1() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q8_1;
    }

    /** Null: Q8_1 is an activation format without a vec_dot of its own. */
    @Override
    public GgmlType vecDotType() {
        return null;
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        int nb = Bytes.checkBlocks(type(), "source", src, srcOffset, n);
        Bytes.checkArray(type(), "destination", dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            long p = srcOffset + (long) b * BLOCK_BYTES;
            float d = f16(src, p + OFF_D);
            int y = dstOffset + b * BLOCK_SIZE;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                dst[y + j] = i8(src, p + OFF_QS + j) * d;
            }
        }
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /** {@code quantize_row_q8_1_ref}: as Q8_0's reference, plus s = fp16(Σq · d). */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        quantize(src, srcOffset, n, dst, dstOffset, false);
    }

    /** The x86 AVX/AVX2 CPU backend's {@code quantize_row_q8_1}: as {@link Q8_0#quantizeX86}, plus s. */
    public void quantizeX86(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        quantize(src, srcOffset, n, dst, dstOffset, true);
    }

    private void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset, boolean x86) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type(), dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            int x = srcOffset + b * BLOCK_SIZE;
            long p = dstOffset + (long) b * BLOCK_BYTES;
            float amax = Q8_0.blockAmax(src, x);
            float d = amax / ((1 << 7) - 1);
            float id = x86 ? (amax != 0.0f ? 127.f / amax : 0.0f) : (d != 0 ? 1.0f / d : 0.0f);
            putF16(dst, p + OFF_D, d);
            int sum = 0;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                float v = src[x + j] * id;
                int q = (int) (x86 ? QuantMath.rintf(v) : QuantMath.roundf(v));
                put8(dst, p + OFF_QS + j, q);
                sum += q;
            }
            putF16(dst, p + OFF_S, sum * d);
        }
    }
}
