package io.llmj.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.StreamingDecoder;
import io.llmj.Tokenizer;
import io.llmj.format.json.Json;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

/** tokenizer.json files of testdata/hf-tokenizers against Hugging Face tokenizers' own ids. */
class HfTokenizerTest {

    static Tokenizer load(String folder) {
        return Tokenizers.load(TestData.require("hf-tokenizers/" + folder));
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> reference(String folder) {
        Map<String, Object> root = (Map<String, Object>) Json.parse(TestData.require("hf-tokenizers/hf-reference.json"));
        return (List<Map<String, Object>>) ((Map<String, Object>) root.get("models")).get(folder);
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama3", "qwen3", "mistral-spm"})
    void reproducesHuggingFace(String folder) {
        Tokenizer tok = load(folder);
        List<Map<String, Object>> ref = reference(folder);
        assertEquals(46, ref.size());
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < ref.size(); i++) {
            Map<String, Object> c = ref.get(i);
            String text = (String) c.get("text");
            int[] ids = StoriesTokenizerTest.ints(c.get("ids"));
            int[] withSpecial = StoriesTokenizerTest.ints(c.get("ids_with_special"));
            String decoded = (String) c.get("decoded");
            // HF always recognises added special tokens in text: parse_special = true
            int[] got = tok.encode(text, false, true);
            int[] gotSpecial = tok.encode(text, true, true);
            String gotDecoded = tok.decode(ids);
            if (!Arrays.equals(ids, got)) {
                failures.add("#" + i + " ids " + Arrays.toString(ids) + " got " + Arrays.toString(got));
            }
            if (!Arrays.equals(withSpecial, gotSpecial)) {
                failures.add("#" + i + " ids_with_special " + Arrays.toString(withSpecial) + " got " + Arrays.toString(gotSpecial));
            }
            if (!decoded.equals(gotDecoded)) {
                failures.add("#" + i + " decoded '" + decoded + "' got '" + gotDecoded + "'");
            }
            String streamed = StoriesTokenizerTest.streamAll(tok, ids);
            if (!gotDecoded.equals(streamed)) {
                failures.add("#" + i + " streamed '" + streamed + "' vs decoded '" + gotDecoded + "'");
            }
        }
        assertEquals("", String.join("\n", failures), folder + ": " + failures.size() + " mismatches");
    }

    /** llama.cpp's own suites for the same vocabularies (llama-bpe = Llama 3, qwen2 = Qwen). */
    @ParameterizedTest(name = "{0} vs {1}")
    @CsvSource({"llama3, llamacpp-llama-bpe", "qwen3, llamacpp-qwen2"})
    void matchesLlamaCppSuites(String folder, String suite) {
        Tokenizer tok = load(folder);
        Path inp = TestData.require("hf-tokenizers/" + suite + ".inp");
        Path out = TestData.require("hf-tokenizers/" + suite + ".out");
        for (VocabSuites.Case c : VocabSuites.cases(inp, out)) {
            assertArrayEquals(c.ids(), tok.encode(c.text(), false, false), c.toString());
        }
    }

    @Test
    void multiByteTextStreamsWithoutBrokenCodePoints() {
        for (String folder : new String[] {"llama3", "qwen3", "mistral-spm"}) {
            Tokenizer tok = load(folder);
            String text = "Cửa Việt 🐶🦙 日本語のテキスト ½ Führer ﷽ 𝕏 ∑";
            int[] ids = tok.encode(text, false, false);
            StreamingDecoder sd = tok.newStreamingDecoder();
            StringBuilder sb = new StringBuilder();
            for (int id : ids) {
                String s = sd.next(id);
                StoriesTokenizerTest.assertNoBrokenCodePoint(s);
                sb.append(s);
            }
            sb.append(sd.flush());
            assertEquals(tok.decode(ids), sb.toString(), folder);
            assertEquals(text, sb.toString(), folder);
        }
    }

    @Test
    void specialTokens() {
        Tokenizer llama3 = load("llama3");
        assertEquals(128000, llama3.bos());
        assertEquals(128001, llama3.eos());
        assertTrue(llama3.isEndOfGeneration(128009)); // <|eot_id|>
        assertArrayEquals(new int[] {128000, 9906}, llama3.encode("<|begin_of_text|>Hello", false, true));
        assertTrue(llama3.encode("<|begin_of_text|>Hello", false, false).length > 2);
        Tokenizer qwen = load("qwen3");
        assertEquals(151645, qwen.eos());
        assertTrue(qwen.isEndOfGeneration(151645));
        assertTrue(qwen.isEndOfGeneration(151643));
        Tokenizer mistral = load("mistral-spm");
        assertEquals(1, mistral.bos());
        assertEquals(2, mistral.eos());
        int[] ids = mistral.encode("Hello", true, false);
        assertEquals(1, ids[0]);
        assertEquals("Hello", mistral.decode(Arrays.copyOfRange(ids, 1, ids.length)));
    }
}
