package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.JavaBackend;

/** {@link GptqHfTinyReference} on the Java reference backend: the same float products, so 1e-4. */
class GptqHfTinyReferenceTest extends GptqHfTinyReference {
    @Override
    protected Backend backend() {
        return new JavaBackend();
    }

    @Override
    protected double tolerance() {
        return 1e-4;
    }
}
