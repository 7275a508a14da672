package io.llmj.tokenizer;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * Read access to GGUF-style key/value metadata ({@code tokenizer.ggml.*}, {@code general.name}).
 * The same shape as the GGUF reader's accessors, so a GGUF file adapts with method references.
 */
public interface TokenizerMetadata {
    Optional<String> string(String key);

    OptionalLong integer(String key);

    Optional<Boolean> bool(String key);

    /** Empty if absent. */
    List<String> stringArray(String key);

    /** Null if absent. */
    float[] floatArray(String key);

    /** Null if absent. */
    int[] intArray(String key);

    /** The file the metadata came from, for error messages (may be null). */
    default Path file() {
        return null;
    }
}
