package io.llmj.benchmarks;

import io.llmj.Tokenizer;
import io.llmj.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Encode throughput on ~1 MB of TinyStories text (testdata/text/eval.txt repeated): one operation
 * encodes the whole text, so MB/s = text MB / (seconds per operation). Tokenizers: SentencePiece
 * (llama-spm vocab GGUF) and byte-level BPE (gpt-2 vocab GGUF; Llama 3 tokenizer.json).
 * Run: {@code java -jar benchmarks/target/llmj-benchmarks.jar Tokenizer -p testdata=../shared/testdata}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(1)
public class TokenizerBenchmark {

    @Param({"spm:vocab/ggml-vocab-llama-spm.gguf", "bpe:vocab/ggml-vocab-gpt-2.gguf", "bpe:hf-tokenizers/llama3/tokenizer.json"})
    public String tokenizer;

    @Param({"../shared/testdata"})
    public String testdata;

    private Tokenizer tok;
    private String text;

    @Setup
    public void setUp() throws IOException {
        Path root = Path.of(testdata);
        tok = Tokenizers.load(root.resolve(tokenizer.substring(tokenizer.indexOf(':') + 1)));
        String eval = Files.readString(root.resolve("text/eval.txt"), StandardCharsets.UTF_8);
        StringBuilder sb = new StringBuilder();
        while (sb.length() < 1_000_000) {
            sb.append(eval);
        }
        text = sb.substring(0, 1_000_000);
        System.out.printf("%n[%s] text: %d chars, %d UTF-8 bytes, %d tokens%n", tokenizer, text.length(),
                text.getBytes(StandardCharsets.UTF_8).length, tok.encode(text, false, false).length);
    }

    @Benchmark
    public int[] encode() {
        return tok.encode(text, false, false);
    }
}
