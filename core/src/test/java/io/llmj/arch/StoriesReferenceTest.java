package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.JavaBackend;

/** {@link StoriesReference} on the scalar Java reference backend. */
class StoriesReferenceTest extends StoriesReference {
    @Override
    protected Backend backend() {
        return new JavaBackend();
    }
}
