package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;
import static io.llmj.quant.Bytes.u8;
import static io.llmj.quant.QuantMath.nearestInt;

import java.lang.foreign.MemorySegment;

/**
 * Q4_K ({@code block_q4_K}): super-blocks of 256 elements in 8 sub-blocks of 32, each with a 6-bit
 * scale and 6-bit min (packed in 12 bytes, see {@code get_scale_min_k4}), fp16 super-scales d and
 * dmin; {@code x = (d·sc)·q - (dmin·m)} with 4-bit q. In each 64-element chunk c, element l of
 * sub-block 2c is the low nibble of {@code qs[32c+l]}, element l of sub-block 2c+1 its high nibble.
 * vec_dot with Q8_K.
 */
public final class Q4_K implements QuantFormat {
    public static final Q4_K INSTANCE = new Q4_K();

    public static final int BLOCK_SIZE = 256;
    public static final int BLOCK_BYTES = 144;
    /** fp16 super-block scale of the scales. */
    public static final int OFF_D = 0;
    /** fp16 super-block scale of the mins. */
    public static final int OFF_DMIN = 2;
    /** 12 bytes of packed 6-bit scales and mins. */
    public static final int OFF_SCALES = 4;
    /** 128 bytes of 4-bit quants. */
    public static final int OFF_QS = 16;

    private Q4_K() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q4_K;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.Q8_K;
    }

    static void decode(MemorySegment s, long p, KQuants.Decoded out) {
        out.d = f16(s, p + OFF_D);
        out.dmin = f16(s, p + OFF_DMIN);
        int[] scales = KQuants.readBytes(s, p + OFF_SCALES, 12);
        for (int j = 0; j < 8; j++) {
            int sm = QuantMath.scaleMinK4(j, scales);
            out.sc[j] = sm & 0xFF;
            out.mn[j] = sm >> 8;
        }
        for (int e = 0; e < BLOCK_SIZE; e++) {
            int q = u8(s, p + OFF_QS + 32 * (e / 64) + (e % 32));
            out.q[e] = ((e / 32) % 2 == 0) ? q & 0xF : q >> 4;
        }
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        KQuants.dequantize(type(), Q4_K::decode, new KQuants.Decoded(32, true), src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        return KQuants.dot(type(), Q4_K::decode, new KQuants.Decoded(32, true), w, wOffset, act, actOffset, n);
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /**
     * {@code quantize_row_q4_K_ref}: per sub-block {@code make_qkx2_quants(32, 15, ..., -1, 0.1, 20)}
     * with weights {@code sqrt(mean x²) + |x|}, 6-bit scales/mins relative to their maxima, then
     * requantization with the rounded scales.
     */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        quantizeK(type(), 15, -1.f, 0.1f, 20, src, srcOffset, n, dst, dstOffset);
    }

    /** The Q4_K/Q5_K reference quantizer (they differ in nmax, the search grid and the bit packing). */
    static void quantizeK(GgmlType type, int nmax, float rmin, float rdelta, int nstep, float[] src, int srcOffset, int n,
            MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type, "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type, dst, dstOffset, n);
        byte[] L = new byte[BLOCK_SIZE];
        byte[] laux = new byte[32];
        float[] weights = new float[32];
        float[] mins = new float[8];
        float[] scales = new float[8];
        float[] theMin = new float[1];
        int[] ls = new int[8];
        int[] lm = new int[8];
        for (int b = 0; b < nb; b++) {
            int x = srcOffset + b * BLOCK_SIZE;
            long p = dstOffset + (long) b * type.blockBytes();
            float maxScale = 0;
            float maxMin = 0;
            for (int j = 0; j < 8; j++) {
                float sumX2 = 0;
                for (int l = 0; l < 32; l++) {
                    sumX2 += src[x + 32 * j + l] * src[x + 32 * j + l];
                }
                float avX = QuantMath.sqrtf(sumX2 / 32);
                for (int l = 0; l < 32; l++) {
                    weights[l] = avX + Math.abs(src[x + 32 * j + l]);
                }
                scales[j] = QuantMath.makeQkx2Quants(32, nmax, src, x + 32 * j, weights, L, 32 * j, theMin, laux, rmin,
                        rdelta, nstep, false);
                mins[j] = theMin[0];
                if (scales[j] > maxScale) {
                    maxScale = scales[j];
                }
                if (mins[j] > maxMin) {
                    maxMin = mins[j];
                }
            }
            float invScale = maxScale > 0 ? 63.f / maxScale : 0.f;
            float invMin = maxMin > 0 ? 63.f / maxMin : 0.f;
            for (int j = 0; j < 8; j++) {
                // uint8_t ls = nearest_int(...); ls = MIN(63, ls): the byte truncation comes first
                ls[j] = Math.min(63, nearestInt(invScale * scales[j]) & 0xFF);
                lm[j] = Math.min(63, nearestInt(invMin * mins[j]) & 0xFF);
            }
            KQuants.packScalesMins(ls, lm, dst, p + OFF_SCALES);
            putF16(dst, p + OFF_D, maxScale / 63.f);
            putF16(dst, p + OFF_DMIN, maxMin / 63.f);

            int[] packed = KQuants.readBytes(dst, p + OFF_SCALES, 12);
            float dAll = f16(dst, p + OFF_D);
            float dminAll = f16(dst, p + OFF_DMIN);
            for (int j = 0; j < 8; j++) {
                int sm = QuantMath.scaleMinK4(j, packed);
                float d = dAll * (sm & 0xFF);
                if (d == 0) {
                    continue;
                }
                float dm = dminAll * (sm >> 8);
                for (int ii = 0; ii < 32; ii++) {
                    int l = nearestInt((src[x + 32 * j + ii] + dm) / d);
                    L[32 * j + ii] = (byte) Math.max(0, Math.min(nmax, l));
                }
            }
            if (type == GgmlType.Q4_K) {
                for (int j = 0; j < BLOCK_SIZE; j += 64) {
                    for (int l = 0; l < 32; l++) {
                        put8(dst, p + OFF_QS + j / 2 + l, L[j + l] | (L[j + l + 32] << 4));
                    }
                }
            } else {
                Q5_K.packQuants(L, dst, p);
            }
        }
    }
}
