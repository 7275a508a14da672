package io.llmj.ffm.cuda;

import io.llmj.arch.HfTinyReference;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;

/**
 * {@link HfTinyReference} on the CUDA backend with the per-token kernels ({@link CudaBackend.Gemm#OFF}): its
 * 1e-4 float32 tolerance also covers llama3-bf16, whose prefill GEMM rounds activations to BF16;
 * CudaGemmModelsTest runs the same models through the GEMM path. Skipped where CUDA is unusable.
 */
class CudaHfTinyReferenceTest extends HfTinyReference {
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
