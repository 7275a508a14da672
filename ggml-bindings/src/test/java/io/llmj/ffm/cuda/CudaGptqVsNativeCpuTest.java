package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.arch.HfModelSource;
import io.llmj.arch.ReferenceFile;
import io.llmj.ffm.cpu.NativeCpuBackend;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.quant.GgmlType;
import io.llmj.quant.gptq.GptqTestModels;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A GPTQ model (an hf-tiny checkpoint quantized by {@link GptqTestModels}) on the CUDA backend against
 * the native CPU backend: the logits of every prompt position (one batch) and of 8 decode steps
 * (teacher-forced with the CPU's greedy tokens).
 * <ul>
 *   <li>{@link CudaBackend.Gemm#OFF}: both backends compute the same products (permuted activations
 *       converted to Q8_0 identically, exact integer block dots); only float summation orders differ, which
 *       can move a later activation's Q8 rounding by one step: max |Δ logit| ≤ {@value #EXACT_ABS}.</li>
 *   <li>{@link CudaBackend.Gemm#AUTO} from 2 tokens: the prompt runs through the F16 GEMM (weights
 *       dequantized to F16, activations rounded to F16) instead of Q8_0 activations, so it differs from the
 *       CPU by both roundings, as each differs from the float model (NativeCpuGptqHfTinyReferenceTest:
 *       0.03 to 0.07): max |Δ logit| ≤ {@value #GEMM_ABS}.</li>
 * </ul>
 * Skipped where CUDA is unusable.
 */
class CudaGptqVsNativeCpuTest {
    static final double EXACT_ABS = 1e-2;
    static final double GEMM_ABS = 0.1;

    @TempDir
    Path tmp;

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    @ParameterizedTest(name = "{0} {1}-bit g{2} desc_act={3}")
    @CsvSource({
        "llama2, 4, 32, true",
        "qwen2, 8, 64, true",
        "mistral, 4, 128, false",
        "phi3, 8, -1, false",
    })
    void cudaMatchesNativeCpu(String model, int bits, int groupSize, boolean descAct) {
        Path dir = TestData.require("hf-tiny/" + model);
        GptqTestModels.Result m = GptqTestModels.write(dir, tmp.resolve(model), bits, groupSize, descAct, false, 42);
        int[] ids = ReferenceFile.ints(ReferenceFile.read(dir.resolve("reference.json")).get("input_ids"));
        try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(m.gptq());
             NativeCpuBackend cpu = new NativeCpuBackend(2);
             CudaBackend exact = new CudaBackend(0, CudaBackend.Gemm.OFF);
             CudaBackend gemm = new CudaBackend(0, CudaBackend.Gemm.AUTO, 2)) {
            HfModelSource src = new HfModelSource(m.gptq(), HfConfig.read(m.gptq().resolve("config.json")), ck);
            int v = src.config().vocabSize();
            // the CPU's own greedy continuation, then every backend fed those tokens
            float[] probe = DecodeRuns.logits(src, src.config(), cpu, ids, null, 8, 64, GgmlType.F32);
            int[] forced = DecodeRuns.greedy(probe, ids.length, 8, v);
            float[] want = DecodeRuns.logits(src, src.config(), cpu, ids, forced, 8, 64, GgmlType.F32);
            float[] gotExact = DecodeRuns.logits(src, src.config(), exact, ids, forced, 8, 64, GgmlType.F32);
            float[] gotGemm = DecodeRuns.logits(src, src.config(), gemm, ids, forced, 8, 64, GgmlType.F32);
            double dExact = 0;
            double dGemm = 0;
            double maxAbs = 0;
            for (int i = 0; i < want.length; i++) {
                dExact = Math.max(dExact, Math.abs(gotExact[i] - want[i]));
                dGemm = Math.max(dGemm, Math.abs(gotGemm[i] - want[i]));
                maxAbs = Math.max(maxAbs, Math.abs(want[i]));
            }
            System.out.printf("GPTQ %s %d-bit g%d desc_act=%b: max |cuda - cpu| logits: per-token kernels %.3g, "
                    + "GEMM prefill %.3g (max |logit| %.3g)%n", model, bits, groupSize, descAct, dExact, dGemm, maxAbs);
            assertTrue(dExact <= EXACT_ABS, model + ": per-token kernels differ from the CPU by " + dExact);
            assertTrue(dGemm <= GEMM_ABS, model + ": GEMM prefill differs from the CPU by " + dGemm);
        }
    }
}
