package io.llmj.tokenizer;

import io.llmj.StreamingDecoder;
import io.llmj.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Shared decoding: a tokenizer describes the bytes each token contributes ({@link #appendPiece});
 * decoding concatenates them and decodes UTF-8 (U+FFFD for invalid bytes), then applies an optional
 * text clean-up. The streaming decoder does the same incrementally.
 */
abstract class AbstractTokenizer implements Tokenizer {

    /** Appends the bytes of token {@code id}; {@code first} is true for the first token of a sequence. */
    abstract void appendPiece(ByteArrayOutputStream out, int id, boolean first, boolean renderSpecial);

    /** Clean-up applied to the whole decoded text (identity unless overridden). */
    String cleanUp(String text) {
        return text;
    }

    /** Whether {@link #cleanUp} changes anything (then streaming holds back a few characters). */
    boolean hasCleanUp() {
        return false;
    }

    void checkId(int id) {
        if (id < 0 || id >= vocabSize()) {
            throw new IllegalArgumentException("token id " + id + " out of range [0, " + vocabSize() + ")");
        }
    }

    @Override
    public String decode(int[] ids, boolean renderSpecial) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(ids.length * 4);
        for (int i = 0; i < ids.length; i++) {
            checkId(ids[i]);
            appendPiece(out, ids[i], i == 0, renderSpecial);
        }
        return cleanUp(new String(out.toByteArray(), StandardCharsets.UTF_8));
    }

    @Override
    public StreamingDecoder newStreamingDecoder() {
        return new Streaming(true);
    }

    @Override
    public StreamingDecoder newContinuationDecoder() {
        return new Streaming(false);
    }

    private final class Streaming implements StreamingDecoder {
        private final CharsetDecoder dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE);
        private final ByteArrayOutputStream piece = new ByteArrayOutputStream();
        private ByteBuffer pending = ByteBuffer.allocate(0);
        private boolean first;
        // clean-up support: all raw text so far and how much of its cleaned form was emitted
        private final StringBuilder raw = new StringBuilder();
        private int emitted;

        Streaming(boolean atStart) {
            first = atStart;
        }

        @Override
        public String next(int id) {
            checkId(id);
            piece.reset();
            appendPiece(piece, id, first, true);
            first = false;
            byte[] b = piece.toByteArray();
            ByteBuffer in = ByteBuffer.allocate(pending.remaining() + b.length);
            in.put(pending).put(b).flip();
            CharBuffer cb = CharBuffer.allocate(in.remaining() + 1);
            dec.decode(in, cb, false);
            pending = in; // unconsumed tail: an incomplete but still possible sequence
            cb.flip();
            return emit(cb.toString(), false);
        }

        @Override
        public String flush() {
            CharBuffer cb = CharBuffer.allocate(pending.remaining() + 2);
            dec.decode(pending, cb, true);
            dec.flush(cb);
            dec.reset();
            pending = ByteBuffer.allocate(0);
            cb.flip();
            return emit(cb.toString(), true);
        }

        private String emit(String text, boolean end) {
            if (!hasCleanUp()) {
                return text;
            }
            raw.append(text);
            String cleaned = cleanUp(raw.toString());
            int upTo = end ? cleaned.length() : Math.max(emitted, cleaned.length() - 4);
            // never split a surrogate pair
            if (upTo > emitted && upTo < cleaned.length() && Character.isHighSurrogate(cleaned.charAt(upTo - 1))) {
                upTo--;
            }
            String out = cleaned.substring(emitted, upTo);
            emitted = upTo;
            return out;
        }
    }
}
