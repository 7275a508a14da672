package io.llmj.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Checks {@link GgmlType} against ggml's {@code type_traits} (ids from {@code enum ggml_type}; block
 * sizes from the block structs' static size asserts in {@code ggml-common.h}). Note: gguf-py's
 * {@code GGML_QUANT_SIZES} still lists Q8_1 as 4 + 4 + 32 = 40 bytes (the old float layout); ggml
 * itself uses two halves, 2 + 2 + 32 = 36, which is what GGUF files hold.
 */
class GgmlTypeTest {
    static final int QK_K = 256;

    @Test
    void tableMatchesGgml() {
        Map<GgmlType, int[]> expected = new LinkedHashMap<>(); // id, block elements, block bytes
        expected.put(GgmlType.F32, new int[] {0, 1, 4});
        expected.put(GgmlType.F16, new int[] {1, 1, 2});
        expected.put(GgmlType.Q4_0, new int[] {2, 32, 2 + 16});
        expected.put(GgmlType.Q4_1, new int[] {3, 32, 2 + 2 + 16});
        expected.put(GgmlType.Q5_0, new int[] {6, 32, 2 + 4 + 16});
        expected.put(GgmlType.Q5_1, new int[] {7, 32, 2 + 2 + 4 + 16});
        expected.put(GgmlType.Q8_0, new int[] {8, 32, 2 + 32});
        expected.put(GgmlType.Q8_1, new int[] {9, 32, 2 + 2 + 32});
        expected.put(GgmlType.Q2_K, new int[] {10, QK_K, 2 + 2 + QK_K / 16 + QK_K / 4});
        expected.put(GgmlType.Q3_K, new int[] {11, QK_K, 2 + QK_K / 4 + QK_K / 8 + 12});
        expected.put(GgmlType.Q4_K, new int[] {12, QK_K, 2 + 2 + QK_K / 2 + 12});
        expected.put(GgmlType.Q5_K, new int[] {13, QK_K, 2 + 2 + QK_K / 2 + QK_K / 8 + 12});
        expected.put(GgmlType.Q6_K, new int[] {14, QK_K, 2 + QK_K / 2 + QK_K / 4 + QK_K / 16});
        expected.put(GgmlType.Q8_K, new int[] {15, QK_K, 4 + QK_K + QK_K / 8});
        expected.put(GgmlType.IQ2_XXS, new int[] {16, QK_K, 2 + QK_K / 4});
        expected.put(GgmlType.IQ2_XS, new int[] {17, QK_K, 2 + QK_K / 4 + QK_K / 32});
        expected.put(GgmlType.IQ3_XXS, new int[] {18, QK_K, 2 + QK_K / 4 + QK_K / 8});
        expected.put(GgmlType.IQ1_S, new int[] {19, QK_K, 2 + QK_K / 8 + QK_K / 16});
        expected.put(GgmlType.IQ4_NL, new int[] {20, 32, 2 + 16});
        expected.put(GgmlType.IQ3_S, new int[] {21, QK_K, 2 + QK_K / 4 + QK_K / 8 + QK_K / 32 + 4});
        expected.put(GgmlType.IQ2_S, new int[] {22, QK_K, 2 + QK_K / 4 + QK_K / 16});
        expected.put(GgmlType.IQ4_XS, new int[] {23, QK_K, 2 + 2 + QK_K / 2 + QK_K / 64});
        expected.put(GgmlType.I8, new int[] {24, 1, 1});
        expected.put(GgmlType.I16, new int[] {25, 1, 2});
        expected.put(GgmlType.I32, new int[] {26, 1, 4});
        expected.put(GgmlType.I64, new int[] {27, 1, 8});
        expected.put(GgmlType.F64, new int[] {28, 1, 8});
        expected.put(GgmlType.IQ1_M, new int[] {29, QK_K, QK_K / 8 + QK_K / 16 + QK_K / 32});
        expected.put(GgmlType.BF16, new int[] {30, 1, 2});
        expected.put(GgmlType.TQ1_0, new int[] {34, QK_K, 2 + 4 * 13});
        expected.put(GgmlType.TQ2_0, new int[] {35, QK_K, 2 + 64});
        expected.put(GgmlType.MXFP4, new int[] {39, 32, 1 + 16});
        // llmj's own GPTQ types are not ggml's: 32 / bits quants per int32, never returned by byId
        assertEquals(GgmlType.values().length, expected.size() + 3);
        for (int bits : new int[] {2, 4, 8}) {
            GgmlType g = GgmlType.gptq(bits);
            org.junit.jupiter.api.Assertions.assertTrue(g.isGptq());
            assertEquals(bits, g.gptqBits());
            assertEquals(32 / bits, g.blockSize());
            assertEquals(4, g.blockBytes());
            assertNull(GgmlType.byId(g.id()));
        }
        expected.forEach((t, e) -> {
            assertEquals(e[0], t.id(), t + " id");
            assertEquals(e[1], t.blockSize(), t + " block size");
            assertEquals(e[2], t.blockBytes(), t + " block bytes");
            assertSame(t, GgmlType.byId(e[0]));
        });
        // removed ids (Q4_2, Q4_3, Q4_0_4_4 ...) and out-of-range ids have no type
        for (int id : new int[] {4, 5, 31, 32, 33, 36, 37, 38, 40, 63, 64, -1, Integer.MAX_VALUE, Integer.MIN_VALUE}) {
            assertNull(GgmlType.byId(id), "id " + id);
        }
    }
}
