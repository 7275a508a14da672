package io.llmj.benchmarks;

import io.llmj.GenerationOptions;
import io.llmj.Generator;
import io.llmj.Model;
import io.llmj.ModelOptions;
import io.llmj.Sampler;
import io.llmj.Token;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Whole-model speed through the public API, the JMH twin of {@code llmj bench}: {@code decode} is one
 * generated token per operation (ops/s = tokens/s at batch 1, fed a fixed token as llama-bench does),
 * {@code prefill} one prompt of {@code promptTokens} random tokens per operation (ms/op; tokens/s =
 * promptTokens / seconds). Run, e.g. on the GPU machine:
 * {@code java -jar llmj-benchmarks.jar Generation -p model=/tmp/synth-llama2-7b-Q4_0.gguf -p backend=cuda}.
 */
@State(Scope.Benchmark)
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 5, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class GenerationBenchmark {

    /** A GGUF file or Hugging Face folder (no default: pass {@code -p model=...}). */
    @Param({""})
    public String model;

    @Param({"auto"})
    public String backend;

    @Param({"0"})
    public int threads;

    @Param({"512"})
    public int promptTokens;

    /** Tokens generated per stream before it is restarted (keeps the context short, like tg128). */
    @Param({"128"})
    public int genTokens;

    private Model m;
    private Generator decodeGen;
    private Generator prefillGen;
    private int[] prompt;
    private int[] start;
    private Stream<Token> stream;
    private Iterator<Token> tokens;

    @Setup(Level.Trial)
    public void load() {
        if (model.isEmpty()) {
            throw new IllegalArgumentException("pass the model with -p model=PATH");
        }
        m = Model.load(Path.of(model), ModelOptions.defaults().withBackend(backend).withThreads(threads));
        int fixed = 0;
        while (m.tokenizer().isEndOfGeneration(fixed)) {
            fixed++;
        }
        final int id = fixed;
        // greedy (chosen on the device on a GPU), every token generated: a fixed count per stream
        decodeGen = m.generator(GenerationOptions.builder().maxTokens(genTokens).sampler(Sampler.greedy())
                .ignoreEndOfGeneration(true)
                .contextLength(genTokens + 2).cacheType(GenerationOptions.CacheType.F16).build());
        prefillGen = m.generator(GenerationOptions.builder().maxTokens(1).batchSize(promptTokens)
                .contextLength(promptTokens + 1).cacheType(GenerationOptions.CacheType.F16).build());
        prompt = new SplittableRandom(42).ints(promptTokens, 0, m.vocabSize()).toArray();
        start = new int[] {m.tokenizer().bos() >= 0 ? m.tokenizer().bos() : id};   // a model without BOS: any token
    }

    @TearDown(Level.Trial)
    public void close() {
        if (stream != null) {
            stream.close();
        }
        decodeGen.close();
        prefillGen.close();
        m.close();
    }

    @Benchmark
    @BenchmarkMode(Mode.Throughput)
    @OutputTimeUnit(TimeUnit.SECONDS)
    public int decode() {
        if (tokens == null || !tokens.hasNext()) {
            if (stream != null) {
                stream.close();
            }
            stream = decodeGen.stream(start);
            tokens = stream.iterator();
        }
        return tokens.next().id();
    }

    @Benchmark
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.MILLISECONDS)
    public long prefill() {
        try (Stream<Token> s = prefillGen.stream(prompt)) {
            return s.count();
        }
    }
}
