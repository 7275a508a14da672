package io.llmj.ffm.cuda;

import io.llmj.arch.QuantModelsReference;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;

/**
 * {@link QuantModelsReference} on the CUDA backend with the per-token kernels (ggml's definition: activations
 * converted to the weights' vec_dot_type, integer block dots; K-quants read Q8_K activations here,
 * {@link CudaBackend#KQUANT_Q8K_PROPERTY}), against llama.cpp's logits; skipped where CUDA is unusable. The default
 * K-quant products (Q8_0 blocks) are {@link CudaQuantModelsQ8BlocksTest}'s. The prefill GEMM (F16 operands) is
 * measured against the Java reference in {@link CudaGemmModelsTest}.
 */
class CudaQuantModelsReferenceTest extends QuantModelsReference {
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
