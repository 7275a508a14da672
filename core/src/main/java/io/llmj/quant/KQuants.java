package io.llmj.quant;

import java.lang.foreign.MemorySegment;

/**
 * Shared code of the 256-element super-block formats (K-quants, IQ4_XS). Each format decodes a
 * super-block into integer quants {@code q[256]}, one integer scale per sub-block and, for formats
 * with mins, one integer min per sub-block; then ggml's dequantization is
 * {@code y = (d·sc)·q - (dmin·m)} in float32 (or {@code (d·sc)·q} without mins), and the vec_dot
 * with Q8_K is {@code d_a·(d·Σ_s sc_s·Σ q·q_a - dmin·Σ_s m_s·bsum_s)}.
 */
final class KQuants {
    private KQuants() {}

    static final int QK_K = 256;

    /** A decoded super-block: quants, per-sub-block scales and mins (mins null if the format has none). */
    static final class Decoded {
        final int[] q = new int[QK_K];
        final int[] sc;
        final int[] mn;
        final int sub;
        float d;
        float dmin;

        Decoded(int sub, boolean hasMins) {
            this.sub = sub;
            this.sc = new int[QK_K / sub];
            this.mn = hasMins ? new int[QK_K / sub] : null;
        }

        /** ggml's float32 dequantization of this super-block into dst[y..y+256). */
        void dequantize(float[] dst, int y) {
            for (int s = 0; s < sc.length; s++) {
                float dl = d * sc[s];
                if (mn != null) {
                    float ml = dmin * mn[s];
                    for (int e = s * sub; e < (s + 1) * sub; e++) {
                        dst[y + e] = dl * q[e] - ml;
                    }
                } else {
                    for (int e = s * sub; e < (s + 1) * sub; e++) {
                        dst[y + e] = dl * q[e];
                    }
                }
            }
        }

        /** The vec_dot of this super-block with the Q8_K block at {@code act + a}, in double. */
        double dot(MemorySegment act, long a) {
            long isc = 0;
            for (int s = 0; s < sc.length; s++) {
                int isum = 0;
                for (int e = s * sub; e < (s + 1) * sub; e++) {
                    isum += q[e] * Q8_K.q(act, a, e);
                }
                isc += (long) sc[s] * isum;
            }
            double r = (double) d * isc;
            if (mn != null) {
                long imn = 0;
                for (int s = 0; s < sc.length; s++) {
                    int bs = 0;
                    for (int k = s * sub / 16; k < (s + 1) * sub / 16; k++) {
                        bs += Q8_K.bsum(act, a, k);
                    }
                    imn += (long) mn[s] * bs;
                }
                r -= (double) dmin * imn;
            }
            return Q8_K.d(act, a) * r;
        }
    }

    /** Decodes one super-block at byte p of s into the holder. */
    interface Decoder {
        void decode(MemorySegment s, long p, Decoded out);
    }

    static void dequantize(GgmlType type, Decoder dec, Decoded buf, MemorySegment src, long srcOffset, float[] dst,
            int dstOffset, int n) {
        int nb = Bytes.checkBlocks(type, "source", src, srcOffset, n);
        Bytes.checkArray(type, "destination", dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            dec.decode(src, srcOffset + (long) b * type.blockBytes(), buf);
            buf.dequantize(dst, dstOffset + b * QK_K);
        }
    }

    static double dot(GgmlType type, Decoder dec, Decoded buf, MemorySegment w, long wOffset, MemorySegment act,
            long actOffset, int n) {
        int nb = Bytes.checkDot(type, w, wOffset, GgmlType.Q8_K, act, actOffset, n);
        double sum = 0;
        for (int b = 0; b < nb; b++) {
            dec.decode(w, wOffset + (long) b * type.blockBytes(), buf);
            sum += buf.dot(act, actOffset + (long) b * Q8_K.BLOCK_BYTES);
        }
        return sum;
    }

    /** Packs 6-bit scales and mins of 8 sub-blocks into Q4_K/Q5_K's 12 bytes, as ggml. */
    static void packScalesMins(int[] ls, int[] lm, MemorySegment dst, long off) {
        int[] s = new int[12];
        for (int j = 0; j < 8; j++) {
            if (j < 4) {
                s[j] = ls[j];
                s[j + 4] = lm[j];
            } else {
                s[j + 4] = (ls[j] & 0xF) | ((lm[j] & 0xF) << 4);
                s[j - 4] |= (ls[j] >> 4) << 6;
                s[j] |= (lm[j] >> 4) << 6;
            }
        }
        for (int j = 0; j < 12; j++) {
            Bytes.put8(dst, off + j, s[j]);
        }
    }

    static int[] readBytes(MemorySegment s, long off, int len) {
        int[] r = new int[len];
        for (int i = 0; i < len; i++) {
            r[i] = Bytes.u8(s, off + i);
        }
        return r;
    }
}
