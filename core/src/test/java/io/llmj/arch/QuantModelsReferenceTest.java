package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.JavaBackend;

/** {@link QuantModelsReference} on the scalar Java reference backend. */
class QuantModelsReferenceTest extends QuantModelsReference {
    @Override
    protected Backend backend() {
        return new JavaBackend();
    }
}
