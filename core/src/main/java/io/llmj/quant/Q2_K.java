package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;
import static io.llmj.quant.Bytes.u8;
import static io.llmj.quant.QuantMath.nearestInt;

import java.lang.foreign.MemorySegment;

/**
 * Q2_K ({@code block_q2_K}): super-blocks of 256 elements in 16 sub-blocks of 16, each with a 4-bit
 * scale (low nibble of {@code scales[s]}) and 4-bit min (high nibble), fp16 d and dmin;
 * {@code x = (d·sc)·q - (dmin·m)} with 2-bit q. Per 128-element half h, element l &lt; 32 of
 * quarter k is bits 2k..2k+1 of {@code qs[32h+l]}. vec_dot with Q8_K.
 */
public final class Q2_K implements QuantFormat {
    public static final Q2_K INSTANCE = new Q2_K();

    public static final int BLOCK_SIZE = 256;
    public static final int BLOCK_BYTES = 84;
    /** 16 bytes: scale (low nibble) and min (high nibble) per sub-block. */
    public static final int OFF_SCALES = 0;
    /** 64 bytes of 2-bit quants. */
    public static final int OFF_QS = 16;
    /** fp16 super-block scale of the scales. */
    public static final int OFF_D = 80;
    /** fp16 super-block scale of the mins. */
    public static final int OFF_DMIN = 82;

    private Q2_K() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q2_K;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.Q8_K;
    }

    static void decode(MemorySegment s, long p, KQuants.Decoded out) {
        out.d = f16(s, p + OFF_D);
        out.dmin = f16(s, p + OFF_DMIN);
        for (int j = 0; j < 16; j++) {
            int sc = u8(s, p + OFF_SCALES + j);
            out.sc[j] = sc & 0xF;
            out.mn[j] = sc >> 4;
        }
        for (int e = 0; e < BLOCK_SIZE; e++) {
            int shift = 2 * ((e % 128) / 32);
            out.q[e] = (u8(s, p + OFF_QS + 32 * (e / 128) + (e % 32)) >> shift) & 3;
        }
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        KQuants.dequantize(type(), Q2_K::decode, new KQuants.Decoded(16, true), src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        return KQuants.dot(type(), Q2_K::decode, new KQuants.Decoded(16, true), w, wOffset, act, actOffset, n);
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /**
     * {@code quantize_row_q2_K_ref}: per sub-block {@code make_qkx2_quants(16, 3, ..., -0.5, 0.1, 15,
     * use_mad)} weighted by |x|, 4-bit scales/mins relative to their maxima, then requantization.
     */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type(), dst, dstOffset, n);
        byte[] L = new byte[BLOCK_SIZE];
        byte[] laux = new byte[16];
        float[] weights = new float[16];
        float[] mins = new float[16];
        float[] scales = new float[16];
        float[] theMin = new float[1];
        int[] sc = new int[16];
        final float q4scale = 15.f;
        for (int b = 0; b < nb; b++) {
            int x = srcOffset + b * BLOCK_SIZE;
            long p = dstOffset + (long) b * BLOCK_BYTES;
            float maxScale = 0;
            float maxMin = 0;
            for (int j = 0; j < 16; j++) {
                for (int l = 0; l < 16; l++) {
                    weights[l] = Math.abs(src[x + 16 * j + l]);
                }
                scales[j] = QuantMath.makeQkx2Quants(16, 3, src, x + 16 * j, weights, L, 16 * j, theMin, laux, -0.5f,
                        0.1f, 15, true);
                mins[j] = theMin[0];
                if (scales[j] > maxScale) {
                    maxScale = scales[j];
                }
                if (mins[j] > maxMin) {
                    maxMin = mins[j];
                }
            }
            if (maxScale > 0) {
                float iscale = q4scale / maxScale;
                for (int j = 0; j < 16; j++) {
                    sc[j] = nearestInt(iscale * scales[j]) & 0xFF;
                }
                putF16(dst, p + OFF_D, maxScale / q4scale);
            } else {
                java.util.Arrays.fill(sc, 0);
                putF16(dst, p + OFF_D, 0.f);
            }
            if (maxMin > 0) {
                float iscale = q4scale / maxMin;
                for (int j = 0; j < 16; j++) {
                    sc[j] = (sc[j] | (nearestInt(iscale * mins[j]) << 4)) & 0xFF;
                }
                putF16(dst, p + OFF_DMIN, maxMin / q4scale);
            } else {
                putF16(dst, p + OFF_DMIN, 0.f);
            }
            for (int j = 0; j < 16; j++) {
                put8(dst, p + OFF_SCALES + j, sc[j]);
            }
            float dAll = f16(dst, p + OFF_D);
            float dminAll = f16(dst, p + OFF_DMIN);
            for (int j = 0; j < 16; j++) {
                float d = dAll * (sc[j] & 0xF);
                if (d == 0) {
                    continue;
                }
                float dm = dminAll * (sc[j] >> 4);
                for (int ii = 0; ii < 16; ii++) {
                    int l = nearestInt((src[x + 16 * j + ii] + dm) / d);
                    L[16 * j + ii] = (byte) Math.max(0, Math.min(3, l));
                }
            }
            packTwoBits(L, dst, p + OFF_QS);
        }
    }

    /** Packs 256 2-bit levels as Q2_K/Q3_K do: per 128-element half, element 32k+l in bits 2k of byte l. */
    static void packTwoBits(byte[] L, MemorySegment dst, long qs) {
        for (int j = 0; j < BLOCK_SIZE; j += 128) {
            for (int l = 0; l < 32; l++) {
                put8(dst, qs + j / 4 + l,
                        L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
            }
        }
    }
}
