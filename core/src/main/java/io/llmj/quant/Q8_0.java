package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.i8;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;

import java.lang.foreign.MemorySegment;

/**
 * Q8_0 ({@code block_q8_0}): 32 int8 quants with one fp16 scale; {@code x = q · d}. Both a weight
 * format and the vec_dot activation format of Q4_0, Q5_0, Q8_0 and IQ4_NL.
 *
 * <p>ggml has two activation converters that differ on rounding ties: the reference
 * {@link #quantize} ({@code quantize_row_q8_0_ref}: {@code id = 1/d}, {@code roundf}) and the x86
 * AVX/AVX2 CPU backend's {@link #quantizeX86} ({@code id = 127/amax}, round half to even), which is
 * what llama.cpp on x86 feeds to vec_dot.
 */
public final class Q8_0 implements QuantFormat {
    public static final Q8_0 INSTANCE = new Q8_0();

    public static final int BLOCK_SIZE = 32;
    public static final int BLOCK_BYTES = 34;
    /** fp16 scale d. */
    public static final int OFF_D = 0;
    /** 32 int8 quants. */
    public static final int OFF_QS = 2;

    private Q8_0() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q8_0;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.Q8_0;
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

    /** {@code quantize_row_q8_0_ref}: d = amax/127, id = 1/d, q = roundf(x·id) (ties away from zero). */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        quantize(src, srcOffset, n, dst, dstOffset, false);
    }

    /**
     * The x86 AVX/AVX2 CPU backend's {@code quantize_row_q8_0}: d = amax/127, id = 127/amax,
     * q = round-half-even(x·id). This is what {@code dot.<T>} in the test vectors used.
     */
    public void quantizeX86(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        quantize(src, srcOffset, n, dst, dstOffset, true);
    }

    private void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset, boolean x86) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type(), dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            int x = srcOffset + b * BLOCK_SIZE;
            long p = dstOffset + (long) b * BLOCK_BYTES;
            float amax = blockAmax(src, x);
            float d = amax / ((1 << 7) - 1);
            float id = x86 ? (amax != 0.0f ? 127.f / amax : 0.0f) : (d != 0 ? 1.0f / d : 0.0f);
            putF16(dst, p + OFF_D, d);
            for (int j = 0; j < BLOCK_SIZE; j++) {
                float v = src[x + j] * id;
                put8(dst, p + OFF_QS + j, (int) (x86 ? QuantMath.rintf(v) : QuantMath.roundf(v)));
            }
        }
    }

    /** MAX(amax, fabsf(x)) over a 32-block, as ggml. */
    static float blockAmax(float[] src, int x) {
        float amax = 0.0f;
        for (int j = 0; j < BLOCK_SIZE; j++) {
            float a = Math.abs(src[x + j]);
            amax = amax > a ? amax : a;
        }
        return amax;
    }

    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        int nb = Bytes.checkDot(type(), w, wOffset, GgmlType.Q8_0, act, actOffset, n);
        double sum = 0;
        for (int b = 0; b < nb; b++) {
            long p = wOffset + (long) b * BLOCK_BYTES;
            long a = actOffset + (long) b * BLOCK_BYTES;
            int isum = 0;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                isum += i8(w, p + OFF_QS + j) * i8(act, a + OFF_QS + j);
            }
            sum += (double) f16(w, p + OFF_D) * f16(act, a + OFF_D) * isum;
        }
        return sum;
    }
}
