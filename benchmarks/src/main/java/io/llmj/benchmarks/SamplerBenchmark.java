package io.llmj.benchmarks;

import io.llmj.Sampler;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.random.RandomGenerator;
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
 * Host time of one sampling step (the part of a generated token the GPU waits for): the standard chain over a
 * row of random logits (normal, sd 3) of a vocabulary of {@code vocab} entries, as {@code Generator} calls it
 * (on its own copy of the logits). Chains: greedy; temperature alone; top-p; min-p; llama.cpp's usual
 * top-k 40 + top-p 0.95 + min-p 0.05. Run: {@code java -jar benchmarks/target/llmj-benchmarks.jar Sampler}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(1)
public class SamplerBenchmark {

    @Param({"greedy", "temp", "top-p", "min-p", "k40-p95-min05"})
    public String chain;

    @Param({"32000", "128256"})
    public int vocab;

    private float[] logits;
    private float[] work;
    private Sampler sampler;
    private Sampler.Context ctx;

    @Setup
    public void setUp() {
        SplittableRandom rnd = new SplittableRandom(1);
        logits = new float[vocab];
        for (int i = 0; i < vocab; i++) {
            logits[i] = (float) (rnd.nextGaussian() * 3);
        }
        work = new float[vocab];
        Sampler.Builder b = Sampler.builder().temperature(0.8f).seed(7);
        sampler = switch (chain) {
            case "greedy" -> Sampler.greedy();
            case "temp" -> b.build();
            case "top-p" -> b.topP(0.95f).build();
            case "min-p" -> b.minP(0.05f).build();
            case "k40-p95-min05" -> b.topK(40).topP(0.95f).minP(0.05f).build();
            default -> throw new IllegalArgumentException(chain);
        };
        int[] history = rnd.ints(64, 0, vocab).toArray();
        SplittableRandom draws = new SplittableRandom(3);
        ctx = new Sampler.Context() {
            @Override
            public int[] history() {
                return history;
            }

            @Override
            public int historySize() {
                return history.length;
            }

            @Override
            public RandomGenerator random() {
                return draws;
            }
        };
    }

    @Benchmark
    public int sample() {
        System.arraycopy(logits, 0, work, 0, vocab);
        return sampler.sample(work, ctx);
    }
}
