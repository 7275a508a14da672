package io.llmj;

/**
 * Converts text to token ids and back. Instances are immutable and thread-safe; obtain one from
 * {@link io.llmj.tokenizer.Tokenizers#load(java.nio.file.Path)} (GGUF file, Hugging Face folder or
 * {@code tokenizer.json}).
 *
 * <pre>{@code
 * Tokenizer tok = Tokenizers.load(Path.of("model.gguf"));
 * int[] ids = tok.encode("Hello world", true, false);
 * String text = tok.decode(ids);
 * }</pre>
 */
public interface Tokenizer {

    /**
     * Encodes {@code text}.
     *
     * @param addSpecial   add the tokens the vocabulary asks for (BOS, EOS, CLS/SEP, post-processor template)
     * @param parseSpecial recognise the text of control/special tokens (e.g. {@code <|eot_id|>}) in {@code text};
     *                     when false they are tokenized as plain text. User-defined added tokens are always recognised.
     */
    int[] encode(String text, boolean addSpecial, boolean parseSpecial);

    /** {@code encode(text, true, false)}. */
    default int[] encode(String text) {
        return encode(text, true, false);
    }

    /** Decodes ids to text, rendering special tokens as their text. Invalid UTF-8 becomes U+FFFD. */
    default String decode(int[] ids) {
        return decode(ids, true);
    }

    /** Decodes ids to text; special (control) tokens are rendered only when {@code renderSpecial}. */
    String decode(int[] ids, boolean renderSpecial);

    /** The bytes one token stands for in the middle of a text (special tokens rendered); may be a partial UTF-8 sequence. */
    byte[] tokenBytes(int id);

    /** Number of ids (vocabulary plus added tokens). */
    int vocabSize();

    /** Beginning-of-sequence id, or -1 if none. */
    int bos();

    /** End-of-sequence id, or -1 if none. */
    int eos();

    /** Whether generating {@code id} ends generation (EOS, EOT, {@code <|im_end|>}, ...). */
    boolean isEndOfGeneration(int id);

    /**
     * A decoder fed one id at a time. The concatenation of everything it returns equals
     * {@link #decode(int[]) decode} of all ids fed, and no returned string ends inside a code point.
     */
    StreamingDecoder newStreamingDecoder();

    /**
     * A streaming decoder for tokens that continue earlier text (generated tokens after a prompt): the
     * first token is decoded like any later one (a SentencePiece leading space is kept).
     */
    StreamingDecoder newContinuationDecoder();
}
