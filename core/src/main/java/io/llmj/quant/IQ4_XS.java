package io.llmj.quant;

import static io.llmj.quant.Bytes.f16;
import static io.llmj.quant.Bytes.i16;
import static io.llmj.quant.Bytes.u8;

import java.lang.foreign.MemorySegment;

/**
 * IQ4_XS ({@code block_iq4_xs}): super-blocks of 256 elements in 8 sub-blocks of 32 with 6-bit
 * scales (stored +32: low 4 bits in nibbles of {@code scales_l}, high 2 bits in the uint16
 * {@code scales_h}), one fp16 super-scale, and 4-bit indices into {@link IQ4_NL#KVALUES} laid out
 * per sub-block as Q4_0; {@code x = (d·(ls-32))·KVALUES[q]}. vec_dot with Q8_K.
 */
public final class IQ4_XS implements QuantFormat {
    public static final IQ4_XS INSTANCE = new IQ4_XS();

    public static final int BLOCK_SIZE = 256;
    public static final int BLOCK_BYTES = 136;
    /** fp16 super-block scale. */
    public static final int OFF_D = 0;
    /** uint16: high 2 bits of each sub-block scale. */
    public static final int OFF_SCALES_H = 2;
    /** 4 bytes: low 4 bits of the sub-block scales. */
    public static final int OFF_SCALES_L = 4;
    /** 128 bytes of 4-bit indices. */
    public static final int OFF_QS = 8;

    private IQ4_XS() {}

    @Override
    public GgmlType type() {
        return GgmlType.IQ4_XS;
    }

    @Override
    public GgmlType vecDotType() {
        return GgmlType.Q8_K;
    }

    static void decode(MemorySegment s, long p, KQuants.Decoded out) {
        out.d = f16(s, p + OFF_D);
        int scalesH = i16(s, p + OFF_SCALES_H) & 0xFFFF;
        for (int ib = 0; ib < 8; ib++) {
            int ls = ((u8(s, p + OFF_SCALES_L + ib / 2) >> (4 * (ib % 2))) & 0xF) | (((scalesH >> (2 * ib)) & 3) << 4);
            out.sc[ib] = ls - 32;
        }
        for (int e = 0; e < BLOCK_SIZE; e++) {
            int q = u8(s, p + OFF_QS + 16 * (e / 32) + (e % 16));
            out.q[e] = IQ4_NL.KVALUES[(e % 32) < 16 ? q & 0xF : q >> 4];
        }
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        KQuants.dequantize(type(), IQ4_XS::decode, new KQuants.Decoded(32, false), src, srcOffset, dst, dstOffset, n);
    }

    @Override
    public double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        return KQuants.dot(type(), IQ4_XS::decode, new KQuants.Decoded(32, false), w, wOffset, act, actOffset, n);
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /**
     * {@code quantize_iq4_xs} without an importance matrix: {@code quantize_row_iq4_nl_impl(256, 32,
     * ..., ntry = 7)} per super-block, then 6-bit sub-block scales relative to -max/32.
     */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type(), dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            long p = dstOffset + (long) b * BLOCK_BYTES;
            IQ4_NL.quantizeImpl(BLOCK_SIZE, src, srcOffset + b * BLOCK_SIZE, dst, p + OFF_D, p + OFF_QS,
                    p + OFF_SCALES_H, p + OFF_SCALES_L, 7);
        }
    }
}
