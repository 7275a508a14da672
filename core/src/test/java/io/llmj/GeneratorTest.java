package io.llmj;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.arch.ReferenceFile;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The public API end to end on stories260K (the Java reference backend in this module). */
class GeneratorTest {
    static Model model;
    static Map<String, Object> reference;

    @BeforeAll
    static void load() {
        model = Model.load(TestData.require("models/stories260K.gguf"));
        reference = ReferenceFile.read(TestData.require("reference/stories260K-greedy-f32kv.json"));
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    private static Map<?, ?> referenceCase(int i) {
        return (Map<?, ?>) ((List<?>) reference.get("cases")).get(i);
    }

    @Test
    void greedyStreamReproducesLlamaCpp() {
        for (int c = 0; c < 4; c++) {
            Map<?, ?> cs = referenceCase(c);
            Generator g = model.generator(GenerationOptions.builder().maxTokens(64).build());
            List<Token> tokens;
            try (Stream<Token> s = g.stream((String) cs.get("prompt"))) {
                tokens = s.toList();
            }
            assertArrayEquals(ReferenceFile.ints(cs.get("generated_token_ids")), tokens.stream().mapToInt(Token::id).toArray(),
                    "case " + c);
            StringBuilder text = new StringBuilder();
            tokens.forEach(t -> text.append(t.text()));
            assertEquals(cs.get("generated_text"), text.toString(), "case " + c);
            assertTrue(tokens.stream().allMatch(t -> t.logprob() <= 0 && t.logprob() > -30), "log-probabilities");
            GenerationStats st = g.stats();
            assertEquals(ReferenceFile.ints(cs.get("prompt_token_ids")).length, st.promptTokens());
            assertEquals(64, st.generatedTokens());
            g.close();
        }
    }

    @Test
    void stopStringsEndTheStreamAndAreNotEmitted() {
        Generator g = model.generator(GenerationOptions.builder().maxTokens(64).stopStrings(List.of("Lily")).build());
        String text = g.generate("Once upon a time");
        assertEquals(", there was a little girl named ", text);
        g.close();
    }

    @Test
    void maxTokensAndContextPolicies() {
        try (Generator g = model.generator(GenerationOptions.builder().maxTokens(3).build())) {
            assertEquals(3, g.stream("Once upon a time").count());
        }
        // context 8: the 5-token prompt leaves room for 3 more positions, the 4th token cannot be computed
        try (Generator g = model.generator(GenerationOptions.builder().maxTokens(20).contextLength(8).build())) {
            ContextLengthExceededException e = assertThrows(ContextLengthExceededException.class,
                    () -> g.stream("Once upon a time").count());
            assertEquals(8, e.contextLength());
        }
        try (Generator g = model.generator(GenerationOptions.builder().maxTokens(20).contextLength(8)
                .contextPolicy(GenerationOptions.ContextPolicy.STOP).build())) {
            assertEquals(4, g.stream("Once upon a time").count());
        }
        try (Generator g = model.generator(GenerationOptions.builder().contextLength(4).build())) {
            assertThrows(ContextLengthExceededException.class, () -> g.stream("Once upon a time"));
        }
    }

    @Test
    void seededSamplingIsReproducibleAndDiffersFromGreedy() {
        Sampler s = Sampler.builder().temperature(1.2f).topK(40).topP(0.95f).minP(0.02f).penalties(32, 1.1f, 0.1f, 0.1f)
                .seed(1234).build();
        GenerationOptions o = GenerationOptions.builder().maxTokens(40).sampler(s).build();
        int[] a;
        int[] b;
        try (Generator g = model.generator(o)) {
            a = g.stream("Once upon a time").mapToInt(Token::id).toArray();
            b = g.stream("Once upon a time").mapToInt(Token::id).toArray();
        }
        assertArrayEquals(a, b);
        int[] greedy = ReferenceFile.ints(referenceCase(0).get("generated_token_ids"));
        assertNotEquals(java.util.Arrays.toString(greedy), java.util.Arrays.toString(a));
    }

    @Test
    void fourGeneratorsInParallelMatchSequentialRuns() throws Exception {
        String[] prompts = new String[4];
        for (int c = 0; c < 4; c++) {
            prompts[c] = (String) referenceCase(c).get("prompt");
        }
        Sampler s = Sampler.builder().temperature(0.8f).topK(20).seed(7).build();
        GenerationOptions o = GenerationOptions.builder().maxTokens(48).sampler(s).build();
        List<String> sequential = new ArrayList<>();
        for (String p : prompts) {
            try (Generator g = model.generator(o)) {
                sequential.add(g.generate(p));
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<String>> futures = new ArrayList<>();
            for (String p : prompts) {
                futures.add(pool.submit(() -> {
                    try (Generator g = model.generator(o)) {
                        return g.generate(p);
                    }
                }));
            }
            for (int i = 0; i < 4; i++) {
                assertEquals(sequential.get(i), futures.get(i).get(), "prompt " + i);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aNewStreamEndsThePreviousOne() {
        try (Generator g = model.generator(GenerationOptions.builder().maxTokens(64).build())) {
            Stream<Token> s = g.stream("Once upon a time");
            java.util.Iterator<Token> it = s.iterator();
            assertEquals(432, it.next().id());
            assertEquals(432, g.stream("Once upon a time").findFirst().orElseThrow().id());
            assertFalse(it.hasNext(), "the first stream ended when the second started");
            s.close();
        }
        Generator g = model.generator(GenerationOptions.builder().maxTokens(64).build());
        java.util.Iterator<Token> it = g.stream("Once upon a time").iterator();
        it.next();
        g.close();
        assertFalse(it.hasNext(), "closing the generator ends its stream");
    }

    @Test
    void loadErrorsAreTyped(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        assertThrows(java.io.UncheckedIOException.class, () -> Model.load(dir.resolve("missing.gguf")));
        Path bad = dir.resolve("bad.gguf");
        java.nio.file.Files.write(bad, new byte[] {'G', 'G', 'U', 'F', 3, 0, 0, 0});
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Model.load(bad));
        assertTrue(e.getMessage().contains("bad.gguf"), e.getMessage());
        assertFalse(model.tokenizer().encode("x").length == 0);
    }
}
