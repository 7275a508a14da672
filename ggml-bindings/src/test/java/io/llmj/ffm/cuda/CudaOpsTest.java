package io.llmj.ffm.cuda;

import io.llmj.backend.BackendOps;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;

/**
 * Every op of the CUDA backend against the Java reference ({@link BackendOps}); skipped where CUDA is unusable.
 * Matrix products run the per-token kernels ({@link CudaBackend.Gemm#OFF}): BackendOps' float32 tolerance
 * and ggml's Q8_0-activation definition are theirs; the prefill GEMM (F16/BF16 activations) is CudaGemmTest's.
 */
class CudaOpsTest extends BackendOps {
    private static CudaBackend backend;

    @Override
    protected synchronized Backend backend() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
        if (backend == null) {
            backend = new CudaBackend(0, CudaBackend.Gemm.OFF);
        }
        return backend;
    }

    @AfterAll
    static void closeBackend() {
        if (backend != null) {
            backend.close();
        }
    }
}
