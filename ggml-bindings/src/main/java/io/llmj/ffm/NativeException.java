package io.llmj.ffm;

import io.llmj.LlmjException;

/** A native llmj call returned an error status; the message is the native side's own explanation. */
public class NativeException extends LlmjException {
    private final int status;

    public NativeException(int status, String message) {
        super(message);
        this.status = status;
    }

    /** The LLMJ_ERR_* code (see llmj.h). */
    public int status() {
        return status;
    }
}
