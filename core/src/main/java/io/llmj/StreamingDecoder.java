package io.llmj;

/**
 * Incremental detokenizer from {@link Tokenizer#newStreamingDecoder()}. Not thread-safe. Bytes of a
 * code point that spans several tokens are held back until the code point is complete; a sequence
 * becomes U+FFFD only once it can no longer become valid UTF-8.
 */
public interface StreamingDecoder {

    /** Feeds one id; returns the text that became complete (possibly empty, never a partial code point). */
    String next(int id);

    /** Ends the stream: returns held-back bytes, incomplete sequences replaced by U+FFFD. */
    String flush();
}
