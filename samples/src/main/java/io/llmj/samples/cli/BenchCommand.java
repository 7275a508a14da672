package io.llmj.samples.cli;

import io.llmj.GenerationOptions;
import io.llmj.Generator;
import io.llmj.Model;
import io.llmj.Sampler;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code llmj bench}: llama-bench-like prompt processing (pp) and text generation (tg) throughput, with
 * tg's weight-read rate as a fraction of the memory bandwidth measured in the same run. On the CPU the
 * bandwidth is measured again just before and after each tg repetition and each repetition is divided by
 * the mean of those two, and one more tg run pairs each decode step with a probe pass right after it: a
 * shared machine's bandwidth drifts (on the 2-core development VM it switches between about 30 and 62 GB/s
 * within seconds), and one figure from the start of the run made the fraction swing with it.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, description = "Prompt-processing and generation speed (like llama-bench).")
final class BenchCommand implements Callable<Integer> {
    @CommandLine.Mixin
    ModelArgs modelArgs;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-p", "--n-prompt"}, defaultValue = "512", description = "Prompt tokens for pp (default ${DEFAULT-VALUE}; 0 skips).")
    int nPrompt;

    @Option(names = {"-n", "--n-gen"}, defaultValue = "128", description = "Generated tokens for tg (default ${DEFAULT-VALUE}; 0 skips).")
    int nGen;

    @Option(names = {"-r", "--repetitions"}, defaultValue = "3", description = "Repetitions (default ${DEFAULT-VALUE}).")
    int reps;

    @Option(names = {"-d", "--depth"}, defaultValue = "0",
            description = "Context depth for tg: this many prompt tokens are processed (untimed) before generating; the "
                    + "bandwidth fraction then counts the KV-cache bytes read as well (default ${DEFAULT-VALUE}).")
    int depth;

    @Option(names = "--cache-type", defaultValue = "F16", description = "KV cache type, F16 (default, as llama-bench) or F32.")
    GenerationOptions.CacheType cacheType;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        int threads = modelArgs.threads > 0 ? modelArgs.threads : Runtime.getRuntime().availableProcessors();
        long t0 = System.nanoTime();
        BandwidthProbe probe = null;
        try (Model model = modelArgs.load()) {
            double loadMs = (System.nanoTime() - t0) / 1e6;
            long weightBytes = weightBytes(modelArgs.model);
            boolean gpu = model.backendName().equals("cuda");
            probe = gpu ? null : new BandwidthProbe(threads, 1L << 30);
            double bandwidth = gpu ? io.llmj.ffm.cuda.Cuda.copyBandwidth(2L << 30) : probe.measure();
            out.printf("model: %s (%s, %.2f GiB of weights), backend %s, %s, load %.0f ms%n", modelArgs.model.getFileName(),
                    model.architecture(), weightBytes / (double) (1L << 30), model.backendName(),
                    gpu ? io.llmj.ffm.cuda.Cuda.devices().get(0).name() : threads + " threads", loadMs);
            out.printf(gpu ? "device memory bandwidth (measured: 2 GiB device-to-device copy, read + write): %.1f GB/s%n"
                    : "memory read bandwidth (measured, %d threads): %.1f GB/s%n", gpu ? new Object[] {bandwidth / 1e9}
                    : new Object[] {threads, bandwidth / 1e9});
            out.println("| test | t/s | ± | GB/s read (weights + KV) | of bandwidth |");
            out.println("| --- | ---: | ---: | ---: | ---: |");
            SplittableRandom rnd = new SplittableRandom(42);
            int notEog = 0;
            while (model.tokenizer().isEndOfGeneration(notEog)) {
                notEog++;
            }
            if (nPrompt > 0) {
                int[] prompt = rnd.ints(nPrompt, 0, model.vocabSize()).toArray();
                double[] tps = new double[reps];
                double[] ttft = new double[reps];
                GenerationOptions o = GenerationOptions.builder().maxTokens(1).batchSize(nPrompt)
                        .contextLength(Math.max(nPrompt + 1, 16)).cacheType(cacheType).build();
                try (Generator g = model.generator(o)) {
                    try (Stream<?> s = g.stream(prompt)) {   // warm-up (JIT, kernel modules, scratch)
                        s.count();
                    }
                    for (int r = 0; r < reps; r++) {
                        try (Stream<?> s = g.stream(prompt)) {
                            s.count();
                        }
                        tps[r] = g.stats().prefillTokensPerSecond();
                        ttft[r] = g.stats().ttftMillis();
                    }
                }
                row(out, "pp" + nPrompt, tps, 0, null);
                double[] ms = stats(ttft);
                out.printf("| ttft%d (ms) | %.2f | %.2f | | |%n", nPrompt, ms[0], ms[1]);
            }
            if (nGen > 0) {
                final int fixed = notEog;
                // Greedy (on a GPU: chosen on the device, logits never copied back) and every token generated, as
                // llama-bench's fixed count; -Dllmj.deviceGreedy=false makes the choice on the host
                GenerationOptions o = GenerationOptions.builder().maxTokens(nGen + 1).sampler(Sampler.greedy())
                        .ignoreEndOfGeneration(true)
                        .contextLength(depth + nGen + 2).batchSize(Math.max(1, Math.min(depth, 512))).cacheType(cacheType)
                        .build();
                int bos = model.tokenizer().bos() >= 0 ? model.tokenizer().bos() : fixed;   // a model without BOS: any token
                int[] start = depth > 0 ? rnd.ints(depth, 0, model.vocabSize()).toArray() : new int[] {bos};
                double[] tps = new double[reps];
                double[] bw = new double[reps];   // CPU: the bandwidth next to each repetition
                double lo = Double.MAX_VALUE;
                double hi = 0;
                try (Generator g = model.generator(o)) {
                    // warm-up: one whole run, so that the timed ones see the JIT's compiled decode loop (on the CPU
                    // backend the first ~200 steps run Java code the JIT is still compiling, on the same cores)
                    g.stream(start).count();
                    double before = bandwidth;
                    for (int r = 0; r < reps; r++) {
                        g.stream(start).count();
                        tps[r] = g.stats().decodeTokensPerSecond();
                        bw[r] = bandwidth;
                        if (probe != null) {
                            double after = probe.measure();
                            bw[r] = (before + after) / 2;
                            lo = Math.min(lo, Math.min(before, after));
                            hi = Math.max(hi, Math.max(before, after));
                            before = after;
                        }
                    }
                }
                // KV bytes read per generated token: K and V of every layer at the mean position of the run
                long kvBytes = (long) (2L * kvBytesPerPosition(modelArgs.model, cacheType) * (start.length + nGen / 2.0));
                row(out, "tg" + nGen + (depth > 0 ? " @ d" + depth : ""), tps, weightBytes + kvBytes, bw);
                if (probe != null) {
                    out.printf("(tg's fraction: each repetition against the bandwidth measured just before and after it, "
                            + "%.1f-%.1f GB/s)%n", lo / 1e9, hi / 1e9);
                    interleaved(out, model, o, start, probe, weightBytes + kvBytes);
                }
            }
        } finally {
            if (probe != null) {
                probe.close();
            }
        }
        out.flush();
        return 0;
    }

    /**
     * One more tg run in which every decode step is followed by one pass of the bandwidth probe over
     * {@link #PAIRED_PROBE_BYTES}, so that each step and its probe see the same state of a shared machine (the
     * development VM's bandwidth changes state within seconds: longer than a step, shorter than a repetition).
     * Prints the steps' read rate against the passes', both as the ratio of the totals and as the median of the
     * per-step ratios. The first token (the prompt's step) is not counted; its pass still runs, so every counted
     * step starts after a pass, as the others do.
     */
    private void interleaved(PrintWriter out, Model model, GenerationOptions o, int[] start, BandwidthProbe probe,
                             long stepBytes) {
        long[] step = new long[nGen];
        long[] pass = new long[nGen];
        int n = 0;
        try (Generator g = model.generator(o); Stream<?> s = g.stream(start)) {
            var tokens = s.iterator();
            for (int i = 0; i <= nGen; i++) {   // token 0: the prompt's step
                long t0 = System.nanoTime();
                if (!tokens.hasNext()) {        // the step runs here (the iterator computes the next token ahead)
                    break;
                }
                tokens.next();
                long ns = System.nanoTime() - t0;
                long p = probe.pass(PAIRED_PROBE_BYTES);
                if (i > 0) {
                    step[n] = ns;
                    pass[n++] = p;
                }
            }
        }
        if (n == 0) {
            return;
        }
        double stepSum = 0;
        double passSum = 0;
        double[] ratio = new double[n];
        for (int i = 0; i < n; i++) {
            stepSum += step[i];
            passSum += pass[i];
            ratio[i] = (stepBytes / (double) step[i]) / (PAIRED_PROBE_BYTES / (double) pass[i]);
        }
        Arrays.sort(ratio);
        double decodeRate = n * (double) stepBytes / stepSum;   // bytes per ns = GB/s
        double probeRate = n * (double) PAIRED_PROBE_BYTES / passSum;
        out.printf("(tg%d with a %d MiB probe pass after each step: %.2f t/s, steps read %.1f GB/s, passes %.1f GB/s: "
                        + "%.0f%%; per-step median %.0f%%, quartiles %.0f-%.0f%%)%n", n, PAIRED_PROBE_BYTES >> 20,
                n * 1e9 / stepSum, decodeRate, probeRate, 100 * decodeRate / probeRate, 100 * ratio[n / 2],
                100 * ratio[n / 4], 100 * ratio[(3 * n) / 4]);
    }

    /** The interleaved probe's pass: far beyond the last-level cache, a few milliseconds on a desktop-class machine. */
    private static final long PAIRED_PROBE_BYTES = 256L << 20;

    /** Mean and sample standard deviation. */
    private static double[] stats(double[] v) {
        double mean = Arrays.stream(v).average().orElse(0);
        double sd = Math.sqrt(Arrays.stream(v).map(x -> (x - mean) * (x - mean)).sum() / Math.max(1, v.length - 1));
        return new double[] {mean, sd};
    }

    /** Bytes one position of the K (or the V) cache takes over all layers. */
    private static long kvBytesPerPosition(Path model, GenerationOptions.CacheType type) {
        io.llmj.arch.ModelConfig c;
        if (Files.isDirectory(model)) {
            try (var ck = io.llmj.format.safetensors.SafetensorsCheckpoint.open(model)) {
                c = new io.llmj.arch.HfModelSource(model, io.llmj.format.hf.HfConfig.read(model.resolve("config.json")), ck)
                        .config();
            }
        } else {
            try (var g = io.llmj.format.gguf.GgufFile.open(model)) {
                c = new io.llmj.arch.GgufModelSource(g).config();
            }
        }
        return (long) c.nLayers() * c.kvDim() * (type == GenerationOptions.CacheType.F16 ? 2 : 4);
    }

    /** bandwidth: bytes/s per repetition (the fraction is the mean of the repetitions' fractions). */
    private static void row(PrintWriter out, String test, double[] tps, long weightBytes, double[] bandwidth) {
        double[] st = stats(tps);
        double mean = st[0];
        double sd = st[1];
        if (weightBytes > 0) {
            double gbs = weightBytes * mean / 1e9;
            double frac = 0;
            for (int r = 0; r < tps.length; r++) {
                frac += weightBytes * tps[r] / bandwidth[r] / tps.length;
            }
            out.printf("| %s | %.2f | %.2f | %.1f | %.0f%% |%n", test, mean, sd, gbs, 100 * frac);
        } else {
            out.printf("| %s | %.2f | %.2f | | |%n", test, mean, sd);
        }
    }

    /** Bytes read per generated token: every 2-D weight except the embedding table (one row of it is read). */
    private static long weightBytes(Path model) {
        long total = 0;
        if (Files.isDirectory(model)) {
            try (var ck = io.llmj.format.safetensors.SafetensorsCheckpoint.open(model)) {
                for (var t : ck.tensors()) {
                    if (t.rank() == 2 && !t.name().contains("embed_tokens")) {
                        total += t.data().byteSize();
                    }
                }
            }
        } else {
            try (var g = io.llmj.format.gguf.GgufFile.open(model)) {
                for (var t : g.tensors()) {
                    if (t.rank() == 2 && !t.name().equals("token_embd.weight")) {
                        total += t.byteSize();
                    }
                }
                if (g.tensor("output.weight") == null && g.tensor("token_embd.weight") != null) {
                    total += g.tensor("token_embd.weight").byteSize();   // tied: the output projection reads all of it
                }
            }
        }
        return total;
    }
}
