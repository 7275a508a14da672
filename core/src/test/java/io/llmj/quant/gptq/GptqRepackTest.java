package io.llmj.quant.gptq;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmj.quant.Float16;
import java.lang.foreign.Arena;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link GptqMatrix#repack} element by element against the checkpoint it was made from: every quant at its sorted
 * column, every block's scale and zero point, for 2, 4 and 8 bits, with and without act-order, including a layer
 * large enough (n * k >= 2^20, in a shared arena) for the parallel row loop. Without act-order, 4- and 8-bit rows take
 * the direct path (whole qweight words into block bytes); with it, and at 2 bits, the general one.
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
            "4, 1024, 1032, 128, false", // ... with whole words copied straight (no act-order: GptqMatrix.directRow)
            "8, 2048, 520, -1, false",
    })
    void repackedMatrixHoldsTheCheckpointValues(int bits, int k, int n, int groupSize, boolean actOrder) {
        GptqTestModels.Layer layer = GptqTestModels.randomLayer(bits, n, k, groupSize, actOrder,
                bits * 1000003L + k * 31L + n + groupSize + (actOrder ? 7 : 0));
        int[] q = layer.q();
        int[] z = layer.z();
        short[] s = layer.scalesF16();
        int[] gIdx = layer.gIdx();
        try (Arena arena = Arena.ofShared()) {
            GptqMatrix m = GptqTestModels.repack(layer, bits, n, k, groupSize, arena);
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
