package io.llmj.ffm.cuda;

import io.llmj.arch.GptqHfTinyReference;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;

/**
 * {@link GptqHfTinyReference} on the CUDA backend, per-token kernels ({@link CudaBackend.Gemm#OFF}): the
 * GPU kernels compute what the native CPU ones do (Q8_0-rounded activations, exact integer block dots),
 * so the CPU's tolerance against the F32 dequantized model applies, 0.1 (NativeCpuGptqHfTinyReferenceTest
 * explains it). 2-bit layers have no CUDA kernel: those cases are skipped. Skipped where CUDA is unusable.
 */
class CudaGptqHfTinyReferenceTest extends GptqHfTinyReference {
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

    @Override
    protected double tolerance() {
        return 0.1;
    }

    @AfterAll
    static void closeBackend() {
        if (backend != null) {
            backend.close();
        }
    }
}
