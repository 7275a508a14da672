package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.JavaBackend;

/** {@link HfTinyReference} on the scalar Java reference backend. */
class HfTinyReferenceTest extends HfTinyReference {
    @Override
    protected Backend backend() {
        return new JavaBackend();
    }
}
