package io.llmj.ffm.cuda;

import io.llmj.arch.HfTinyReference;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;

/**
 * {@link HfTinyReference} on the CUDA backend with the per-token kernels ({@link CudaBackend.Gemm#OFF}): its
 * 1e-4 float32 tolerance also covers llama3-bf16, whose prefill GEMM rounds activations to BF16;
 * CudaGemmModelsTest runs the same models through the GEMM path. Skipped where CUDA is unusable.
 */
class CudaHfTinyReferenceTest extends HfTinyReference {
    private static final SharedCudaBackend backend = new SharedCudaBackend(() -> new CudaBackend(0, CudaBackend.Gemm.OFF));

    @Override
    protected Backend backend() {
        return backend.get();
    }

    @AfterAll
    static void closeBackend() {
        backend.close();
    }
}
