package io.llmj.ffm.cuda;

import io.llmj.arch.StoriesF16Cache;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;

/** {@link StoriesF16Cache} on the CUDA backend; skipped where CUDA is unusable. */
class CudaStoriesF16CacheTest extends StoriesF16Cache {
    private static final SharedCudaBackend backend = new SharedCudaBackend(() -> new CudaBackend());

    @Override
    protected Backend backend() {
        return backend.get();
    }

    @AfterAll
    static void closeBackend() {
        backend.close();
    }
}
