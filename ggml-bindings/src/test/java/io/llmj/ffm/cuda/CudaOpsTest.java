package io.llmj.ffm.cuda;

import io.llmj.backend.BackendOps;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;

/**
 * Every op of the CUDA backend against the Java reference ({@link BackendOps}); skipped where CUDA is unusable.
 * Matrix products run the per-token kernels ({@link CudaBackend.Gemm#OFF}): BackendOps' float32 tolerance
 * and ggml's Q8_0-activation definition are theirs; the prefill GEMM (F16/BF16 activations) is CudaGemmTest's.
 * Repacked K-quants read Q8_K activations here ({@link CudaBackend#KQUANT_Q8K_PROPERTY}), the Java reference's
 * definition; their default, Q8_0 blocks, is checked against its own arithmetic in CudaKquantRepackTest.
 */
class CudaOpsTest extends BackendOps {
    private static CudaBackend backend;

    @Override
    protected synchronized Backend backend() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
        if (backend == null) {
            backend = CudaTestBackends.with(CudaBackend.KQUANT_Q8K_PROPERTY, true, CudaBackend.Gemm.OFF);
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
