package io.llmj;

/** Base class of every exception llmj throws on purpose. Unchecked, like {@link java.io.UncheckedIOException}. */
public class LlmjException extends RuntimeException {
    public LlmjException(String message) {
        super(message);
    }

    public LlmjException(String message, Throwable cause) {
        super(message, cause);
    }
}
