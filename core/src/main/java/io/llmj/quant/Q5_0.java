package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.i32;
import static io.llmj.quant.Bytes.i8;
import static io.llmj.quant.Bytes.put32;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;
import static io.llmj.quant.Bytes.u8;

import java.lang.foreign.MemorySegment;

/**
 * Q5_0 ({@code block_q5_0}): 32 elements as 5-bit quants with one fp16 scale;
 * {@code x = (q - 16) · d}. The low 4 bits are nibbles as in Q4_0; bit 4 of element j is bit j of
 * the little-endian uint32 qh. vec_dot with Q8_0.
 */
public final class Q5_0 implements QuantFormat {
    public static final Q5_0 INSTANCE = new Q5_0();

    public static final int BLOCK_SIZE = 32;
    public static final int BLOCK_BYTES = 22;
    /** fp16 scale d. */
    public static final int OFF_D = 0;
    /** uint32 (little-endian) of fifth bits. */
    public static final int OFF_QH = 2;
    /** 16 bytes of low-nibble pairs. */
    public static final int OFF_QS = 6;

    private Q5_0() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q5_0;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.Q8_0;
    }

    /** The 5-bit quant (0..31) of element j of the block at p. */
    static int quant(MemorySegment s, long p, long offQh, long offQs, int j) {
        int qh = i32(s, p + offQh);
        int q = u8(s, p + offQs + (j & 15));
        int lo = j < 16 ? q & 0x0F : q >> 4;
        return lo | (((qh >>> j) & 1) << 4);
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
                dst[y + j] = (quant(src, p, OFF_QH, OFF_QS, j) - 16) * d;
            }
        }
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /** {@code quantize_row_q5_0_ref}: d = (signed value of largest |x|) / -16, quants truncated from x/d + 16.5. */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type(), dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            int x = srcOffset + b * BLOCK_SIZE;
            long p = dstOffset + (long) b * BLOCK_BYTES;
            float amax = 0.0f;
            float max = 0.0f;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                float v = src[x + j];
                if (amax < Math.abs(v)) {
                    amax = Math.abs(v);
                    max = v;
                }
            }
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            putF16(dst, p + OFF_D, d);
            int qh = 0;
            for (int j = 0; j < BLOCK_SIZE / 2; j++) {
                float x0 = src[x + j] * id;
                float x1 = src[x + BLOCK_SIZE / 2 + j] * id;
                int xi0 = Math.min(31, (byte) (int) (x0 + 16.5f)) & 0xFF;
                int xi1 = Math.min(31, (byte) (int) (x1 + 16.5f)) & 0xFF;
                put8(dst, p + OFF_QS + j, (xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
                qh |= ((xi0 & 0x10) >> 4) << j;
                qh |= ((xi1 & 0x10) >> 4) << (j + BLOCK_SIZE / 2);
            }
            put32(dst, p + OFF_QH, qh);
        }
    }

    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        int nb = Bytes.checkDot(type(), w, wOffset, GgmlType.Q8_0, act, actOffset, n);
        double sum = 0;
        for (int b = 0; b < nb; b++) {
            long p = wOffset + (long) b * BLOCK_BYTES;
            long a = actOffset + (long) b * Q8_0.BLOCK_BYTES;
            int isum = 0;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                isum += (quant(w, p, OFF_QH, OFF_QS, j) - 16) * i8(act, a + Q8_0.OFF_QS + j);
            }
            sum += (double) f16(w, p + OFF_D) * f16(act, a + Q8_0.OFF_D) * isum;
        }
        return sum;
    }
}
