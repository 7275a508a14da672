package io.llmj.ffm.cuda;

import static io.llmj.testing.Generations.HOST_GREEDY;
import static io.llmj.testing.Generations.assertSameTokens;
import static io.llmj.testing.Generations.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.GenerationOptions;
import io.llmj.Generator;
import io.llmj.Model;
import io.llmj.ModelOptions;
import io.llmj.Sampler;
import io.llmj.Token;
import io.llmj.eval.Perplexity;
import io.llmj.ffm.cuda.CudaBackend.DeviceBuffer;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.sampling.Greedy;
import io.llmj.testing.TestData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Greedy choice on the GPU ({@code llmj_cuda_pick_greedy}, {@link CudaBackend#decodeGreedy}). The kernel
 * against its host reference over awkward vocabulary sizes: the id exactly as {@link Greedy} chooses it
 * (ties to the lowest id), the log-probability within 1e-5 of the double-precision
 * {@code x[id] - log(sum exp x)}; the step slot and the choice ring as the header documents them. Then greedy
 * generation with the choice on the device (steps enqueued one ahead) against the host's choice on the same
 * backend: the same tokens and text, log-probabilities within 1e-5, also for runs that follow one another on
 * one generator and for four generators in parallel threads; on stories260K, two quantized synthetic llamas,
 * and hf-tiny gemma2 (soft-capped logits, sliding window) and qwen2 (biases). Skipped where CUDA is unusable.
 */
class CudaGreedyTest {
    private static final int RING = 4;

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    /** One kernel call on {x}, slot {token 7, pos}: {id, logprob bits, slot token, slot position, ring entry...}. */
    private static int[] pick(float[] x, int pos) {
        try (Arena a = Arena.ofConfined(); DeviceBuffer logits = new DeviceBuffer(4L * x.length);
             DeviceBuffer step = new DeviceBuffer(8)) {
            logits.upload(a.allocateFrom(ValueLayout.JAVA_FLOAT, x));
            step.upload(a.allocateFrom(ValueLayout.JAVA_INT, 7, pos));
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            Cuda.check(CudaRuntime.cudaMallocHost(p, 16L * RING), "cudaMallocHost");
            MemorySegment ring = p.get(ValueLayout.ADDRESS, 0).reinterpret(16L * RING);
            try {
                ring.fill((byte) 0x55);
                int st = LlmjCuda.llmj_cuda_pick_greedy(logits.ptr, x.length, step.ptr, ring, RING, MemorySegment.NULL);
                assertEquals(0, st, "status");
                Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
                MemorySegment slot = a.allocate(8);
                step.download(slot);
                int k = (pos + 1) % RING;
                for (int j = 0; j < RING; j++) {
                    if (j != k) {
                        assertEquals(0x55555555, ring.get(ValueLayout.JAVA_INT, 16L * j), "ring entry " + j + " untouched");
                    }
                }
                int[] e = new int[4];
                for (int i = 0; i < 4; i++) {
                    e[i] = ring.get(ValueLayout.JAVA_INT, 16L * k + 4L * i);
                }
                assertEquals(pos + 1, e[0], "ring entry position");
                assertEquals(0, e[3], "ring entry padding");
                assertEquals(e[1], slot.get(ValueLayout.JAVA_INT, 0), "slot token = choice");
                assertEquals(pos + 1, slot.get(ValueLayout.JAVA_INT, 4), "slot position advanced");
                return new int[] {e[1], e[2]};
            } finally {
                CudaRuntime.cudaFreeHost(ring);
            }
        }
    }

    private static void checkAgainstHost(float[] x, int pos, String what) {
        int[] got = pick(x, pos);
        int want = Greedy.INSTANCE.sample(x.clone(), null);
        assertEquals(want, got[0], what + ": id");
        assertEquals(Perplexity.logSoftmax(x, want), Float.intBitsToFloat(got[1]), 1e-5, what + ": logprob");
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 31, 33, 1023, 1024, 1025, 4097, 32000, 128256, 151936})
    void choiceMatchesTheHostGreedyChoice(int n) {
        SplittableRandom r = new SplittableRandom(n);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextGaussian() * 4);
        }
        checkAgainstHost(x, 11, "gaussian");
        float top = 100f;
        int[] at = {r.nextInt(n), r.nextInt(n), r.nextInt(n)};   // the maximum at several ids: the lowest wins
        for (int i : at) {
            x[i] = top;
        }
        checkAgainstHost(x, 2 * n + 1, "tied maximum at " + java.util.Arrays.toString(at));
        for (int i = 0; i < n; i += 3) {
            x[i] = i % 2 == 0 ? Float.NEGATIVE_INFINITY : -1e30f;   // masked and far below
        }
        if (x[Greedy.INSTANCE.sample(x.clone(), null)] > Float.NEGATIVE_INFINITY) {
            checkAgainstHost(x, 0, "with -inf and -1e30 entries");
        }
    }

    @Test
    void degenerateRows() {
        float[] equal = new float[1000];
        java.util.Arrays.fill(equal, 3.5f);
        int[] got = pick(equal, 5);
        assertEquals(0, got[0]);
        assertEquals(-Math.log(1000), Float.intBitsToFloat(got[1]), 1e-5);

        float[] masked = new float[300];
        java.util.Arrays.fill(masked, Float.NEGATIVE_INFINITY);
        got = pick(masked, 6);
        assertEquals(0, got[0], "nothing to choose: id 0");
        assertTrue(Float.isNaN(Float.intBitsToFloat(got[1])));

        float[] withNan = new float[500];
        for (int i = 0; i < withNan.length; i++) {
            withNan[i] = i == 3 ? Float.NaN : i == 250 ? 9f : 1f;
        }
        got = pick(withNan, 7);
        assertEquals(250, got[0], "NaN is never chosen");
        assertTrue(Float.isNaN(Float.intBitsToFloat(got[1])), "a NaN logit makes the log-probability NaN");
    }

    @Test
    void rejectsBadArguments() {
        try (DeviceBuffer b = new DeviceBuffer(64)) {
            int invalid = io.llmj.ffm.generated.llmj.Llmj.LLMJ_ERR_INVALID_ARGUMENT();
            assertEquals(invalid, LlmjCuda.llmj_cuda_pick_greedy(b.ptr, 0, b.ptr, b.ptr, RING, MemorySegment.NULL));
            assertEquals(invalid, LlmjCuda.llmj_cuda_pick_greedy(b.ptr, 4, b.ptr, b.ptr, 0, MemorySegment.NULL));
            assertEquals(invalid, LlmjCuda.llmj_cuda_pick_greedy(MemorySegment.NULL, 4, b.ptr, b.ptr, RING, MemorySegment.NULL));
            assertEquals(invalid, LlmjCuda.llmj_cuda_pick_greedy(b.ptr, 4, MemorySegment.NULL, b.ptr, RING, MemorySegment.NULL));
        }
    }

    /**
     * A GGUF file as it is; an hf-tiny folder (no tokenizer: vocabulary 512, BOS 1, EOS 2) linked into {@code tmp}
     * with stories260K's 512-token vocabulary as its tokenizer.gguf.
     */
    private static Path withTokenizer(Path model, Path tmp) throws java.io.IOException {
        if (!Files.isDirectory(model)) {
            return model;
        }
        try (Stream<Path> files = Files.list(model)) {
            for (Path f : files.toList()) {
                Files.createSymbolicLink(tmp.resolve(f.getFileName()), f.toAbsolutePath());
            }
        }
        Files.createSymbolicLink(tmp.resolve("tokenizer.gguf"), TestData.require("models/stories260K.gguf").toAbsolutePath());
        return tmp;
    }

    @ParameterizedTest
    @ValueSource(strings = {"models/stories260K.gguf", "quant/synth-llama-Q4_K_M.gguf", "quant/synth-llama-Q4_0.gguf",
            "hf-tiny/gemma2", "hf-tiny/qwen2"})
    void deviceChoiceGeneratesWhatTheHostChoiceDoes(String file, @TempDir Path tmp) throws Exception {
        try (Model m = Model.load(withTokenizer(TestData.require(file), tmp), ModelOptions.defaults().withBackend("cuda"))) {
            int[] prompt = m.tokenizer().encode("Once upon a time, there was a little", true, false);
            for (int n : new int[] {1, 2, 3, 60}) {
                GenerationOptions.Builder o = GenerationOptions.builder().maxTokens(n).ignoreEndOfGeneration(true)
                        .contextLength(128).cacheType(GenerationOptions.CacheType.F16);
                List<Token> want;
                try (Generator g = m.generator(o.sampler(HOST_GREEDY).build())) {
                    want = run(g, prompt);
                }
                assertEquals(n, want.size());
                try (Generator g = m.generator(o.sampler(Sampler.greedy()).build())) {
                    for (int round = 0; round < 3; round++) {
                        assertSameTokens(want, run(g, prompt), file + ", maxTokens " + n + ", run " + round);
                    }
                }
            }
            // stopping early (a stop string; the end of the context) leaves a step enqueued for nothing
            GenerationOptions.Builder o = GenerationOptions.builder().maxTokens(100).stopStrings(List.of(" the", "."))
                    .contextLength(prompt.length + 20).contextPolicy(GenerationOptions.ContextPolicy.STOP);
            List<Token> want;
            try (Generator g = m.generator(o.sampler(HOST_GREEDY).build())) {
                want = run(g, prompt);
            }
            try (Generator g = m.generator(o.sampler(Sampler.greedy()).build())) {
                assertSameTokens(want, run(g, prompt), file + ", stopping early");
                assertSameTokens(want, run(g, prompt), file + ", stopping early, again");
            }
            // four generators in parallel threads, each with its own graph and ring
            GenerationOptions par = GenerationOptions.builder().maxTokens(40).ignoreEndOfGeneration(true)
                    .contextLength(128).build();
            List<Token> alone;
            try (Generator g = m.generator(par)) {
                alone = run(g, prompt);
            }
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<List<Token>>> results = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    results.add(pool.submit(() -> {
                        try (Generator g = m.generator(par)) {
                            return run(g, prompt);
                        }
                    }));
                }
                for (Future<List<Token>> f : results) {
                    assertSameTokens(alone, f.get(), file + ", in parallel");
                }
            } finally {
                pool.shutdown();
            }
        }
    }
}
