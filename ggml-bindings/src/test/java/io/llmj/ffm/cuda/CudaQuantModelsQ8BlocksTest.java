package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmj.arch.QuantModelsReference;
import io.llmj.backend.Backend;
import io.llmj.ffm.generated.llmj.llmj_gptq_matrix;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
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
    private static final SharedCudaBackend backend = new SharedCudaBackend(() -> new CudaBackend(0, CudaBackend.Gemm.OFF));

    /** The models with K-quant weights (the others run as in {@link CudaQuantModelsReferenceTest}). */
    public static Stream<Arguments> models() {
        return QuantModelsReference.models().filter(a -> a.get()[0].toString().contains("_K"));
    }

    @Override
    protected boolean convertsAsGgml() {
        return false;
    }

    @Override
    protected Backend backend() {
        return backend.get();
    }

    /** The backend under test reads Q8_0 blocks for K-quants: the default, which the tolerances above are for. */
    @Test
    void kquantsReadQ8BlocksByDefault() {
        CudaBackend b = (CudaBackend) backend();
        try (Arena arena = Arena.ofConfined()) {
            CudaBackend.DeviceWeight w = (CudaBackend.DeviceWeight) b.weight("q4k", GgmlType.Q4_K, new long[] {256, 1},
                    CudaRepackTest.quantized(arena, GgmlType.Q4_K, 1, 256, new Random(1), new float[256]));
            assertEquals(1, llmj_gptq_matrix.act32(w.gptq()), "a repacked Q4_K reads Q8_0 blocks by default");
        }
    }

    @AfterAll
    static void closeBackend() {
        backend.close();
    }
}
