package io.llmj.ffm.cpu;

import io.llmj.arch.GptqHfTinyReference;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;

/**
 * {@link GptqHfTinyReference} on the native CPU backend (2 threads). The kernels multiply Q8_0-rounded
 * activations (as ggml does for its own 4/8-bit types), so logits differ from the float model by that
 * rounding: 0.03 to 0.07 on these models (logits up to about 3; the 8-bit weight rounding itself moves
 * them by 0.04 to 0.1, the same order), hence 0.1. The kernels themselves are checked tightly against
 * the Q8 definition in {@link NativeGptqTest}.
 */
class NativeCpuGptqHfTinyReferenceTest extends GptqHfTinyReference {
    private static final NativeCpuBackend BACKEND = new NativeCpuBackend(2);

    @Override
    protected Backend backend() {
        return BACKEND;
    }

    @Override
    protected double tolerance() {
        return 0.1;
    }

    @AfterAll
    static void closeBackend() {
        BACKEND.close();
    }
}
