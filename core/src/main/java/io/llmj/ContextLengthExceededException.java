package io.llmj;

/** A generation needs more positions than the context it was given. */
public class ContextLengthExceededException extends LlmjException {
    private final int needed;
    private final int contextLength;

    public ContextLengthExceededException(int needed, int contextLength) {
        super("context length exceeded: " + needed + " positions needed, the context holds " + contextLength);
        this.needed = needed;
        this.contextLength = contextLength;
    }

    public int needed() {
        return needed;
    }

    public int contextLength() {
        return contextLength;
    }
}
