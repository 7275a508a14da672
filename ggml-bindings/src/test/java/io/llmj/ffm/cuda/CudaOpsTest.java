package io.llmj.ffm.cuda;

import io.llmj.backend.BackendOps;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;

/**
 * Every op of the CUDA backend against the Java reference ({@link BackendOps}); skipped where CUDA is unusable.
 * Matrix products run the per-token kernels ({@link CudaBackend.Gemm#OFF}): BackendOps' float32 tolerance
 * and ggml's Q8_0-activation definition are theirs; the prefill GEMM (F16/BF16 activations) is CudaGemmTest's.
 * Repacked K-quants read Q8_K activations here ({@link CudaBackend#KQUANT_Q8K_PROPERTY}), the Java reference's
 * definition; their default, Q8_0 blocks, is checked against its own arithmetic in CudaKquantRepackTest.
 */
class CudaOpsTest extends BackendOps {
    private static final SharedCudaBackend backend = new SharedCudaBackend(() -> CudaTestBackends.with(CudaBackend.KQUANT_Q8K_PROPERTY, true, CudaBackend.Gemm.OFF));

    @Override
    protected Backend backend() {
        return backend.get();
    }

    @AfterAll
    static void closeBackend() {
        backend.close();
    }
}
