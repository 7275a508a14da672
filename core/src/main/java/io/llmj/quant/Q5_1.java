package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.i8;
import static io.llmj.quant.Bytes.put32;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;

import java.lang.foreign.MemorySegment;

/**
 * Q5_1 ({@code block_q5_1}): 32 elements as 5-bit quants with fp16 scale d and min m;
 * {@code x = q · d + m}. Bit layout as Q5_0. vec_dot with Q8_1.
 */
public final class Q5_1 implements QuantFormat {
    public static final Q5_1 INSTANCE = new Q5_1();

    public static final int BLOCK_SIZE = 32;
    public static final int BLOCK_BYTES = 24;
    /** fp16 scale d. */
    public static final int OFF_D = 0;
    /** fp16 min m. */
    public static final int OFF_M = 2;
    /** uint32 (little-endian) of fifth bits. */
    public static final int OFF_QH = 4;
    /** 16 bytes of low-nibble pairs. */
    public static final int OFF_QS = 8;

    private Q5_1() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q5_1;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.Q8_1;
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        int nb = Bytes.checkBlocks(type(), "source", src, srcOffset, n);
        Bytes.checkArray(type(), "destination", dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            long p = srcOffset + (long) b * BLOCK_BYTES;
            float d = f16(src, p + OFF_D);
            float m = f16(src, p + OFF_M);
            int y = dstOffset + b * BLOCK_SIZE;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                dst[y + j] = Q5_0.quant(src, p, OFF_QH, OFF_QS, j) * d + m;
            }
        }
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /** {@code quantize_row_q5_1_ref}: d = (max - min) / 31, m = min, quants (uint8)((x - min)/d + 0.5). */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type(), dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            int x = srcOffset + b * BLOCK_SIZE;
            long p = dstOffset + (long) b * BLOCK_BYTES;
            float min = Float.MAX_VALUE;
            float max = -Float.MAX_VALUE;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                float v = src[x + j];
                if (v < min) {
                    min = v;
                }
                if (v > max) {
                    max = v;
                }
            }
            float d = (max - min) / ((1 << 5) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            putF16(dst, p + OFF_D, d);
            putF16(dst, p + OFF_M, min);
            int qh = 0;
            for (int j = 0; j < BLOCK_SIZE / 2; j++) {
                float x0 = (src[x + j] - min) * id;
                float x1 = (src[x + BLOCK_SIZE / 2 + j] - min) * id;
                int xi0 = (int) (x0 + 0.5f) & 0xFF;
                int xi1 = (int) (x1 + 0.5f) & 0xFF;
                put8(dst, p + OFF_QS + j, (xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
                qh |= ((xi0 & 0x10) >> 4) << j;
                qh |= ((xi1 & 0x10) >> 4) << (j + BLOCK_SIZE / 2);
            }
            put32(dst, p + OFF_QH, qh);
        }
    }

    /** Per block {@code d_w·d_a·Σ q_w·q_a + m_w·s_a}, with s_a the activation's fp16 field s. */
    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        int nb = Bytes.checkDot(type(), w, wOffset, GgmlType.Q8_1, act, actOffset, n);
        double sum = 0;
        for (int b = 0; b < nb; b++) {
            long p = wOffset + (long) b * BLOCK_BYTES;
            long a = actOffset + (long) b * Q8_1.BLOCK_BYTES;
            int isum = 0;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                isum += Q5_0.quant(w, p, OFF_QH, OFF_QS, j) * i8(act, a + Q8_1.OFF_QS + j);
            }
            sum += (double) f16(w, p + OFF_D) * f16(act, a + Q8_1.OFF_D) * isum
                    + (double) f16(w, p + OFF_M) * f16(act, a + Q8_1.OFF_S);
        }
        return sum;
    }
}
