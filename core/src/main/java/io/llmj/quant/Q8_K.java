package io.llmj.quant;

import static io.llmj.quant.Bytes.f32;
import static io.llmj.quant.Bytes.i16;
import static io.llmj.quant.Bytes.i8;
import static io.llmj.quant.Bytes.put16;
import static io.llmj.quant.Bytes.put8;
import static io.llmj.quant.Bytes.putF32;

import java.lang.foreign.MemorySegment;

/**
 * Q8_K ({@code block_q8_K}, 292 bytes): 256 int8 quants with a float32 scale and 16 int16 sums of
 * 16 quants each ({@code bsums}); {@code x = q · d}. Only an activation format: the vec_dot type of
 * the K-quants and IQ4_XS. x86 has no SIMD converter, so the CPU backend uses the reference.
 */
public final class Q8_K implements QuantFormat {
    public static final Q8_K INSTANCE = new Q8_K();

    public static final int BLOCK_SIZE = 256;
    public static final int BLOCK_BYTES = 292;
    /** float32 scale d. */
    public static final int OFF_D = 0;
    /** 256 int8 quants. */
    public static final int OFF_QS = 4;
    /** 16 int16 sums of quants 16j..16j+15. */
    public static final int OFF_BSUMS = 260;

    private Q8_K() {}

    @Override
    public GgmlType type() {
        return GgmlType.Q8_K;
    }

    /** Null: Q8_K is an activation format without a vec_dot of its own. */
    @Override
    public GgmlType vecDotType() {
        return null;
    }

    @Override
    public void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n) {
        int nb = Bytes.checkBlocks(type(), "source", src, srcOffset, n);
        Bytes.checkArray(type(), "destination", dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            long p = srcOffset + (long) b * BLOCK_BYTES;
            float d = f32(src, p + OFF_D);
            int y = dstOffset + b * BLOCK_SIZE;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                dst[y + j] = d * i8(src, p + OFF_QS + j);
            }
        }
    }

    @Override
    public boolean canQuantize() {
        return true;
    }

    /**
     * {@code quantize_row_q8_K_ref}: max = signed value of largest |x| (first occurrence),
     * iscale = -127/max, q = MIN(127, nearest_int(iscale·x)), d = 1/iscale. An all-zero block gets
     * d = 0 and zero quants (llmj also zeroes bsums, which ggml leaves unwritten).
     */
    @Override
    public void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        Bytes.checkArray(type(), "source", src, srcOffset, n);
        int nb = Bytes.checkDst(type(), dst, dstOffset, n);
        for (int b = 0; b < nb; b++) {
            int x = srcOffset + b * BLOCK_SIZE;
            long p = dstOffset + (long) b * BLOCK_BYTES;
            float max = 0;
            float amax = 0;
            for (int j = 0; j < BLOCK_SIZE; j++) {
                float ax = Math.abs(src[x + j]);
                if (ax > amax) {
                    amax = ax;
                    max = src[x + j];
                }
            }
            if (amax == 0) {
                dst.asSlice(p, BLOCK_BYTES).fill((byte) 0);
                continue;
            }
            float iscale = -127.f / max;
            int[] q = new int[BLOCK_SIZE];
            for (int j = 0; j < BLOCK_SIZE; j++) {
                q[j] = Math.min(127, QuantMath.nearestInt(iscale * src[x + j]));
                put8(dst, p + OFF_QS + j, q[j]);
            }
            for (int j = 0; j < BLOCK_SIZE / 16; j++) {
                int sum = 0;
                for (int ii = 0; ii < 16; ii++) {
                    sum += (byte) q[j * 16 + ii];
                }
                put16(dst, p + OFF_BSUMS + 2L * j, sum);
            }
            putF32(dst, p + OFF_D, 1 / iscale);
        }
    }

    static float d(MemorySegment act, long block) {
        return f32(act, block + OFF_D);
    }

    static int q(MemorySegment act, long block, int j) {
        return i8(act, block + OFF_QS + j);
    }

    static int bsum(MemorySegment act, long block, int j) {
        return i16(act, block + OFF_BSUMS + 2L * j);
    }
}
