package io.llmj;

/**
 * A compute backend cannot be used on this machine: its native library is missing, the CPU lacks a
 * feature, no GPU or driver is present, and so on. The message says what was needed and what was found.
 */
public class BackendUnavailableException extends LlmjException {
    public BackendUnavailableException(String message) {
        super(message);
    }

    public BackendUnavailableException(String message, Throwable cause) {
        super(message, cause);
    }
}
