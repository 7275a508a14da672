package io.llmj.ffm.cpu;

import io.llmj.arch.QuantModelsReference;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;

/** {@link QuantModelsReference} on the native CPU backend (2 threads). */
class NativeCpuQuantModelsReferenceTest extends QuantModelsReference {
    private static final NativeCpuBackend BACKEND = new NativeCpuBackend(2);

    @Override
    protected Backend backend() {
        return BACKEND;
    }

    @AfterAll
    static void closeBackend() {
        BACKEND.close();
    }
}
