package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.u8;

import java.lang.foreign.MemorySegment;

/**
 * Q5_K ({@code block_q5_K}): as {@link Q4_K} with 5-bit quants; bit 4 of element l of sub-block s
 * is bit s of {@code qh[l]}. vec_dot with Q8_K.
 */
public final class Q5_K implements QuantFormat {
    public static final Q5_K INSTANCE = new Q5_K();

    public static final int BLOCK_SIZE = 256;
    public static final int BLOCK_BYTES = 176;
    /** fp16 super-block scale of the scales. */
    public static final int OFF_D = 0;
    /** fp16 super-block scale of the mins. */
    public static final int OFF_DMIN = 2;
    /** 12 bytes of packed 6-bit scales and mins (as Q4_K). */
    public static final int OFF_SCALES = 4;
    /** 32 bytes of fifth bits. */
    public static final int OFF_QH = 16;
    /** 128 bytes of low 4 bits (as Q4_K). */
    public static final int OFF_QS = 48;

    private Q5_K() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q5_K;
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
            int sub = e / 32;
            int q = u8(s, p + OFF_QS + 32 * (e / 64) + (e % 32));
            int lo = (sub % 2 == 0) ? q & 0xF : q >> 4;
            int hi = (u8(s, p + OFF_QH + (e % 32)) >> sub) & 1;
            out.q[e] = lo + 16 * hi;
        }
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        KQuants.dequantize(type(), Q5_K::decode, new KQuants.Decoded(32, true), src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        return KQuants.dot(type(), Q5_K::decode, new KQuants.Decoded(32, true), w, wOffset, act, actOffset, n);
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /** {@code quantize_row_q5_K_ref}: as Q4_K's with nmax 31 and the search {@code -0.5 + 0.1·i, i ≤ 15}. */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Q4_K.quantizeK(type(), 31, -0.5f, 0.1f, 15, src, srcOffset, n, dst, dstOffset);
    }

    /** Packs 256 5-bit levels into qs/qh of the block at p, as ggml. */
    static void packQuants(byte[] L, MemorySegment dst, long p) {
        int[] qh = new int[32];
        int m1 = 1, m2 = 2;
        for (int n = 0; n < BLOCK_SIZE; n += 64) {
            for (int j = 0; j < 32; j++) {
                int l1 = L[n + j];
                if (l1 > 15) {
                    l1 -= 16;
                    qh[j] |= m1;
                }
                int l2 = L[n + j + 32];
                if (l2 > 15) {
                    l2 -= 16;
                    qh[j] |= m2;
                }
                put8(dst, p + OFF_QS + n / 2 + j, l1 | (l2 << 4));
            }
            m1 <<= 2;
            m2 <<= 2;
        }
        for (int j = 0; j < 32; j++) {
            put8(dst, p + OFF_QH + j, qh[j]);
        }
    }
}
