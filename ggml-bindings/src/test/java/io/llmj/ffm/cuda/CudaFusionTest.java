package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.arch.Forwards;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.HfModelSource;
import io.llmj.arch.ReferenceFile;
import io.llmj.arch.TensorSource;
import io.llmj.backend.Backend;
import io.llmj.ffm.cuda.CudaBackend.Gemm;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantTarget;
import io.llmj.quant.gptq.GptqTestModels;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fused decode kernels ({@link CudaBackend#FUSE_PROPERTY}: RoPE with the KV write, residual add with the
 * next norm, norm / GLU with the activation conversion of the GPTQ-layout products that follow) against the
 * same model on a backend that runs every op as its own kernel: the logits of a prompt (one batch, and as
 * chunks of 3 tokens) and of 8 greedy decode steps (graph replay) must be equal bit for bit, with the
 * per-token kernels ({@link Gemm#OFF}) and with the GEMM prefill. Models: the quantized synthetic llamas
 * (Q4_0 / Q8_0 repacked into the GPTQ layout, K-quants and F16 unconverted), stories260K, hf-tiny qwen3
 * (per-head norms), phi3 and gemma2 (GeGLU, post-norms), and GPTQ checkpoints (symmetric, act-order).
 * Skipped where CUDA is unusable.
 */
class CudaFusionTest {
    @TempDir
    Path tmp;

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    /** With {@code fuse}, every fusion that keeps the values bit for bit: the folded norm (CudaNormFoldTest) off. */
    static CudaBackend backend(boolean fuse, Gemm gemm) {
        return CudaTestBackends.with(Map.of(CudaBackend.FUSE_PROPERTY, fuse, CudaBackend.FUSE_NORM_PROPERTY, false), gemm);
    }

    /** Prompt logits (every position; in chunks of {@code chunk} tokens) and 8 greedy decode steps' logits. */
    static float[] run(TensorSource src, io.llmj.arch.ModelConfig c, Backend b, int[] ids, int chunk) {
        return run(src, c, b, ids, chunk, 512);
    }

    /**
     * As above with a context of {@code ctx} positions: with 512 the decode steps replay the graph a state records
     * for its positions below {@link CudaBackend#SHORT_CONTEXT}, with 64 the one recorded for its whole context
     * (either takes the short-context attention kernel where the model allows: head_dim 64, 96 or 128).
     */
    static float[] run(TensorSource src, io.llmj.arch.ModelConfig c, Backend b, int[] ids, int chunk, int ctx) {
        Forward f = Forwards.create(c, src, b);
        int v = c.vocabSize();
        float[] out = new float[(ids.length + 8) * v];
        try (ForwardState s = f.newState(ctx, 32, GgmlType.F16)) {
            for (int p = 0; p < ids.length; p += chunk) {
                int n = Math.min(chunk, ids.length - p);
                int[] part = java.util.Arrays.copyOfRange(ids, p, p + n);
                float[] l = new float[n * v];
                f.forward(s, part, p, true, l);
                System.arraycopy(l, 0, out, p * v, l.length);
            }
            float[] last = new float[v];
            System.arraycopy(out, (ids.length - 1) * v, last, 0, v);
            for (int i = 0; i < 8; i++) {
                f.forward(s, new int[] {ReferenceFile.argmax(last, 0, v)}, ids.length + i, false, last);
                System.arraycopy(last, 0, out, (ids.length + i) * v, v);
            }
        }
        return out;
    }

    static void compare(TensorSource src, io.llmj.arch.ModelConfig c, int[] ids, String what) {
        for (Gemm gemm : new Gemm[] {Gemm.OFF, Gemm.AUTO}) {
            for (int chunk : new int[] {ids.length, 3}) {
                int ctx = chunk == 3 ? 64 : 512;
                try (CudaBackend plain = backend(false, gemm); CudaBackend fused = backend(true, gemm)) {
                    float[] want = run(src, c, plain, ids, chunk, ctx);
                    float[] got = run(src, c, fused, ids, chunk, ctx);
                    int v = c.vocabSize();
                    for (int i = 0; i < want.length; i++) {
                        if (Float.floatToRawIntBits(want[i]) != Float.floatToRawIntBits(got[i])) {
                            int at = i / v;
                            int logit = i % v;
                            Supplier<String> where = () -> what + " gemm=" + gemm + " chunk=" + chunk + " ctx=" + ctx + ": logit " + logit
                                    + " of " + (at < ids.length ? "prompt position " + at : "decode step " + (at - ids.length));
                            assertEquals(want[i], got[i], 0f, where);
                        }
                    }
                }
            }
        }
        System.out.println("fused == unfused: " + what);
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"quant/synth-llama-Q4_0.gguf", "quant/synth-llama-Q8_0.gguf", "quant/synth-llama-Q4_K_M.gguf",
                "models/stories260K.gguf"})
    void ggufModels(String file) {
        try (GgufFile f = GgufFile.open(TestData.require(file))) {
            GgufModelSource src = new GgufModelSource(f);
            int v = src.config().vocabSize();
            int[] ids = {1, 2 % v, 17 % v, 5 % v, 300 % v, 11 % v, 42 % v};
            compare(src, src.config(), ids, file);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"qwen3", "phi3", "gemma2"})
    void hfTinyModels(String model) {
        Path dir = TestData.require("hf-tiny/" + model);
        int[] ids = ReferenceFile.ints(ReferenceFile.read(dir.resolve("reference.json")).get("input_ids"));
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(dir)) {
            HfModelSource src = new HfModelSource(dir, HfConfig.read(dir.resolve("config.json")), ck);
            compare(src, src.config(), ids, "hf-tiny " + model);
        }
    }

    @ParameterizedTest(name = "{0} {1}-bit desc_act={2} sym={3}")
    @CsvSource({"llama2, 4, false, true", "llama2, 4, true, false", "qwen2, 8, false, false"})
    void gptqModels(String model, int bits, boolean descAct, boolean sym) {
        Path dir = TestData.require("hf-tiny/" + model);
        GptqTestModels.Result m = GptqTestModels.write(dir, tmp.resolve(model), bits, 32, descAct, sym, 7);
        int[] ids = ReferenceFile.ints(ReferenceFile.read(dir.resolve("reference.json")).get("input_ids"));
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(m.gptq())) {
            HfModelSource src = new HfModelSource(m.gptq(), HfConfig.read(m.gptq().resolve("config.json")), ck);
            compare(src, src.config(), ids, "GPTQ " + model + " " + bits + "-bit desc_act=" + descAct + " sym=" + sym);
        }
    }

    /**
     * Synthetic llamas (head_dim 64 and 128, Q4_0; MHA, and 8 query heads over 2 KV heads): decode takes the short-context
     * kernel, in which only the first block of a group writes the new K/V row.
     */
    @ParameterizedTest(name = "head_dim {0}, {1} heads over {2} KV heads")
    @CsvSource({"64, 4, 4", "128, 4, 4", "128, 8, 2"})
    void shortAttentionModels(int headDim, int heads, int kvHeads) {
        try (GgufFile f = GgufFile.open(DecodeRuns.synth(tmp, headDim, heads, kvHeads, QuantTarget.Q4_0, 5))) {
            GgufModelSource src = new GgufModelSource(f);
            compare(src, src.config(), new int[] {1, 2, 17, 5, 300, 11, 42},
                    "synthetic head_dim " + headDim + ", " + heads + "/" + kvHeads + " heads");
        }
    }

    /** The test's own premise: with one position's worth of difference the comparison fails. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"quant/synth-llama-Q4_0.gguf"})
    void detectsADifference(String file) {
        try (GgufFile f = GgufFile.open(TestData.require(file)); CudaBackend b = backend(true, Gemm.OFF)) {
            GgufModelSource src = new GgufModelSource(f);
            int[] ids = {1, 2, 3, 4};
            float[] a = run(src, src.config(), b, ids, 4);
            float[] c = run(src, src.config(), b, new int[] {1, 2, 3, 5}, 4);
            boolean differ = false;
            for (int i = 0; i < a.length && !differ; i++) {
                differ = a[i] != c[i];
            }
            org.junit.jupiter.api.Assertions.assertTrue(differ, "different prompts must give different logits");
            assertArrayEquals(a, run(src, src.config(), b, ids, 4), "the same run twice");
        }
    }
}
