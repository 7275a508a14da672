package io.llmj.ffm.cuda;

import io.llmj.arch.QuantModelsReference;
import io.llmj.backend.Backend;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.provider.Arguments;

/**
 * {@link QuantModelsReference} for the K-quant models (synth Q4_K_M and Q6_K) on the CUDA backend's default per-token
 * kernels, whose K-quant products read Q8_0 activation blocks (a scale per 32 values, as llama.cpp's CUDA backend
 * reads Q8_1 blocks) where llama.cpp's reference converted activations to Q8_K (a scale per 256): the tolerances of
 * {@link QuantModelsReference#convertsAsGgml} false (testdata/quant/README.md's float-activation emulation showed max
 * |Δlogit| 0.62 / 0.90, rms 0.107 / 0.116 for these two models; the H100 showed 0.70 / 1.02, rms 0.132 / 0.134).
 * Skipped where CUDA is unusable.
 */
class CudaQuantModelsQ8BlocksTest extends QuantModelsReference {
    private static CudaBackend backend;

    /** The models with K-quant weights (the others run as in {@link CudaQuantModelsReferenceTest}). */
    public static Stream<Arguments> models() {
        return QuantModelsReference.models().filter(a -> a.get()[0].toString().contains("_K"));
    }

    @Override
    protected boolean convertsAsGgml() {
        return false;
    }

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
