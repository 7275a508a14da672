package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;
import static io.llmj.quant.Bytes.u8;
import static io.llmj.quant.QuantMath.nearestInt;

import java.lang.foreign.MemorySegment;

/**
 * Q3_K ({@code block_q3_K}): super-blocks of 256 elements in 16 sub-blocks of 16 with 6-bit scales
 * (stored +32; low 4 bits in nibbles of {@code scales[0..7]}, high 2 bits in {@code scales[8..11]})
 * and one fp16 super-scale; {@code x = (d·(sc-32))·q} with q = 2 low bits (as Q2_K) minus 4 unless
 * the element's bit in {@code hmask} is set (bit 4h+k of {@code hmask[l]} for half h, quarter k).
 * vec_dot with Q8_K.
 */
public final class Q3_K implements QuantFormat {
    public static final Q3_K INSTANCE = new Q3_K();

    public static final int BLOCK_SIZE = 256;
    public static final int BLOCK_BYTES = 110;
    /** 32 bytes: high bit masks. */
    public static final int OFF_HMASK = 0;
    /** 64 bytes of 2-bit quants. */
    public static final int OFF_QS = 32;
    /** 12 bytes of packed 6-bit scales. */
    public static final int OFF_SCALES = 96;
    /** fp16 super-block scale. */
    public static final int OFF_D = 108;

    private Q3_K() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q3_K;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.Q8_K;
    }

    static void decode(MemorySegment s, long p, KQuants.Decoded out) {
        out.d = f16(s, p + OFF_D);
        int[] sc = KQuants.readBytes(s, p + OFF_SCALES, 12);
        for (int j = 0; j < 16; j++) {
            int lo = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
            int hi = (sc[8 + j % 4] >> (2 * (j / 4))) & 3;
            out.sc[j] = (lo | (hi << 4)) - 32;
        }
        for (int e = 0; e < BLOCK_SIZE; e++) {
            int h = e / 128;
            int k = (e % 128) / 32;
            int l = e % 32;
            int q = (u8(s, p + OFF_QS + 32 * h + l) >> (2 * k)) & 3;
            boolean high = ((u8(s, p + OFF_HMASK + l) >> (4 * h + k)) & 1) != 0;
            out.q[e] = q - (high ? 0 : 4);
        }
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        KQuants.dequantize(type(), Q3_K::decode, new KQuants.Decoded(16, false), src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        return KQuants.dot(type(), Q3_K::decode, new KQuants.Decoded(16, false), w, wOffset, act, actOffset, n);
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /**
     * {@code quantize_row_q3_K_ref}: per sub-block {@code make_q3_quants(16, 4, ..., true)}, 6-bit
     * scales relative to the sub-block scale of largest magnitude (-32/max), then requantization.
     */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type(), dst, dstOffset, n);
        byte[] L = new byte[BLOCK_SIZE];
        float[] scales = new float[16];
        for (int b = 0; b < nb; b++) {
            int x = srcOffset + b * BLOCK_SIZE;
            long p = dstOffset + (long) b * BLOCK_BYTES;
            float maxScale = 0;
            float amax = 0;
            for (int j = 0; j < 16; j++) {
                scales[j] = QuantMath.makeQ3Quants(16, 4, src, x + 16 * j, L, 16 * j, true);
                float scale = Math.abs(scales[j]);
                if (scale > amax) {
                    amax = scale;
                    maxScale = scales[j];
                }
            }
            int[] sc = new int[12];
            if (maxScale != 0) {
                float iscale = -32.f / maxScale;
                for (int j = 0; j < 16; j++) {
                    int l = (byte) nearestInt(iscale * scales[j]); // int8_t l = nearest_int(...)
                    l = Math.max(-32, Math.min(31, l)) + 32;
                    if (j < 8) {
                        sc[j] = l & 0xF;
                    } else {
                        sc[j - 8] |= (l & 0xF) << 4;
                    }
                    l >>= 4;
                    sc[j % 4 + 8] |= l << (2 * (j / 4));
                }
                putF16(dst, p + OFF_D, 1 / iscale);
            } else {
                putF16(dst, p + OFF_D, 0.f);
            }
            for (int j = 0; j < 12; j++) {
                put8(dst, p + OFF_SCALES + j, sc[j]);
            }
            float dAll = f16(dst, p + OFF_D);
            for (int j = 0; j < 16; j++) {
                int lo = j < 8 ? sc[j] & 0xF : (sc[j - 8] & 0xFF) >> 4;
                int s6 = (lo | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
                float d = dAll * s6;
                if (d == 0) {
                    continue;
                }
                for (int ii = 0; ii < 16; ii++) {
                    int l = nearestInt(src[x + 16 * j + ii] / d);
                    l = Math.max(-4, Math.min(3, l));
                    L[16 * j + ii] = (byte) (l + 4);
                }
            }
            int[] hmask = new int[32];
            int m = 0;
            int hm = 1;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                if (L[j] > 3) {
                    hmask[m] |= hm;
                    L[j] -= 4;
                }
                if (++m == 32) {
                    m = 0;
                    hm <<= 1;
                }
            }
            for (int j = 0; j < 32; j++) {
                put8(dst, p + OFF_HMASK + j, hmask[j]);
            }
            Q2_K.packTwoBits(L, dst, p + OFF_QS);
        }
    }
}
