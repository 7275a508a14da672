package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.u8;

import java.lang.foreign.MemorySegment;

/**
 * Q2_K ({@code block_q2_K}): super-blocks of 256 elements in 16 sub-blocks of 16, each with a 4-bit
 * scale (low nibble of {@code scales[s]}) and 4-bit min (high nibble), fp16 d and dmin;
 * {@code x = (d·sc)·q - (dmin·m)} with 2-bit q. Per 128-element half h, element l &lt; 32 of
 * quarter k is bits 2k..2k+1 of {@code qs[32h+l]}. vec_dot with Q8_K. Dequantization only.
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
}
