package io.llmj.ffm.cuda;

import io.llmj.arch.StoriesReference;
import io.llmj.backend.Backend;
import org.junit.jupiter.api.AfterAll;

/** {@link StoriesReference} on the CUDA backend; skipped where CUDA is unusable. */
class CudaStoriesReferenceTest extends StoriesReference {
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
