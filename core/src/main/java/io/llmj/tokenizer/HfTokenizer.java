package io.llmj.tokenizer;

import io.llmj.Tokenizer;
import java.nio.file.Path;

/** Placeholder; replaced by the tokenizer.json implementation. */
final class HfTokenizer {
    static Tokenizer load(Path p) {
        throw new UnsupportedOperationException("tokenizer.json not yet supported");
    }
}
