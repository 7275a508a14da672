package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.i8;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;
import static io.llmj.quant.Bytes.u8;

import java.lang.foreign.MemorySegment;

/**
 * Q4_0 ({@code block_q4_0}): 32 elements as 4-bit quants with one fp16 scale;
 * {@code x = (nibble - 8) · d}. Element j of a block sits in the low nibble of byte j,
 * element j+16 in its high nibble. vec_dot with Q8_0.
 */
public final class Q4_0 implements QuantFormat {
    public static final Q4_0 INSTANCE = new Q4_0();

    public static final int BLOCK_SIZE = 32;
    public static final int BLOCK_BYTES = 18;
    /** fp16 scale d. */
    public static final int OFF_D = 0;
    /** 16 bytes of nibble pairs. */
    public static final int OFF_QS = 2;

    private Q4_0() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q4_0;
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
            for (int j = 0; j < BLOCK_SIZE / 2; j++) {
                int q = u8(src, p + OFF_QS + j);
                dst[y + j] = ((q & 0x0F) - 8) * d;
                dst[y + j + BLOCK_SIZE / 2] = ((q >> 4) - 8) * d;
            }
        }
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /** {@code quantize_row_q4_0_ref}: d = (signed value of largest |x|) / -8, quants truncated from x/d + 8.5. */
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
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            putF16(dst, p + OFF_D, d);
            for (int j = 0; j < BLOCK_SIZE / 2; j++) {
                float x0 = src[x + j] * id;
                float x1 = src[x + BLOCK_SIZE / 2 + j] * id;
                // (int8_t)(x + 8.5f) truncates toward zero; MIN(15, ·) then stored as uint8
                int xi0 = Math.min(15, (byte) (int) (x0 + 8.5f)) & 0xFF;
                int xi1 = Math.min(15, (byte) (int) (x1 + 8.5f)) & 0xFF;
                put8(dst, p + OFF_QS + j, xi0 | (xi1 << 4));
            }
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
            for (int j = 0; j < BLOCK_SIZE / 2; j++) {
                int q = u8(w, p + OFF_QS + j);
                isum += ((q & 0x0F) - 8) * i8(act, a + Q8_0.OFF_QS + j);
                isum += ((q >> 4) - 8) * i8(act, a + Q8_0.OFF_QS + j + BLOCK_SIZE / 2);
            }
            sum += (double) f16(w, p + OFF_D) * f16(act, a + Q8_0.OFF_D) * isum;
        }
        return sum;
    }
}
