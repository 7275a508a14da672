package io.llmj.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmj.format.gguf.GgufWriter;
import io.llmj.format.json.Json;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The llama-bpe (Llama 3) and qwen2 GGUF vocabularies are not in the test data, so this test builds
 * them from the tokenizer.json files the way llama.cpp's converter does (tokens in id order, added
 * special tokens as CONTROL, merges as "a b") and runs llama.cpp's own suites for them.
 */
class ConvertedVocabTest {
    @TempDir
    Path dir;

    @SuppressWarnings("unchecked")
    static Path convert(Path tokenizerJson, String pre, Path out) {
        return convert(tokenizerJson, pre, out, -1, -1);
    }

    @SuppressWarnings("unchecked")
    static Path convert(Path tokenizerJson, String pre, Path out, int bos, int eos) {
        Map<String, Object> root = (Map<String, Object>) Json.parse(tokenizerJson);
        Map<String, Object> model = (Map<String, Object>) root.get("model");
        Map<String, Object> vocab = (Map<String, Object>) model.get("vocab");
        List<Map<String, Object>> added = (List<Map<String, Object>>) root.get("added_tokens");
        int size = vocab.size();
        for (Map<String, Object> t : added) {
            size = Math.max(size, ((Number) t.get("id")).intValue() + 1);
        }
        String[] tokens = new String[size];
        int[] types = new int[size];
        Arrays.fill(types, Vocabulary.TYPE_NORMAL);
        vocab.forEach((k, v) -> tokens[((Number) v).intValue()] = k);
        for (Map<String, Object> t : added) {
            int id = ((Number) t.get("id")).intValue();
            tokens[id] = (String) t.get("content");
            types[id] = Boolean.TRUE.equals(t.get("special")) ? Vocabulary.TYPE_CONTROL : Vocabulary.TYPE_USER_DEFINED;
        }
        for (int i = 0; i < size; i++) {
            if (tokens[i] == null) {
                tokens[i] = "[PAD" + i + "]";
                types[i] = Vocabulary.TYPE_UNUSED;
            }
        }
        List<String> merges = new ArrayList<>();
        for (Object m : (List<?>) model.get("merges")) {
            merges.add(m instanceof String s ? s : ((List<?>) m).get(0) + " " + ((List<?>) m).get(1));
        }
        GgufWriter w = new GgufWriter();
        if (bos >= 0) {
            w.putUInt32("tokenizer.ggml.bos_token_id", bos);
        }
        if (eos >= 0) {
            w.putUInt32("tokenizer.ggml.eos_token_id", eos);
        }
        w.putString("general.architecture", "llama")
                .putString("tokenizer.ggml.model", "gpt2")
                .putString("tokenizer.ggml.pre", pre)
                .putStringArray("tokenizer.ggml.tokens", List.of(tokens))
                .putInt32Array("tokenizer.ggml.token_type", types)
                .putStringArray("tokenizer.ggml.merges", merges)
                .write(out);
        return out;
    }

    @ParameterizedTest(name = "{1}")
    @CsvSource({"llama3, llama-bpe", "qwen3, qwen2"})
    void llamaCppSuite(String folder, String pre) {
        Path gguf = convert(TestData.require("hf-tokenizers/" + folder + "/tokenizer.json"), pre, dir.resolve(pre + ".gguf"));
        var tok = Tokenizers.load(gguf);
        List<String> failures = new ArrayList<>();
        for (VocabSuites.Case c : VocabSuites.cases(TestData.require("hf-tokenizers/llamacpp-" + pre + ".inp"),
                TestData.require("hf-tokenizers/llamacpp-" + pre + ".out"))) {
            int[] got = tok.encode(c.text(), false, false);
            if (!Arrays.equals(c.ids(), got)) {
                failures.add(c + " expected " + Arrays.toString(c.ids()) + " got " + Arrays.toString(got));
            }
        }
        assertEquals("", String.join("\n", failures));
    }

    @org.junit.jupiter.api.Test
    void llama3SpecialTokens() {
        Path gguf = convert(TestData.require("hf-tokenizers/llama3/tokenizer.json"), "llama-bpe", dir.resolve("l3.gguf"), 128000, 128001);
        var tok = Tokenizers.load(gguf);
        assertEquals(128000, tok.bos());
        // llama-bpe: add_bos defaults to true
        assertEquals(List.of(128000, 9906), boxed(tok.encode("Hello", true, false)));
        assertEquals(List.of(9906), boxed(tok.encode("Hello", false, false)));
        // control tokens are recognised only with parse_special
        assertEquals(List.of(128006, 882, 128007), boxed(tok.encode("<|start_header_id|>user<|end_header_id|>", false, true)));
        assertEquals(true, tok.encode("<|start_header_id|>user", false, false).length > 2);
        org.junit.jupiter.api.Assertions.assertTrue(tok.isEndOfGeneration(128009)); // <|eot_id|>
        org.junit.jupiter.api.Assertions.assertTrue(tok.isEndOfGeneration(128001));
        assertEquals("<|start_header_id|>user<|end_header_id|>", tok.decode(new int[] {128006, 882, 128007}));
        assertEquals("user", tok.decode(new int[] {128006, 882, 128007}, false));
    }


    /**
     * The reverse direction: a BERT tokenizer.json (BertNormalizer, BertPreTokenizer, WordPiece,
     * [CLS] $A [SEP], WordPiece decoder) rebuilt from the bert-bge GGUF vocabulary (llama.cpp writes
     * "##x" as "x" and word-initial "x" as "▁x") must reproduce the suite's Hugging Face ids.
     */
    @org.junit.jupiter.api.Test
    @SuppressWarnings("unchecked")
    void bertTokenizerJsonFromGguf() throws Exception {
        List<String> tokens;
        try (var g = io.llmj.format.gguf.GgufFile.open(TestData.require("vocab/ggml-vocab-bert-bge.gguf"))) {
            tokens = g.stringArray("tokenizer.ggml.tokens");
        }
        Map<String, Object> vocab = new java.util.LinkedHashMap<>();
        List<Object> added = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            String t = tokens.get(i);
            String hf = t.startsWith("\u2581") ? t.substring(1) : t.startsWith("[") && t.endsWith("]") ? t : "##" + t;
            vocab.put(hf, (long) i);
            if (List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]").contains(t)) {
                added.add(Map.of("id", (long) i, "content", t, "single_word", false, "lstrip", false, "rstrip", false,
                        "normalized", false, "special", true));
            }
        }
        Map<String, Object> root = new java.util.LinkedHashMap<>();
        root.put("version", "1.0");
        root.put("added_tokens", added);
        root.put("normalizer", Map.of("type", "BertNormalizer", "clean_text", true, "handle_chinese_chars", true, "lowercase", true));
        root.put("pre_tokenizer", Map.of("type", "BertPreTokenizer"));
        root.put("post_processor", Json.parse("{\"type\":\"TemplateProcessing\",\"single\":[{\"SpecialToken\":{\"id\":\"[CLS]\",\"type_id\":0}},"
                + "{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},{\"SpecialToken\":{\"id\":\"[SEP]\",\"type_id\":0}}],"
                + "\"special_tokens\":{\"[CLS]\":{\"id\":\"[CLS]\",\"ids\":[101],\"tokens\":[\"[CLS]\"]},"
                + "\"[SEP]\":{\"id\":\"[SEP]\",\"ids\":[102],\"tokens\":[\"[SEP]\"]}}}"));
        root.put("decoder", Map.of("type", "WordPiece", "prefix", "##", "cleanup", true));
        Map<String, Object> model = new java.util.LinkedHashMap<>();
        model.put("type", "WordPiece");
        model.put("unk_token", "[UNK]");
        model.put("continuing_subword_prefix", "##");
        model.put("max_input_chars_per_word", 100L);
        model.put("vocab", vocab);
        root.put("model", model);
        Path tj = dir.resolve("tokenizer.json");
        java.nio.file.Files.writeString(tj, Json.write(root));
        var tok = Tokenizers.load(tj);
        List<String> failures = new ArrayList<>();
        for (VocabSuites.Case c : VocabSuites.cases(TestData.require("vocab/ggml-vocab-bert-bge.gguf.inp"),
                TestData.require("vocab/ggml-vocab-bert-bge.gguf.out"))) {
            int[] got = tok.encode(c.text(), false, false);
            if (!Arrays.equals(c.ids(), got)) {
                failures.add(c + " expected " + Arrays.toString(c.ids()) + " got " + Arrays.toString(got));
            }
        }
        assertEquals("", String.join("\n", failures));
        assertEquals(List.of(101, 7592, 1010, 2088, 999, 102), boxed(tok.encode("Hello, world!", true, false)));
        assertEquals("hello, world!", tok.decode(new int[] {101, 7592, 1010, 2088, 999, 102}, false));
    }

    static List<Integer> boxed(int[] a) {
        return Arrays.stream(a).boxed().toList();
    }
}
