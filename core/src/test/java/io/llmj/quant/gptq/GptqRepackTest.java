package io.llmj.quant.gptq;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmj.quant.Float16;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link GptqMatrix#repack} element by element against the checkpoint it was made from: every quant at its sorted
 * column, every block's scale and zero point, for 2, 4 and 8 bits, with and without act-order, including a layer
 * large enough (n * k >= 2^20, in a shared arena) for the parallel row loop.
 */
class GptqRepackTest {
    @ParameterizedTest
    @CsvSource({
            "4, 256, 40, 32, false",
            "4, 256, 40, 64, true",
            "8, 128, 36, 32, true",
            "8, 96, 4, 32, false",
            "2, 256, 48, 128, true",
            "4, 1024, 1032, 128, true", // the parallel row loop
    })
    void repackedMatrixHoldsTheCheckpointValues(int bits, int k, int n, int groupSize, boolean actOrder) {
        Random rnd = new Random(bits * 1000003L + k * 31L + n + groupSize + (actOrder ? 7 : 0));
        int groups = k / groupSize;
        int[] q = new int[k * n];
        for (int i = 0; i < q.length; i++) {
            q[i] = rnd.nextInt(1 << bits);
        }
        int[] z = new int[groups * n];
        short[] s = new short[groups * n];
        for (int i = 0; i < z.length; i++) {
            z[i] = 1 + rnd.nextInt(1 << bits);
            s[i] = Float16.fromFloat(0.001f + 0.019f * rnd.nextFloat());
        }
        int[] gIdx = GptqPacking.defaultGidx(k, groupSize);
        if (actOrder) {
            int[] perm = new int[k];
            for (int i = 0; i < k; i++) {
                perm[i] = i;
            }
            for (int i = k - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            for (int j = 0; j < k; j++) {
                gIdx[perm[j]] = j / groupSize;
            }
        }
        try (Arena arena = Arena.ofShared()) {
            GptqMatrix m = GptqMatrix.repack(bits, k, n, groups, groupSize,
                    arena.allocateFrom(ValueLayout.JAVA_INT, GptqPacking.packQweight(q, k, n, bits)),
                    arena.allocateFrom(ValueLayout.JAVA_INT, GptqPacking.packQzeros(z, groups, n, bits)),
                    arena.allocateFrom(ValueLayout.JAVA_SHORT, s), arena.allocateFrom(ValueLayout.JAVA_INT, gIdx), arena);
            assertEquals(n, m.rows());
            assertEquals(k, m.cols());
            for (int r = 0; r < n; r++) {
                for (int j = 0; j < k; j++) {
                    int c = m.permAt(j);                       // checkpoint column at sorted position j
                    if (q[c * n + r] != m.quant(r, j)) {
                        assertEquals(q[c * n + r], m.quant(r, j), "quant of row " + r + ", sorted column " + j);
                    }
                }
                for (int b = 0; b < m.blocks(); b++) {
                    int g = gIdx[m.permAt(b * GptqMatrix.BLOCK)];
                    assertEquals(Float16.toFloat(s[g * n + r]), m.scale(r, b), "scale of row " + r + ", block " + b);
                    assertEquals(z[g * n + r], m.zero(r, b), "zero point of row " + r + ", block " + b);
                }
            }
        }
    }
}
