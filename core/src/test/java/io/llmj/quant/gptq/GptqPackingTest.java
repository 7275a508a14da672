package io.llmj.quant.gptq;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The GPTQ bit layout spelled out on small hand-worked examples, then round trips. */
class GptqPackingTest {

    @Test
    void qweightPacksAlongTheInputDimension() {
        // 4 bits, K = 8 input features, N = 2 output features: one int32 per column, row j in bits [4j, 4j+4)
        // column 0 holds rows 0..7 = 1,2,...,8  -> nibbles from the low end: 0x8765_4321
        // column 1 holds 15,0,15,0,...           -> 0x0F0F_0F0F
        int[] q = {
            1, 15,
            2, 0,
            3, 15,
            4, 0,
            5, 15,
            6, 0,
            7, 15,
            8, 0};
        int[] qweight = GptqPacking.packQweight(q, 8, 2, 4);
        assertArrayEquals(new int[] {0x87654321, 0x0F0F0F0F}, qweight);
        assertArrayEquals(q, GptqPacking.unpackQweight(qweight, 8, 2, 4));

        // 8 bits: 4 values per word, K = 4, N = 1: rows 0x11, 0x22, 0x33, 0x44 -> 0x4433_2211
        assertArrayEquals(new int[] {0x44332211}, GptqPacking.packQweight(new int[] {0x11, 0x22, 0x33, 0x44}, 4, 1, 8));
        // 2 bits: 16 values per word, rows 0..15 = 0,1,2,3,0,1,2,3,... -> each byte 0b11_10_01_00 = 0xE4
        int[] q2 = new int[16];
        for (int i = 0; i < 16; i++) {
            q2[i] = i % 4;
        }
        assertArrayEquals(new int[] {0xE4E4E4E4}, GptqPacking.packQweight(q2, 16, 1, 2));
    }

    @Test
    void qzerosPackAlongTheOutputDimensionMinusOne() {
        // 4 bits, 1 group, N = 8: zero points 1..7 and 16 are stored as 0..6 and 15 -> 0xF654_3210
        int[] z = {1, 2, 3, 4, 5, 6, 7, 16};
        int[] qzeros = GptqPacking.packQzeros(z, 1, 8, 4);
        assertArrayEquals(new int[] {0xF6543210}, qzeros);
        assertArrayEquals(z, GptqPacking.unpackQzeros(qzeros, 1, 8, 4));
        // symmetric checkpoints: z = 2^(bits-1), stored 2^(bits-1) - 1 in every field
        assertArrayEquals(new int[] {0x77777777, 0x77777777},
                GptqPacking.packQzeros(new int[] {8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8}, 2, 8, 4));
        assertArrayEquals(new int[] {0x7F7F7F7F}, GptqPacking.packQzeros(new int[] {128, 128, 128, 128}, 1, 4, 8));
        // a stored 0xFF (8 bits) is zero point 256
        assertArrayEquals(new int[] {256, 1, 1, 1}, GptqPacking.unpackQzeros(new int[] {0x000000FF}, 1, 4, 8));
        // zero point 0 has no encoding in this format
        assertThrows(IllegalArgumentException.class, () -> GptqPacking.packQzeros(new int[] {0, 1, 1, 1, 1, 1, 1, 1}, 1, 8, 4));
    }

    @Test
    void dequantizeUsesTheGroupOfEachInputRow() {
        // 4 bits, K = 8, N = 8 (qzeros pack 8 output columns per word), group_size 4 with act-order:
        // g_idx is a permutation of 0,0,0,0,1,1,1,1. Only columns 0 and 1 are non-trivial.
        int[] gIdx = {1, 0, 1, 0, 0, 1, 1, 0};
        int[] qweight = {0x87654321, 0x0F0F0F0F, 0, 0, 0, 0, 0, 0};   // columns 0, 1 as above; the rest q = 0
        // group 0: z = (8, 4, 1, 1, 1, 1, 1, 1) stored (7, 3, 0, ...) = 0x37; group 1: z = (2, 6, 1, ...) = 0x51
        int[] qzeros = {0x00000037, 0x00000051};
        float[] scales = new float[2 * 8];
        scales[0] = 0.5f;      // group 0, column 0
        scales[1] = 0.25f;     // group 0, column 1
        scales[8] = 2.0f;      // group 1, column 0
        scales[9] = 1.0f;      // group 1, column 1
        int[] q = GptqPacking.unpackQweight(qweight, 8, 8, 4);
        int[] z = GptqPacking.unpackQzeros(qzeros, 2, 8, 4);
        assertArrayEquals(new int[] {8, 4, 1, 1, 1, 1, 1, 1, 2, 6, 1, 1, 1, 1, 1, 1}, z);
        assertArrayEquals(qzeros, GptqPacking.packQzeros(z, 2, 8, 4));
        float[][] w = GptqPacking.dequantize(q, z, scales, gIdx, 8, 8);
        // row 0 (group 1): column 0: 2.0 * (1 - 2) = -2;  column 1: 1.0 * (15 - 6) = 9
        assertEquals(-2f, w[0][0]);
        assertEquals(9f, w[1][0]);
        // row 1 (group 0): 0.5 * (2 - 8) = -3;  0.25 * (0 - 4) = -1
        assertEquals(-3f, w[0][1]);
        assertEquals(-1f, w[1][1]);
        // row 7 (group 0): 0.5 * (8 - 8) = 0;   0.25 * (0 - 4) = -1
        assertEquals(0f, w[0][7]);
        assertEquals(-1f, w[1][7]);
        // row 6 (group 1): 2 * (7 - 2) = 10;    1 * (15 - 6) = 9
        assertEquals(10f, w[0][6]);
        assertEquals(9f, w[1][6]);
        // column 2: q = 0, z = 1, scale 0 -> 0
        assertEquals(0f, w[2][3], 0f);
    }

    @Test
    void roundTripsRandomLayers() {
        Random r = new Random(7);
        for (int bits : new int[] {2, 4, 8}) {
            int p = 32 / bits;
            int k = 3 * p * 4;
            int n = 5 * p;
            int[] q = new int[k * n];
            for (int i = 0; i < q.length; i++) {
                q[i] = r.nextInt(1 << bits);
            }
            assertArrayEquals(q, GptqPacking.unpackQweight(GptqPacking.packQweight(q, k, n, bits), k, n, bits));
            int[] z = new int[3 * n];
            for (int i = 0; i < z.length; i++) {
                z[i] = 1 + r.nextInt(1 << bits);
            }
            assertArrayEquals(z, GptqPacking.unpackQzeros(GptqPacking.packQzeros(z, 3, n, bits), 3, n, bits));
        }
        assertThrows(IllegalArgumentException.class, () -> GptqPacking.perWord(3));
        assertEquals(3, GptqPacking.groups(176, 64));
        assertEquals(1, GptqPacking.groups(176, -1));
    }
}
