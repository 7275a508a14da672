package io.llmj.ffm.cuda;

import io.llmj.arch.QuantModelsReference;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;

/**
 * {@link QuantModelsReference} on the CUDA backend with the per-token kernels (ggml's definition: activations
 * converted to the weights' vec_dot_type, integer block dots; K-quants read Q8_K activations here,
 * {@link CudaBackend#KQUANT_Q8K_PROPERTY}), against llama.cpp's logits; skipped where CUDA is unusable. The default
 * K-quant products (Q8_0 blocks) are {@link CudaQuantModelsQ8BlocksTest}'s. The prefill GEMM (F16 operands) is
 * measured against the Java reference in {@link CudaGemmModelsTest}.
 */
class CudaQuantModelsReferenceTest extends QuantModelsReference {
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
