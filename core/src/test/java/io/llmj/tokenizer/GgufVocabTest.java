package io.llmj.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.llmj.format.gguf.GgufFile;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** llama.cpp's tokenizer conformance suites (testdata/vocab): exact ids, add_special and parse_special off. */
class GgufVocabTest {

    static LlamaCppTokenizer load(String name) {
        Path p = TestData.require("vocab/ggml-vocab-" + name + ".gguf");
        try (GgufFile g = GgufFile.open(p)) {
            return new LlamaCppTokenizer(Vocabulary.fromGguf(g));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama-spm", "phi-3", "gpt-2", "deepseek-coder", "deepseek-llm", "falcon", "mpt",
        "refact", "starcoder", "bert-bge"})
    void suite(String name) {
        LlamaCppTokenizer tok = load(name);
        Path inp = TestData.require("vocab/ggml-vocab-" + name + ".gguf.inp");
        Path out = TestData.require("vocab/ggml-vocab-" + name + ".gguf.out");
        List<VocabSuites.Case> cases = VocabSuites.cases(inp, out);
        assertEquals(46, cases.size());
        List<String> failures = new ArrayList<>();
        for (VocabSuites.Case c : cases) {
            int[] got = tok.encode(c.text(), false, false);
            if (!Arrays.equals(c.ids(), got)) {
                failures.add(c + "\n   expected " + Arrays.toString(c.ids()) + "\n   got      " + Arrays.toString(got));
            }
        }
        assertEquals("", String.join("\n", failures), name + ": " + failures.size() + " of 46 differ");
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"baichuan", "gpt-neox"})
    void loadsVocabularyWithoutVectors(String name) {
        LlamaCppTokenizer tok = load(name);
        int[] ids = tok.encode("Hello world", false, false);
        assertArrayEquals(ids, tok.encode(tok.decode(ids, false), false, false));
    }
}
