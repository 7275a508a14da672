package io.llmj;

import java.nio.file.Path;

/**
 * A model, tokenizer or configuration file is malformed or unsupported. The message names the file,
 * the place in it (byte offset, key or tensor name) and the problem.
 */
public class ModelFormatException extends LlmjException {
    private final transient Path file;
    private final String location;

    /**
     * @param file     the file (may be null when parsing from memory)
     * @param location where in the file: "offset 1234", "key general.alignment", "tensor blk.0.attn_q.weight"
     * @param problem  what is wrong
     */
    public ModelFormatException(Path file, String location, String problem) {
        this(file, location, problem, null);
    }

    public ModelFormatException(Path file, String location, String problem, Throwable cause) {
        super((file == null ? "<memory>" : file.toString()) + (location == null || location.isEmpty() ? "" : " at " + location)
                + ": " + problem, cause);
        this.file = file;
        this.location = location;
    }

    /** The offending file, or null. */
    public Path file() {
        return file;
    }

    /** Where in the file the problem is, or null. */
    public String location() {
        return location;
    }
}
