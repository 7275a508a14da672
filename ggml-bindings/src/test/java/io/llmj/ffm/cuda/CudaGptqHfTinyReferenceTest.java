package io.llmj.ffm.cuda;

import io.llmj.arch.GptqHfTinyReference;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;

/**
 * {@link GptqHfTinyReference} on the CUDA backend, per-token kernels ({@link CudaBackend.Gemm#OFF}): the
 * GPU kernels compute what the native CPU ones do (Q8_0-rounded activations, exact integer block dots),
 * so the CPU's tolerance against the F32 dequantized model applies, 0.1 (NativeCpuGptqHfTinyReferenceTest
 * explains it). 2-bit layers have no CUDA kernel: those cases are skipped. Skipped where CUDA is unusable.
 */
class CudaGptqHfTinyReferenceTest extends GptqHfTinyReference {
    private static final SharedCudaBackend backend = new SharedCudaBackend(() -> new CudaBackend(0, CudaBackend.Gemm.OFF));

    @Override
    protected Backend backend() {
        return backend.get();
    }

    @Override
    protected double tolerance() {
        return 0.1;
    }

    @AfterAll
    static void closeBackend() {
        backend.close();
    }
}
