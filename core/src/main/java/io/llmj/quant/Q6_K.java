package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.i8;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF16;
import static io.llmj.quant.Bytes.u8;
import static io.llmj.quant.QuantMath.nearestInt;

import java.lang.foreign.MemorySegment;

/**
 * Q6_K ({@code block_q6_K}): super-blocks of 256 elements in 16 sub-blocks of 16 with int8 scales
 * and one fp16 super-scale; {@code x = (d·sc)·(q - 32)} with 6-bit q. Per 128-element half h and
 * l &lt; 32: the four quarters take the low/high nibbles of {@code ql[64h+l]} and {@code ql[64h+l+32]},
 * and 2 bits each of {@code qh[32h+l]}. vec_dot with Q8_K.
 */
public final class Q6_K implements QuantFormat {
    public static final Q6_K INSTANCE = new Q6_K();

    public static final int BLOCK_SIZE = 256;
    public static final int BLOCK_BYTES = 210;
    /** 128 bytes: low 4 bits. */
    public static final int OFF_QL = 0;
    /** 64 bytes: high 2 bits. */
    public static final int OFF_QH = 128;
    /** 16 int8 sub-block scales. */
    public static final int OFF_SCALES = 192;
    /** fp16 super-block scale. */
    public static final int OFF_D = 208;

    private Q6_K() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q6_K;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.Q8_K;
    }

    static void decode(MemorySegment s, long p, KQuants.Decoded out) {
        out.d = f16(s, p + OFF_D);
        for (int j = 0; j < 16; j++) {
            out.sc[j] = i8(s, p + OFF_SCALES + j);
        }
        for (int e = 0; e < BLOCK_SIZE; e++) {
            int h = e / 128;
            int quarter = (e % 128) / 32;
            int l = e % 32;
            int ql = u8(s, p + OFF_QL + 64 * h + l + (quarter % 2) * 32);
            int lo = quarter < 2 ? ql & 0xF : ql >> 4;
            int hi = (u8(s, p + OFF_QH + 32 * h + l) >> (2 * quarter)) & 3;
            out.q[e] = (lo | (hi << 4)) - 32;
        }
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        KQuants.dequantize(type(), Q6_K::decode, new KQuants.Decoded(16, false), src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        return KQuants.dot(type(), Q6_K::decode, new KQuants.Decoded(16, false), w, wOffset, act, actOffset, n);
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /**
     * {@code quantize_row_q6_K_ref}: per sub-block {@code make_qx_quants(16, 32, x, L, 1, NULL)},
     * int8 scales relative to the sub-block scale of largest magnitude (-128/max), then
     * requantization with the rounded scales.
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
            float maxAbsScale = 0;
            for (int ib = 0; ib < 16; ib++) {
                float scale = QuantMath.makeQxQuants(16, 32, src, x + 16 * ib, L, 16 * ib, 1, null, 0);
                scales[ib] = scale;
                float absScale = Math.abs(scale);
                if (absScale > maxAbsScale) {
                    maxAbsScale = absScale;
                    maxScale = scale;
                }
            }
            if (maxAbsScale < QuantMath.GROUP_MAX_EPS) {
                dst.asSlice(p, BLOCK_BYTES).fill((byte) 0);
                putF16(dst, p + OFF_D, 0.f);
                continue;
            }
            float iscale = -128.f / maxScale;
            putF16(dst, p + OFF_D, 1 / iscale);
            int[] sc = new int[16];
            for (int ib = 0; ib < 16; ib++) {
                sc[ib] = (byte) Math.min(127, nearestInt(iscale * scales[ib]));
                put8(dst, p + OFF_SCALES + ib, sc[ib]);
            }
            float dAll = f16(dst, p + OFF_D);
            for (int j = 0; j < 16; j++) {
                float d = dAll * sc[j];
                if (d == 0) {
                    continue;
                }
                for (int ii = 0; ii < 16; ii++) {
                    int l = nearestInt(src[x + 16 * j + ii] / d);
                    l = Math.max(-32, Math.min(31, l));
                    L[16 * j + ii] = (byte) (l + 32);
                }
            }
            for (int j = 0; j < BLOCK_SIZE; j += 128) {
                long ql = p + OFF_QL + j / 2;
                long qh = p + OFF_QH + j / 4;
                for (int l = 0; l < 32; l++) {
                    int q1 = L[j + l] & 0xF;
                    int q2 = L[j + l + 32] & 0xF;
                    int q3 = L[j + l + 64] & 0xF;
                    int q4 = L[j + l + 96] & 0xF;
                    put8(dst, ql + l, q1 | (q3 << 4));
                    put8(dst, ql + l + 32, q2 | (q4 << 4));
                    put8(dst, qh + l, (L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4)
                            | ((L[j + l + 96] >> 4) << 6));
                }
            }
        }
    }
}
