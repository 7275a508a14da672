package io.llmj.ffm.cuda;

import static io.llmj.testing.Generations.HOST_GREEDY;
import static io.llmj.testing.Generations.assertSameTokens;
import static io.llmj.testing.Generations.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.GenerationOptions;
import io.llmj.Generator;
import io.llmj.Model;
import io.llmj.ModelOptions;
import io.llmj.Sampler;
import io.llmj.Token;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.ModelConfig;
import io.llmj.ffm.cpu.NativeCpuBackend;
import io.llmj.format.gguf.GgufFile;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantTarget;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Decode attention at short contexts: the CUDA kernel for one query row (multi-head or grouped-query, head_dim 64, 96
 * or 128, F16 cache, at most 256 visible positions), which loads the older K/V rows while the q/k/v product still
 * runs, and the decode graphs that use it: a state's positions below {@link CudaBackend#SHORT_CONTEXT} replay a graph
 * recorded for that bound, later ones a graph recorded for the state's context (the rows kernel). On synthetic llamas
 * (2 layers; MHA with 4 heads at head_dim 64, 96 and 128, groups of 4 with 8 heads over 2 KV heads, multi-query with
 * 8 heads over 1), a 5-token prompt and {@value #STEPS} decode steps (positions up to 304), teacher-forced with the
 * CPU's greedy tokens:
 * <ul>
 *   <li>F16 weights, a context of 512: every logit against the native CPU backend (F16 cache too), max |Δ| ≤
 *       {@value #CPU_REL} of the largest |logit|, across the switch from one graph to the other;</li>
 *   <li>the steps below 256 bit for bit as in a state whose whole context is 256 positions (one graph);</li>
 *   <li>Q4_0 weights through the public API: greedy generation past position 256 with the choice on the device
 *       (steps enqueued one ahead across the switch) gives the tokens of the host's greedy choice.</li>
 * </ul>
 * Skipped where CUDA is unusable.
 */
class CudaShortAttentionTest {
    static final int STEPS = 300;
    static final double CPU_REL = 1e-3;

    @TempDir
    Path tmp;

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    @ParameterizedTest(name = "head_dim {0}, {1} heads over {2} KV heads")
    @CsvSource({"64, 4, 4", "128, 4, 4", "128, 8, 2", "64, 8, 1", "96, 4, 4"})
    void matchesCpuAcrossTheGraphSwitch(int headDim, int heads, int kvHeads) {
        try (GgufFile g = GgufFile.open(DecodeRuns.synth(tmp, headDim, heads, kvHeads, QuantTarget.F16, 11));
             NativeCpuBackend cpu = new NativeCpuBackend(2);
             CudaBackend gpu = new CudaBackend(0, CudaBackend.Gemm.OFF)) {
            GgufModelSource src = new GgufModelSource(g);
            int v = src.config().vocabSize();
            int[] ids = {1, 300 % v, 17, 42, 5};
            ModelConfig c = src.config();
            int[] forced = DecodeRuns.greedy(DecodeRuns.logits(src, c, cpu, ids, null, STEPS, 512, GgmlType.F16), ids.length,
                    STEPS, v);
            float[] want = DecodeRuns.logits(src, c, cpu, ids, forced, STEPS, 512, GgmlType.F16);
            float[] got = DecodeRuns.logits(src, c, gpu, ids, forced, STEPS, 512, GgmlType.F16);
            int shortSteps = CudaBackend.SHORT_CONTEXT - ids.length - 1;
            float[] oneGraph = DecodeRuns.logits(src, c, gpu, ids, forced, shortSteps, CudaBackend.SHORT_CONTEXT, GgmlType.F16);
            double scale = 0;
            double d = 0;
            double dLate = 0;
            for (int i = 0; i < want.length; i++) {
                scale = Math.max(scale, Math.abs(want[i]));
                double e = Math.abs((double) got[i] - want[i]);
                d = Math.max(d, e);
                if (i / v >= CudaBackend.SHORT_CONTEXT) {
                    dLate = Math.max(dLate, e);
                }
            }
            System.out.printf("head_dim %d, %d/%d heads: max |cuda - cpu| %.3g (positions from %d: %.3g), max |logit| %.3g%n",
                    headDim, heads, kvHeads, d, CudaBackend.SHORT_CONTEXT, dLate, scale);
            assertTrue(scale > 0, "logits all zero");
            assertTrue(d <= CPU_REL * scale, "decode differs from the CPU by " + d);
            for (int i = 0; i < oneGraph.length; i++) {
                if (Float.floatToRawIntBits(oneGraph[i]) != Float.floatToRawIntBits(got[i])) {
                    assertEquals(oneGraph[i], got[i], 0f, "logit " + i % v + " of position " + i / v
                            + ": a context of 512 differs from one of " + CudaBackend.SHORT_CONTEXT + " below that");
                }
            }
        }
    }

    @ParameterizedTest(name = "head_dim {0}, {1} heads over {2} KV heads")
    @CsvSource({"128, 4, 4", "128, 8, 2"})
    void deviceGreedyAcrossTheGraphSwitch(int headDim, int heads, int kvHeads) {
        try (Model m = Model.load(DecodeRuns.synth(tmp, headDim, heads, kvHeads, QuantTarget.Q4_0, 11),
                ModelOptions.defaults().withBackend("cuda"))) {
            int[] prompt = {1, 15, 200, 7};
            GenerationOptions.Builder o = GenerationOptions.builder().maxTokens(300).ignoreEndOfGeneration(true)
                    .contextLength(512).cacheType(GenerationOptions.CacheType.F16);
            try (Generator device = m.generator(o.sampler(Sampler.greedy()).build());
                 Generator host = m.generator(o.sampler(HOST_GREEDY).build())) {
                List<Token> want = run(host, prompt);
                List<Token> got = run(device, prompt);
                assertEquals(300, want.size(), "tokens generated");
                assertSameTokens(want, got, "head_dim " + headDim + ", " + heads + "/" + kvHeads + " heads, 300 tokens from a 4-token prompt");
            }
        }
    }
}
