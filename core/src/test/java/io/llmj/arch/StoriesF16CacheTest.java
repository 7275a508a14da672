package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.JavaBackend;

/** {@link StoriesF16Cache} on the scalar Java reference backend. */
class StoriesF16CacheTest extends StoriesF16Cache {
    @Override
    protected Backend backend() {
        return new JavaBackend();
    }
}
