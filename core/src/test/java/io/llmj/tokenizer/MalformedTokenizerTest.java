package io.llmj.tokenizer;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ModelFormatException;
import io.llmj.format.gguf.GgufWriter;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Broken tokenizer metadata and tokenizer.json files are reported as ModelFormatException. */
class MalformedTokenizerTest {
    @TempDir
    Path dir;

    /** A small valid gpt2 vocabulary: a, b, ab, plus the merge "a b". */
    private GgufWriter gpt2() {
        return new GgufWriter()
                .putString("general.architecture", "gpt2")
                .putString("tokenizer.ggml.model", "gpt2")
                .putString("tokenizer.ggml.pre", "gpt-2")
                .putStringArray("tokenizer.ggml.tokens", List.of("a", "b", "ab", "<|endoftext|>"))
                .putInt32Array("tokenizer.ggml.token_type", new int[] {1, 1, 1, 3})
                .putStringArray("tokenizer.ggml.merges", List.of("a b"))
                .putUInt32("tokenizer.ggml.bos_token_id", 3)
                .putUInt32("tokenizer.ggml.eos_token_id", 3);
    }

    private Path write(GgufWriter w) {
        Path p = dir.resolve("t" + System.nanoTime() + ".gguf");
        w.write(p);
        return p;
    }

    private void assertGgufFails(Consumer<GgufWriter> edit, String messagePart) {
        GgufWriter w = gpt2();
        edit.accept(w);
        Path p = write(w);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Tokenizers.load(p));
        assertTrue(e.getMessage().contains(messagePart), e.getMessage());
    }

    @Test
    void validGgufVocabularyLoads() {
        var tok = Tokenizers.load(write(gpt2()));
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {2, 0}, tok.encode("aba", false, false));
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {3}, tok.encode("<|endoftext|>", false, true));
    }

    @Test
    void ggufProblems() {
        assertGgufFails(w -> w.remove("tokenizer.ggml.tokens"), "vocabulary");
        assertGgufFails(w -> w.remove("tokenizer.ggml.model"), "tokenizer model");
        assertGgufFails(w -> w.putString("tokenizer.ggml.model", "nonsense"), "unsupported tokenizer model");
        assertGgufFails(w -> w.remove("tokenizer.ggml.merges"), "merges");
        assertGgufFails(w -> w.putStringArray("tokenizer.ggml.merges", List.of("a c")), "not in the vocabulary");
        assertGgufFails(w -> w.putStringArray("tokenizer.ggml.merges", List.of("ab")), "separated by a space");
        assertGgufFails(w -> w.putUInt32("tokenizer.ggml.bos_token_id", 1000), "outside the vocabulary");
        assertGgufFails(w -> w.putInt32Array("tokenizer.ggml.token_type", new int[] {1}), "entries for 4 tokens");
        assertGgufFails(w -> w.putFloat32Array("tokenizer.ggml.scores", new float[] {0f, 1f}), "entries for 4 tokens");
        assertGgufFails(w -> w.putString("tokenizer.ggml.pre", "no-such-pre"), "unknown pre-tokenizer");
        assertGgufFails(w -> w.putStringArray("tokenizer.ggml.tokens", List.of("a", "b", "ab", "a")), "duplicate token");
        assertGgufFails(w -> w.putBool("tokenizer.ggml.add_eos_token", true).remove("tokenizer.ggml.eos_token_id")
                .putUInt32("tokenizer.ggml.eos_token_id", 0xFFFFFFFFL).putString("tokenizer.ggml.model", "bert"), "no EOS");
    }

    private void assertJsonFails(String json, String messagePart) throws IOException {
        Path p = dir.resolve("tokenizer" + System.nanoTime() + ".json");
        Files.writeString(p, json);
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Tokenizers.load(p));
        assertTrue(e.getMessage().contains(messagePart), e.getMessage());
    }

    private static String tj(String model, String extra) {
        return "{\"version\":\"1.0\",\"model\":" + model + extra + "}";
    }

    @Test
    void tokenizerJsonProblems() throws IOException {
        String ok = "{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}";
        Path good = dir.resolve("tokenizer.json");
        Files.writeString(good, tj(ok, ""));
        org.junit.jupiter.api.Assertions.assertArrayEquals(new int[] {2, 1}, Tokenizers.load(dir).encode("abb", false, false));

        assertJsonFails(tj("{\"type\":\"BPE\",\"merges\":[]}", ""), "missing vocabulary");
        assertJsonFails("{\"version\":\"1.0\"}", "model");
        assertJsonFails(tj("{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a c\"]}", ""), "not in the vocabulary");
        assertJsonFails(tj("{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}", ""), "merge result");
        assertJsonFails(tj("{\"type\":\"BPE\",\"vocab\":{\"a\":-1,\"b\":1},\"merges\":[]}", ""), "bad token id");
        assertJsonFails(tj("{\"type\":\"BPE\",\"vocab\":{\"a\":\"x\",\"b\":1},\"merges\":[]}", ""), "bad token id");
        assertJsonFails(tj("{\"type\":\"BPE\",\"vocab\":{\"a\":2000000000,\"b\":1},\"merges\":[]}", ""), "bad token id");
        assertJsonFails(tj("{\"type\":\"BPE\",\"vocab\":{\"a\":1,\"b\":1},\"merges\":[]}", ""), "used twice");
        assertJsonFails(tj(ok, ",\"added_tokens\":[{\"id\":1.5,\"content\":\"<s>\"}]"), "bad token id");
        assertJsonFails(tj("{\"type\":\"Unigram\",\"vocab\":[]}", ""), "unsupported model type");
        assertJsonFails(tj(ok, ",\"pre_tokenizer\":{\"type\":\"Magic\"}"), "unsupported pre_tokenizer");
        assertJsonFails(tj(ok, ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}"), "regex");
        assertJsonFails("{\"model\": {", "invalid JSON");
        assertJsonFails(tj(ok, ",\"post_processor\":{\"type\":\"Sequence\",\"processors\":7}"), "malformed tokenizer.json");
        assertJsonFails(tj(ok, ",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Sideways\"}"), "split behavior");
    }
}
