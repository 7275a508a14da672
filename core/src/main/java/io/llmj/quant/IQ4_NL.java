package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.i8;
import static io.llmj.quant.Bytes.put16;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;
import static io.llmj.quant.Bytes.u8;
import static io.llmj.quant.QuantMath.nearestInt;

import java.lang.foreign.MemorySegment;

/**
 * IQ4_NL ({@code block_iq4_nl}): 32 elements as 4-bit indices into the non-linear table
 * {@link #KVALUES} with one fp16 scale; {@code x = d · KVALUES[nibble]}. Nibble layout as Q4_0.
 * vec_dot with Q8_0.
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

    @Override
    public boolean canQuantize() {
        return true;
    }

    /**
     * {@code quantize_iq4_nl} without an importance matrix (what {@code ggml_quantize_chunk} calls):
     * {@code quantize_row_iq4_nl_impl(32, 32, ..., ntry = 7)} per block, weights x².
     */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type(), dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            long p = dstOffset + (long) b * BLOCK_BYTES;
            quantizeImpl(BLOCK_SIZE, src, srcOffset + b * BLOCK_SIZE, dst, p + OFF_D, p + OFF_QS, -1, -1, 7);
        }
    }

    /**
     * ggml's {@code best_index_int8} (the version at c392e50): the index of the table value nearest
     * to x, ties to the upper one, comparing {@code x - val[i-1] < val[i] - x} in float.
     */
    static int bestIndex(float x) {
        int[] val = KVALUES;
        int n = val.length;
        if (x <= val[0]) {
            return 0;
        }
        if (x >= val[n - 1]) {
            return n - 1;
        }
        int ml = 0, mu = n - 1;
        while (mu - ml > 1) {
            int mav = (ml + mu) / 2;
            if (x < val[mav]) {
                mu = mav;
            } else {
                ml = mav;
            }
        }
        return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
    }

    /**
     * {@code quantize_row_iq4_nl_impl} without importance weights, for one super-block of
     * {@code superBlockSize} (32 for IQ4_NL, 256 for IQ4_XS) in sub-blocks of 32. Writes the fp16
     * scale at {@code dOff}, the packed indices at {@code qsOff} and, for IQ4_XS, the 6-bit
     * sub-block scales at {@code scalesHOff}/{@code scalesLOff}.
     */
    static void quantizeImpl(int superBlockSize, float[] src, int x, MemorySegment dst, long dOff, long qsOff,
            long scalesHOff, long scalesLOff, int ntry) {
        final int blockSize = 32;
        int nsub = superBlockSize / blockSize;
        float[] scales = new float[nsub];
        float[] weight = new float[blockSize];
        byte[] L = new byte[superBlockSize];
        float maxScale = 0, amaxScale = 0;
        for (int ib = 0; ib < nsub; ib++) {
            int xb = x + ib * blockSize;
            for (int j = 0; j < blockSize; j++) {
                weight[j] = src[xb + j] * src[xb + j];
            }
            float amax = 0, max = 0;
            for (int j = 0; j < blockSize; j++) {
                float ax = Math.abs(src[xb + j]);
                if (ax > amax) {
                    amax = ax;
                    max = src[xb + j];
                }
            }
            if (amax < QuantMath.GROUP_MAX_EPS) {
                scales[ib] = 0;
                continue;
            }
            float d = ntry > 0 ? -max / KVALUES[0] : max / KVALUES[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < blockSize; j++) {
                float al = id * src[xb + j];
                int l = bestIndex(al);
                L[ib * blockSize + j] = (byte) l;
                float q = KVALUES[l];
                float w = weight[j];
                sumqx += w * q * src[xb + j];
                sumq2 += w * q * q;
            }
            d = sumqx / sumq2;
            float best = d * sumqx;
            for (int itry = -ntry; itry <= ntry; ++itry) {
                id = (itry + KVALUES[0]) / max;
                sumqx = sumq2 = 0;
                for (int j = 0; j < blockSize; j++) {
                    float al = id * src[xb + j];
                    float q = KVALUES[bestIndex(al)];
                    float w = weight[j];
                    sumqx += w * q * src[xb + j];
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            scales[ib] = d;
            float absD = Math.abs(d);
            if (absD > amaxScale) {
                amaxScale = absD;
                maxScale = d;
            }
        }
        if (nsub > 1) {
            int scalesH = 0;
            int[] scalesL = new int[nsub / 2];
            float d = -maxScale / 32;
            putF16(dst, dOff, d);
            float id = d != 0 ? 1 / d : 0.f;
            for (int ib = 0; ib < nsub; ib++) {
                int l = nearestInt(id * scales[ib]);
                l = Math.max(-32, Math.min(31, l));
                float dl = d * l;
                float idl = dl != 0 ? 1 / dl : 0.f;
                for (int j = 0; j < blockSize; j++) {
                    L[ib * blockSize + j] = (byte) bestIndex(idl * src[x + ib * blockSize + j]);
                }
                l += 32;
                int lLow = l & 0xF;
                int lHigh = l >> 4;
                if (ib % 2 == 0) {
                    scalesL[ib / 2] = lLow;
                } else {
                    scalesL[ib / 2] |= lLow << 4;
                }
                scalesH |= lHigh << (2 * (ib % 8));
            }
            put16(dst, scalesHOff, scalesH);
            for (int i = 0; i < scalesL.length; i++) {
                put8(dst, scalesLOff + i, scalesL[i]);
            }
        } else {
            putF16(dst, dOff, scales[0]);
            if (ntry > 0) {
                float id = scales[0] != 0 ? 1 / scales[0] : 0;
                for (int j = 0; j < superBlockSize; j++) {
                    L[j] = (byte) bestIndex(id * src[x + j]);
                }
            }
        }
        for (int i = 0; i < superBlockSize / 32; i++) {
            for (int j = 0; j < 16; j++) {
                put8(dst, qsOff + 16 * i + j, L[32 * i + j] | (L[32 * i + 16 + j] << 4));
            }
        }
    }
}
