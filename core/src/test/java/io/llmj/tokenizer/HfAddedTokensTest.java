package io.llmj.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmj.Tokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Added-token matching rules of Hugging Face tokenizers on a tiny byte-free BPE vocabulary. */
class HfAddedTokensTest {
    @TempDir
    Path dir;

    private Tokenizer tokenizer(String addedFlags) throws Exception {
        String json = """
                {"version":"1.0",
                 "added_tokens":[{"id":4,"content":"<m>","special":true,"normalized":false,%s},
                                 {"id":5,"content":"xy","special":false,"normalized":true,"single_word":false,"lstrip":false,"rstrip":false}],
                 "normalizer":{"type":"Lowercase"},
                 "model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"x":3,"y":6," ":7},"merges":["a b"]}}
                """.formatted(addedFlags);
        Path p = dir.resolve("tokenizer" + System.nanoTime() + ".json");
        Files.writeString(p, json);
        return Tokenizers.load(p);
    }

    @Test
    void plain() throws Exception {
        Tokenizer t = tokenizer("\"single_word\":false,\"lstrip\":false,\"rstrip\":false");
        assertArrayEquals(new int[] {2, 4, 1}, t.encode("ab<m>b", false, true));
        assertArrayEquals(new int[] {2, 7, 4, 7, 1}, t.encode("ab <m> b", false, true));
        // special tokens are plain text when parse_special is off (no "<", "m", ">" in this vocabulary)
        // "<", "m", ">" are not in the vocabulary and there is no unk_token: they are dropped
        assertArrayEquals(new int[] {2, 1}, t.encode("ab<m>b", false, false));
        // normalized added token: matched after lower-casing
        assertArrayEquals(new int[] {0, 5, 1}, t.encode("aXYb", false, true));
        assertEquals("ab<m>b", t.decode(new int[] {2, 4, 1}));
        assertEquals("abb", t.decode(new int[] {2, 4, 1}, false));
    }

    @Test
    void singleWord() throws Exception {
        Tokenizer t = tokenizer("\"single_word\":true,\"lstrip\":false,\"rstrip\":false");
        assertArrayEquals(new int[] {0, 7, 4, 7, 1}, t.encode("a <m> b", false, true));
        // not a separate word: stays text; "<", "m", ">" are unknown and dropped (no unk_token), so "a b" merge
        assertArrayEquals(new int[] {2}, t.encode("a<m>b", false, true));
    }

    @Test
    void lstripAndRstrip() throws Exception {
        Tokenizer l = tokenizer("\"single_word\":false,\"lstrip\":true,\"rstrip\":false");
        assertArrayEquals(new int[] {2, 4, 7, 1}, l.encode("ab  <m> b", false, true));
        Tokenizer r = tokenizer("\"single_word\":false,\"lstrip\":false,\"rstrip\":true");
        assertArrayEquals(new int[] {2, 7, 4, 1}, r.encode("ab <m>  b", false, true));
    }

    @Test
    void digitsAndWhitespacePreTokenizers() throws Exception {
        String json = """
                {"model":{"type":"BPE","vocab":{"1":0,"2":1,"12":2,"a":3},"merges":["1 2"]},
                 "pre_tokenizer":{"type":"Sequence","pretokenizers":[%s{"type":"WhitespaceSplit"}]}}
                """;
        Path p1 = dir.resolve("digits.json");
        Files.writeString(p1, json.formatted("{\"type\":\"Digits\",\"individual_digits\":true},"));
        Path p2 = dir.resolve("plain.json");
        Files.writeString(p2, json.formatted(""));
        assertArrayEquals(new int[] {3, 0, 1, 3}, Tokenizers.load(p1).encode("a12 a", false, false));
        assertArrayEquals(new int[] {3, 2, 3}, Tokenizers.load(p2).encode("a12 a", false, false));
    }
}
