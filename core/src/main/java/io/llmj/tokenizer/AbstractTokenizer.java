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

    /**
     * Appends the bytes of token {@code id}; {@code first} is true for the first token of a sequence.
     * Returns false if the token was skipped entirely (then the next token is still "first").
     */
    abstract boolean appendPiece(ByteArrayOutputStream out, int id, boolean first, boolean renderSpecial);

    /** {@link #byteGroup} result for a token the decoder never sees. */
    static final int SKIPPED = -2;

    /**
     * For decoders that treat runs of byte tokens as a unit (Hugging Face ByteFallback: a run that is
     * not valid UTF-8 becomes one U+FFFD per byte): the byte this token stands for, -1 if it is not
     * such a token, or {@link #SKIPPED}.
     */
    int byteGroup(int id, boolean renderSpecial) {
        return -1;
    }

    private static final byte[] REPLACEMENT = {(byte) 0xEF, (byte) 0xBF, (byte) 0xBD};

    /** Writes a finished byte run: as is if valid UTF-8, else U+FFFD per byte. */
    static void flushGroup(ByteArrayOutputStream group, ByteArrayOutputStream out) {
        if (group.size() == 0) {
            return;
        }
        byte[] g = group.toByteArray();
        group.reset();
        try {
            StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(g));
            out.write(g, 0, g.length);
        } catch (java.nio.charset.CharacterCodingException e) {
            for (int i = 0; i < g.length; i++) {
                out.write(REPLACEMENT, 0, 3);
            }
        }
    }

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
        ByteArrayOutputStream group = new ByteArrayOutputStream();
        boolean first = true;
        for (int id : ids) {
            checkId(id);
            int g = byteGroup(id, renderSpecial);
            if (g == SKIPPED) {
                continue;
            }
            if (g >= 0) {
                group.write(g);
                first = false;
                continue;
            }
            flushGroup(group, out);
            if (appendPiece(out, id, first, renderSpecial)) {
                first = false;
            }
        }
        flushGroup(group, out);
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
        private final ByteArrayOutputStream group = new ByteArrayOutputStream();
        private ByteBuffer pending = ByteBuffer.allocate(0);
        private boolean first;
        // clean-up support: decoded text not yet cleaned and emitted
        private final StringBuilder raw = new StringBuilder();

        Streaming(boolean atStart) {
            first = atStart;
        }

        @Override
        public String next(int id) {
            checkId(id);
            piece.reset();
            int g = byteGroup(id, true);
            if (g == SKIPPED) {
                return "";
            }
            if (g >= 0) { // held until the run ends: only then is its validity known
                group.write(g);
                first = false;
                return "";
            }
            flushGroup(group, piece);
            if (appendPiece(piece, id, first, true)) {
                first = false;
            }
            return decodeBytes(piece.toByteArray());
        }

        private String decodeBytes(byte[] b) {
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
            piece.reset();
            flushGroup(group, piece);
            String head = decodeBytes(piece.toByteArray());
            CharBuffer cb = CharBuffer.allocate(pending.remaining() + 2);
            dec.decode(pending, cb, true);
            dec.flush(cb);
            dec.reset();
            pending = ByteBuffer.allocate(0);
            cb.flip();
            return head + emit(cb.toString(), true);
        }

        /**
         * With a clean-up, text is emitted only up to a cut after two characters that are neither a
         * space nor an apostrophe: llama.cpp's clean-up passes never look across such a cut, so
         * cleaning the parts separately equals cleaning the whole.
         */
        private String emit(String text, boolean end) {
            if (!hasCleanUp()) {
                return text;
            }
            raw.append(text);
            int k = raw.length();
            if (!end) {
                while (k >= 2 && !safeCut(raw.charAt(k - 2), raw.charAt(k - 1))) {
                    k--;
                }
                if (k < 2) {
                    return "";
                }
            }
            String out = cleanUp(raw.substring(0, k));
            raw.delete(0, k);
            return out;
        }

        private static boolean safeCut(char a, char b) {
            return a != ' ' && a != '\'' && b != ' ' && b != '\'' && !Character.isHighSurrogate(b);
        }
    }
}
