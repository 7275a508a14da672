package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.arch.Forwards;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.ReferenceFile;
import io.llmj.backend.Backend;
import io.llmj.ffm.cpu.NativeCpuBackend;
import io.llmj.format.gguf.GgufFile;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantTarget;
import io.llmj.quant.SyntheticModel;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Decode attention at short contexts: the CUDA kernel for one query row of multi-head attention (head_dim 64 or 128,
 * F16 cache, at most 256 visible positions), which loads the older K/V rows while the q/k/v product still runs. On
 * synthetic MHA llamas (F16 weights, 2 layers, 4 heads), a 5-token prompt and {@value #STEPS} decode steps replayed
 * from the decode graph (teacher-forced with the CPU's greedy tokens, positions up to 154, so warps score more than
 * one chunk of 16 positions):
 * <ul>
 *   <li>the context of 256 positions (graphs recorded for it take the short kernel) against the native CPU backend:
 *       max |Δ logit| ≤ {@value #CPU_REL} of the largest |logit|;</li>
 *   <li>against the same CUDA backend with a context of 512 positions (the rows kernel, split-K): the same float
 *       model in another summation order, max |Δ logit| ≤ {@value #ROWS_REL} of the largest |logit|.</li>
 * </ul>
 * Skipped where CUDA is unusable.
 */
class CudaShortAttentionTest {
    static final int STEPS = 150;
    static final double CPU_REL = 1e-3;
    static final double ROWS_REL = 1e-4;

    @TempDir
    Path tmp;

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    /** Prompt logits (every position) then {@link #STEPS} decode steps' logits, fed {@code forced} or the argmax. */
    static float[] logits(GgufModelSource src, Backend b, int[] ids, int[] forced, int ctx) {
        Forward f = Forwards.create(src.config(), src, b);
        int v = src.config().vocabSize();
        float[] out = new float[(ids.length + STEPS) * v];
        try (ForwardState s = f.newState(ctx, 32, GgmlType.F16)) {
            f.forward(s, ids, 0, true, out);
            float[] last = new float[v];
            System.arraycopy(out, (ids.length - 1) * v, last, 0, v);
            for (int i = 0; i < STEPS; i++) {
                int tok = forced != null ? forced[i] : ReferenceFile.argmax(last, 0, v);
                f.forward(s, new int[] {tok}, ids.length + i, false, last);
                System.arraycopy(last, 0, out, (ids.length + i) * v, v);
            }
        }
        return out;
    }

    static double maxDiff(float[] a, float[] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            d = Math.max(d, Math.abs((double) a[i] - b[i]));
        }
        return d;
    }

    @ParameterizedTest(name = "head_dim {0}")
    @ValueSource(ints = {64, 128})
    void shortContextMatchesCpuAndRowsKernel(int headDim) {
        SyntheticModel.Shape shape = new SyntheticModel.Shape("mha-" + headDim, 4 * headDim, 2, 4, 4, 512, 0, 512, 10000f);
        Path file = tmp.resolve("mha-" + headDim + ".gguf");
        SyntheticModel.write(shape, QuantTarget.F16, TestData.require("models/stories260K.gguf"), 11, 2,
                (i, n, t, d, total) -> { }, file);
        try (GgufFile g = GgufFile.open(file);
             NativeCpuBackend cpu = new NativeCpuBackend(2);
             CudaBackend gpu = new CudaBackend(0, CudaBackend.Gemm.OFF)) {
            GgufModelSource src = new GgufModelSource(g);
            int v = src.config().vocabSize();
            int[] ids = {1, 300 % v, 17, 42, 5};
            float[] probe = logits(src, cpu, ids, null, 256);
            int[] forced = new int[STEPS];
            for (int i = 0; i < STEPS; i++) {
                forced[i] = ReferenceFile.argmax(probe, (ids.length - 1 + i) * v, v);
            }
            float[] want = logits(src, cpu, ids, forced, 256);
            float[] shortCtx = logits(src, gpu, ids, forced, 256);
            float[] rowsCtx = logits(src, gpu, ids, forced, 512);
            double scale = 0;
            for (float x : want) {
                scale = Math.max(scale, Math.abs(x));
            }
            double dCpu = maxDiff(shortCtx, want);
            double dRows = maxDiff(shortCtx, rowsCtx);
            System.out.printf("MHA head_dim %d: max |short - cpu| %.3g, |short - rows kernel| %.3g, |rows kernel - cpu| %.3g "
                    + "(max |logit| %.3g)%n", headDim, dCpu, dRows, maxDiff(rowsCtx, want), scale);
            assertTrue(scale > 0, "logits all zero");
            assertTrue(dCpu <= CPU_REL * scale, "short-context decode differs from the CPU by " + dCpu);
            assertTrue(dRows <= ROWS_REL * scale, "short-context decode differs from the rows kernel by " + dRows);
        }
    }
}
