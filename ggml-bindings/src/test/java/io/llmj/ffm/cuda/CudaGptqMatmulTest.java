package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.backend.Buffer;
import io.llmj.backend.Op;
import io.llmj.backend.Weight;
import io.llmj.ffm.cuda.CudaBackend.Gemm;
import io.llmj.ffm.cuda.CudaBackend.GemmPath;
import io.llmj.ffm.generated.llmj.llmj_gptq_matrix;
import io.llmj.quant.GgmlType;
import io.llmj.quant.gptq.GptqMatrix;
import io.llmj.quant.gptq.GptqTestModels;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * GPTQ layers (4 and 8 bits) uploaded through {@link CudaBackend#weight} and multiplied by
 * {@link CudaBackend#matmul}, against the Java references in {@link GptqMatrix}:
 * <ul>
 *   <li>per-token kernels ({@code llmj_cuda_gptq_matmul}, 1, 3 and 9 tokens): {@link GptqMatrix#matvecQ8}
 *       (the kernel's definition: Q8_0 activations, exact integer block sums), per row
 *       {@code |y - ref| <= 1e-5 * sum_c |W[r,c] x[c]| + 1e-6}, the bound NativeGptqTest holds the CPU to;</li>
 *   <li>the prefill GEMM (9 tokens, weights dequantized to F16 by {@code llmj_cuda_gptq_dequantize_f16}, the
 *       activations rounded to F16): {@link GptqMatrix#matvec} (float weights), per row
 *       {@code |y - ref| <= (2^-11 + 2^-11 + cols * 2^-24) * sum_c |W[r,c] x[c]| + 1e-6}, CudaBackend's bound.</li>
 * </ul>
 * Shapes: odd row counts (row slices), columns 32k and 176 = 5.5 blocks, group sizes 32/64/128/-1,
 * act-order on and off. Skipped where CUDA is unusable.
 */
class CudaGptqMatmulTest {
    private static CudaBackend exact;
    private static CudaBackend gemm;

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
        exact = new CudaBackend(0, Gemm.OFF);
        gemm = new CudaBackend(0, Gemm.AUTO, 4);
    }

    @AfterAll
    static void close() {
        if (exact != null) {
            exact.close();
        }
        if (gemm != null) {
            gemm.close();
        }
    }

    record Case(int bits, int rows, int cols, int groupSize, boolean descAct) {
        @Override
        public String toString() {
            return bits + "-bit rows=" + rows + " cols=" + cols + " g=" + groupSize + (descAct ? " act-order" : "");
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        int[][] shapes = {{1, 32, 32}, {7, 64, 32}, {17, 176, 64}, {33, 96, -1}, {65, 512, 128}, {31, 416, -1},
            {129, 1024, 128}};
        for (int bits : new int[] {4, 8}) {
            for (int[] s : shapes) {
                for (boolean act : new boolean[] {false, true}) {
                    list.add(Arguments.of(new Case(bits, s[0], s[1], s[2], act)));
                }
            }
        }
        return list.stream();
    }

    static GptqMatrix matrix(Case c, Arena arena) {
        int n = (c.rows() + 1 + 7) / 8 * 8;
        GptqMatrix full = GptqTestModels.randomMatrix(c.bits(), n, c.cols(), c.groupSize(), c.descAct(),
                31L * c.rows() + c.cols() + c.bits(), arena);
        return full.sliceRows(1, c.rows(), arena);
    }

    static float[] run(CudaBackend b, Weight w, float[] x, int tokens, int rows) {
        try (Buffer xb = b.allocate(x.length); Buffer yb = b.allocate((long) tokens * rows)) {
            b.write(xb, 0, x, 0, x.length);
            b.matmul(w, xb, tokens, yb);
            float[] y = new float[tokens * rows];
            b.read(yb, 0, y, 0, y.length);
            return y;
        }
    }

    /**
     * Scales and zero points per group ({@link CudaBackend#GPTQ_GROUP_SCALES_PROPERTY}, the default) against per block
     * ({@code false}): the same values, so the same products (per-token kernels, 1 and 3 tokens), prefill GEMM and
     * dequantization, bit for bit.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void groupedScalesEqualPerBlockScales(Case c) {
        Assumptions.assumeTrue(c.groupSize() == 64 || c.groupSize() == 128, "group of 64 or 128 columns");
        try (Arena arena = Arena.ofConfined();
             CudaBackend perBlock = CudaTestBackends.with(CudaBackend.GPTQ_GROUP_SCALES_PROPERTY, false, Gemm.AUTO);
             CudaBackend grouped = CudaTestBackends.with(CudaBackend.GPTQ_GROUP_SCALES_PROPERTY, true, Gemm.AUTO)) {
            GptqMatrix m = matrix(c, arena);
            long[] shape = {m.cols(), m.rows()};
            Weight wp = perBlock.weight("w", m.type(), shape, m.segment());
            Weight wg = grouped.weight("w", m.type(), shape, m.segment());
            assertEquals(0, llmj_gptq_matrix.group_blocks(((CudaBackend.DeviceWeight) wp).gptq()), "per block");
            Random rnd = new Random(c.rows() * 11L + c.cols());
            for (int tokens : new int[] {1, 3, 9}) {
                float[] x = new float[tokens * m.cols()];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                assertArrayEquals(run(perBlock, wp, x, tokens, m.rows()), run(grouped, wg, x, tokens, m.rows()),
                        c + " n=" + tokens);
            }
        }
    }

    @Test
    void supportsGptq4And8MatmulOnly() {
        assertTrue(exact.supports(Op.MATMUL, GgmlType.GPTQ4));
        assertTrue(exact.supports(Op.MATMUL, GgmlType.GPTQ8));
        assertFalse(exact.supports(Op.MATMUL, GgmlType.GPTQ2));
        assertFalse(exact.supports(Op.EMBED, GgmlType.GPTQ4));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesJavaReferences(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            GptqMatrix m = matrix(c, arena);
            long[] shape = {m.cols(), m.rows()};
            Weight we = exact.weight("w", m.type(), shape, m.segment());
            Weight wg = gemm.weight("w", m.type(), shape, m.segment());
            exact.finishLoading();
            gemm.finishLoading();
            if (!c.descAct()) {                      // groups of 64 / 128 columns: scales and zeros once per group
                int gb = c.groupSize() == 64 || c.groupSize() == 128 ? c.groupSize() / 32 : 1;
                assertEquals(gb, Math.max(1, llmj_gptq_matrix.group_blocks(((CudaBackend.DeviceWeight) we).gptq())), "group_blocks");
            }
            Random rnd = new Random(c.rows() * 7L + c.cols());
            float[] w = new float[m.cols()];
            for (int tokens : new int[] {1, 3, 9}) {
                float[] x = new float[tokens * m.cols()];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                assertEquals(GemmPath.EXACT, exact.gemmPath(we, tokens));
                float[] got = run(exact, we, x, tokens, m.rows());
                float[] gotGemm = tokens >= 4 ? run(gemm, wg, x, tokens, m.rows()) : null;
                if (tokens >= 4) {
                    assertEquals(GemmPath.F16, gemm.gemmPath(wg, tokens), "GPTQ prefill takes the F16 GEMM");
                }
                for (int t = 0; t < tokens; t++) {
                    float[] xt = java.util.Arrays.copyOfRange(x, t * m.cols(), (t + 1) * m.cols());
                    float[] q8 = new float[m.rows()];
                    m.matvecQ8(xt, q8);
                    float[] plain = new float[m.rows()];
                    m.matvec(xt, plain);
                    for (int r = 0; r < m.rows(); r++) {
                        m.dequantizeRow(r, w);
                        double mag = 0;
                        for (int k = 0; k < w.length; k++) {
                            mag += Math.abs((double) w[k] * xt[k]);
                        }
                        float g = got[t * m.rows() + r];
                        assertTrue(Math.abs(g - q8[r]) <= 1e-5 * mag + 1e-6,
                                c + " n=" + tokens + " token " + t + " row " + r + ": " + g + " vs Q8 reference " + q8[r]
                                        + " (sum |w x| " + mag + ")");
                        if (gotGemm != null) {
                            float h = gotGemm[t * m.rows() + r];
                            double bound = (0x1p-11 + 0x1p-11 + m.cols() * 0x1p-24) * mag + 1e-6;
                            assertTrue(Math.abs(h - plain[r]) <= bound, c + " GEMM n=" + tokens + " token " + t + " row "
                                    + r + ": " + h + " vs " + plain[r] + " (bound " + bound + ")");
                        }
                    }
                }
            }
        }
    }
}
