package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.i8;
import static io.llmj.quant.Bytes.u8;

import java.lang.foreign.MemorySegment;

/**
 * IQ4_NL ({@code block_iq4_nl}): 32 elements as 4-bit indices into the non-linear table
 * {@link #KVALUES} with one fp16 scale; {@code x = d · KVALUES[nibble]}. Nibble layout as Q4_0.
 * vec_dot with Q8_0. Dequantization only.
 */
public final class IQ4_NL implements QuantFormat {
    public static final IQ4_NL INSTANCE = new IQ4_NL();

    public static final int BLOCK_SIZE = 32;
    public static final int BLOCK_BYTES = 18;
    /** fp16 scale d. */
    public static final int OFF_D = 0;
    /** 16 bytes of index pairs. */
    public static final int OFF_QS = 2;

    /** ggml's {@code kvalues_iq4nl}. */
    static final int[] KVALUES = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

    private IQ4_NL() {}

    @Override
    public GgmlType type() {
        return GgmlType.IQ4_NL;
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
                dst[y + j] = d * KVALUES[q & 0xF];
                dst[y + j + BLOCK_SIZE / 2] = d * KVALUES[q >> 4];
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
                isum += KVALUES[q & 0xF] * i8(act, a + Q8_0.OFF_QS + j);
                isum += KVALUES[q >> 4] * i8(act, a + Q8_0.OFF_QS + j + BLOCK_SIZE / 2);
            }
            sum += (double) f16(w, p + OFF_D) * f16(act, a + Q8_0.OFF_D) * isum;
        }
        return sum;
    }
}
