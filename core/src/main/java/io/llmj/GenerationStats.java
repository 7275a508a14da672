package io.llmj;

/**
 * Timings of the last generation of a {@link Generator}.
 *
 * @param promptTokens    tokens in the prompt
 * @param generatedTokens tokens sampled (including a final end-of-generation token)
 * @param prefillNanos    time to process the prompt, up to the first token's logits
 * @param decodeNanos     time spent computing the logits of the tokens after the first
 */
public record GenerationStats(int promptTokens, int generatedTokens, long prefillNanos, long decodeNanos) {

    /** Time to first token, in milliseconds (prompt processing plus the first sample). */
    public double ttftMillis() {
        return prefillNanos / 1e6;
    }

    /** Prompt tokens per second. */
    public double prefillTokensPerSecond() {
        return prefillNanos == 0 ? 0 : promptTokens * 1e9 / prefillNanos;
    }

    /** Generated tokens per second after the first one. */
    public double decodeTokensPerSecond() {
        return decodeNanos == 0 || generatedTokens < 2 ? 0 : (generatedTokens - 1) * 1e9 / decodeNanos;
    }
}
