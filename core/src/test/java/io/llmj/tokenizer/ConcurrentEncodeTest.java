package io.llmj.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import io.llmj.Tokenizer;
import io.llmj.testing.TestData;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Tokenizers are shared between threads: concurrent encodes (filling the caches) give the same ids. */
class ConcurrentEncodeTest {
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"vocab/ggml-vocab-llama-spm.gguf", "vocab/ggml-vocab-gpt-2.gguf", "hf-tokenizers/mistral-spm"})
    void sameIdsFromManyThreads(String path) throws Exception {
        String text = Files.readString(TestData.require("text/eval.txt")).substring(0, 60_000);
        Tokenizer reference = Tokenizers.load(TestData.require(path));
        int[] expected = reference.encode(text, true, false);
        Tokenizer shared = Tokenizers.load(TestData.require(path));
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<int[]>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                results.add(pool.submit(() -> shared.encode(text, true, false)));
            }
            for (Future<int[]> f : results) {
                assertArrayEquals(expected, f.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
