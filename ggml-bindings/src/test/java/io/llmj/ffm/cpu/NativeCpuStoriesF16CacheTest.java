package io.llmj.ffm.cpu;

import io.llmj.arch.StoriesF16Cache;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;

/** {@link StoriesF16Cache} on the native CPU backend (2 threads). */
class NativeCpuStoriesF16CacheTest extends StoriesF16Cache {
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
