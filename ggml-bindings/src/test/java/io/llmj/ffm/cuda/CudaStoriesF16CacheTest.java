package io.llmj.ffm.cuda;

import io.llmj.arch.StoriesF16Cache;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;

/** {@link StoriesF16Cache} on the CUDA backend; skipped where CUDA is unusable. */
class CudaStoriesF16CacheTest extends StoriesF16Cache {
    private static CudaBackend backend;

    @Override
    protected synchronized Backend backend() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
        if (backend == null) {
            backend = new CudaBackend();
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
