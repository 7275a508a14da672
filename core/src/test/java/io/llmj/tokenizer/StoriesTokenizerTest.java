package io.llmj.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.StreamingDecoder;
import io.llmj.Tokenizer;
import io.llmj.format.json.Json;
import io.llmj.testing.TestData;
import java.nio.charset.StandardCharsets;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** stories260K's SentencePiece vocabulary against llama.cpp's reference prompts and generations. */
class StoriesTokenizerTest {

    static Tokenizer tokenizer() {
        return Tokenizers.load(TestData.require("models/stories260K.gguf"));
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> cases(String file) {
        Map<String, Object> root = (Map<String, Object>) Json.parse(TestData.require("reference/" + file));
        return (List<Map<String, Object>>) root.get("cases");
    }

    static int[] ints(Object list) {
        return ((List<?>) list).stream().mapToInt(o -> ((Number) o).intValue()).toArray();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"stories260K-greedy-f32kv.json", "stories260K-greedy-default-f16kv.json"})
    void promptsAndGenerations(String file) {
        Tokenizer tok = tokenizer();
        for (Map<String, Object> c : cases(file)) {
            String prompt = (String) c.get("prompt");
            int[] promptIds = ints(c.get("prompt_token_ids"));
            assertArrayEquals(promptIds, tok.encode(prompt, true, false), prompt);

            int[] gen = ints(c.get("generated_token_ids"));
            List<?> hex = (List<?>) c.get("generated_token_pieces_hex");
            for (int i = 0; i < gen.length; i++) {
                assertEquals(hex.get(i), HexFormat.of().formatHex(tok.tokenBytes(gen[i])), "piece of " + gen[i]);
            }
            String generated = (String) c.get("generated_text");
            // decode() strips the SPM leading space of the first token only; as a continuation it is kept
            int[] all = concat(promptIds, gen);
            String full = tok.decode(all);
            String head = tok.decode(promptIds);
            assertEquals(head + generated, full);
            assertEquals(streamAll(tok, all), full);
            StreamingDecoder sd = tok.newStreamingDecoder();
            StringBuilder sb = new StringBuilder();
            for (int id : all) {
                String piece = sd.next(id);
                assertNoBrokenCodePoint(piece);
                sb.append(piece);
            }
            sb.append(sd.flush());
            assertEquals(full, sb.toString());
        }
    }

    @Test
    void specialTokenIdsAndFlags() {
        Tokenizer tok = tokenizer();
        assertEquals(512, tok.vocabSize());
        assertEquals(1, tok.bos());
        assertEquals(2, tok.eos());
        assertTrue(tok.isEndOfGeneration(2));
        assertFalse(tok.isEndOfGeneration(1));
        assertArrayEquals(new int[] {1, 403, 407, 261, 378}, tok.encode("Once upon a time"));
        assertArrayEquals(new int[] {403, 407, 261, 378}, tok.encode("Once upon a time", false, false));
        assertArrayEquals(new int[0], tok.encode("", false, false));
        assertArrayEquals(new int[] {1}, tok.encode("", true, false));
        // parse_special: "</s>" is the EOS control token only when parsing special tokens
        int[] plain = tok.encode("a</s>", false, false);
        int[] parsed = tok.encode("a</s>", false, true);
        assertFalse(contains(plain, 2));
        assertEquals(2, parsed[parsed.length - 1]);
        // as llama.cpp's detokenize(remove_special=false): the space is stripped from the first token only (here BOS)
        assertEquals(" Once upon a time", tok.decode(tok.encode("Once upon a time"), false));
        assertEquals("Once upon a time", tok.decode(tok.encode("Once upon a time", false, false)));
        assertEquals("<s> Once upon a time", tok.decode(tok.encode("Once upon a time")));
    }

    @Test
    void emojiStreamsWithoutBrokenCodePoints() {
        Tokenizer tok = tokenizer();
        int[] ids = tok.encode("Tim saw a big café 🐶", true, false);
        // the emoji is four byte tokens <0xF0><0x9F><0x90><0xB6>
        assertArrayEquals(new int[] {3 + 0xF0, 3 + 0x9F, 3 + 0x90, 3 + 0xB6}, java.util.Arrays.copyOfRange(ids, ids.length - 4, ids.length));
        StreamingDecoder sd = tok.newStreamingDecoder();
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            String s = sd.next(ids[i]);
            assertNoBrokenCodePoint(s);
            if (i >= ids.length - 4 && i < ids.length - 1) {
                assertEquals("", s, "bytes of an incomplete code point are held back");
            }
            sb.append(s);
        }
        sb.append(sd.flush());
        assertEquals(tok.decode(ids), sb.toString());
        assertTrue(sb.toString().endsWith("café 🐶"));
    }

    @Test
    void invalidBytesBecomeReplacementOnlyWhenDefinitelyInvalid() {
        Tokenizer tok = tokenizer();
        int f0 = 3 + 0xF0;
        int x41 = 3 + 0x41;
        StreamingDecoder sd = tok.newStreamingDecoder();
        assertEquals("", sd.next(f0));
        assertEquals("\uFFFDA", sd.next(x41));
        assertEquals("", sd.next(f0));
        assertEquals("\uFFFD", sd.flush());
    }

    static String streamAll(Tokenizer tok, int[] ids) {
        StreamingDecoder sd = tok.newStreamingDecoder();
        StringBuilder sb = new StringBuilder();
        for (int id : ids) {
            sb.append(sd.next(id));
        }
        return sb.append(sd.flush()).toString();
    }

    static void assertNoBrokenCodePoint(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                assertTrue(i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1)), "split surrogate pair");
                i++;
            } else {
                assertFalse(Character.isLowSurrogate(c), "lone low surrogate");
            }
        }
        assertEquals(s, new String(s.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8));
    }

    static int[] concat(int[] a, int[] b) {
        int[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    static boolean contains(int[] a, int v) {
        for (int x : a) {
            if (x == v) {
                return true;
            }
        }
        return false;
    }
}
