package io.llmj.samples.cli;

import io.llmj.Tokenizer;
import io.llmj.arch.Forwards;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.HfModelSource;
import io.llmj.arch.ModelConfig;
import io.llmj.arch.TensorSource;
import io.llmj.backend.Backend;
import io.llmj.backend.Backends;
import io.llmj.eval.Perplexity;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.quant.gptq.GptqPipeline;
import io.llmj.quant.gptq.GptqQuantizer;
import io.llmj.quant.gptq.GptqWriter;
import io.llmj.tokenizer.LlamaCppTokenizer;
import io.llmj.tokenizer.Tokenizers;
import io.llmj.tokenizer.Vocabulary;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code llmj gptq}: GPTQ (Frantar et al. 2022) from a calibration text, written as an AutoGPTQ /
 * GPTQModel {@code gptq} checkpoint folder. With {@code --eval} it also prints the perplexity of the
 * model before quantization, with round-to-nearest on the same grid, and with GPTQ (the quantized
 * weights dequantized in memory and run through the F32 path).
 */
@Command(name = "gptq", mixinStandardHelpOptions = true, description = {
        "Quantize a llama-family GGUF (llama, mistral) or Hugging Face folder with GPTQ, calibrated on a text file, "
                + "and write a Hugging Face folder in the AutoGPTQ/GPTQModel 'gptq' checkpoint format.",
        "Linear layers whose sizes the packing cannot hold (inputs and outputs multiples of 32/bits) stay unquantized; "
                + "the tool lists them."})
final class GptqCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-m", "--model"}, required = true, paramLabel = "MODEL", description = "A GGUF file or a Hugging Face folder.")
    Path model;

    @Option(names = {"-c", "--calibration"}, required = true, paramLabel = "TEXT", description = "UTF-8 calibration text.")
    Path calibration;

    @Option(names = {"-o", "--output"}, required = true, paramLabel = "DIR", description = "Output folder.")
    Path output;

    @Option(names = "--bits", defaultValue = "4", description = "Bits per weight: 2, 4 or 8 (default 4).")
    int bits;

    @Option(names = "--group-size", defaultValue = "128", description = "Inputs per scale/zero group; -1: one per row (default 128).")
    int groupSize;

    @Option(names = "--act-order", description = "Quantize columns by decreasing Hessian diagonal (desc_act).")
    boolean actOrder;

    @Option(names = "--sym", description = "Symmetric grid (zero point in the middle).")
    boolean sym;

    @Option(names = "--damp", defaultValue = "0.01", description = "Dampening, a fraction of the mean Hessian diagonal (default 0.01).")
    double damp;

    @Option(names = "--samples", defaultValue = "128", description = "Calibration sequences (default 128).")
    int samples;

    @Option(names = "--seq-len", defaultValue = "0", description = "Tokens per calibration sequence (0: the model's context, at most 2048).")
    int seqLen;

    @Option(names = "--no-true-sequential", description = "One calibration pass per layer instead of one per stage (q/k/v, o, gate/up, down).")
    boolean layerwise;

    @Option(names = "--tokenizer", paramLabel = "PATH", description = "Tokenizer (GGUF or tokenizer.json) for a model folder without one.")
    Path tokenizerPath;

    @Option(names = "--eval", paramLabel = "TEXT", description = "Also print perplexities (F32, round-to-nearest, GPTQ) of this text.")
    Path eval;

    @Option(names = "--eval-ctx", defaultValue = "0", description = "Perplexity window (0: the model's context, at most 512).")
    int evalCtx;

    @Option(names = "--eval-chunks", defaultValue = "0", description = "Score at most this many windows (0: all).")
    int evalChunks;

    @Option(names = "--backend", defaultValue = "auto", paramLabel = "NAME", description = "Backend for the calibration passes: auto, cpu, java.")
    String backendName;

    @Option(names = {"-t", "--threads"}, defaultValue = "0", description = "CPU threads (0: all).")
    int threads;

    @Option(names = {"-q", "--quiet"}, description = "No progress bar.")
    boolean quiet;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        GptqQuantizer.Params params = new GptqQuantizer.Params(bits, groupSize, sym, actOrder, damp, 128);
        if (GptqWriter.skipReason(32, 32, bits) != null) {
            throw new IllegalArgumentException("--bits " + bits + ": the gptq format packs 2, 4 or 8 bits");
        }
        try (Arena arena = Arena.ofShared();
             Backend backend = backendName.equals("auto") ? Backends.best() : Backends.create(backendName, threads)) {
            ModelConfig config;
            TensorSource source;
            Tokenizer tokenizer;
            GgufModelSource gguf = null;
            HfModelSource hf = null;
            if (Files.isDirectory(model)) {
                SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(model, arena);
                hf = new HfModelSource(model, HfConfig.read(model.resolve("config.json")), ck);
                config = hf.config();
                source = hf;
                tokenizer = Tokenizers.load(tokenizerPath != null ? tokenizerPath : model);
            } else {
                GgufFile g = GgufFile.open(model, arena);
                gguf = new GgufModelSource(g);
                config = gguf.config();
                source = gguf;
                tokenizer = tokenizerPath != null ? Tokenizers.load(tokenizerPath) : new LlamaCppTokenizer(Vocabulary.fromGguf(g));
            }
            int len = seqLen > 0 ? seqLen : Math.min(2048, config.contextLength());
            if (len > config.contextLength()) {
                throw new IllegalArgumentException("--seq-len " + len + " exceeds the model's context of " + config.contextLength());
            }
            int[] ids = tokenizer.encode(read(calibration), true, false);
            int bos = ids.length > 0 && ids[0] == tokenizer.bos() ? tokenizer.bos() : -1;
            List<int[]> windows = GptqPipeline.windows(ids, bos, samples, len);
            if (windows.size() < samples) {
                err.printf("note: %s has %d tokens: %d calibration sequences of %d instead of %d%n", calibration, ids.length,
                        windows.size(), len, samples);
            }
            err.printf("gptq: %d-bit, group %d%s%s, damp %s, %d x %d calibration tokens, backend %s%n", bits, groupSize,
                    actOrder ? ", act-order" : "", sym ? ", symmetric" : "", damp, windows.size(), len, backend.name());
            err.flush();

            Bar bar = new Bar(err, quiet);
            GptqPipeline.Outcome o;
            try {
                o = GptqPipeline.run(config, source, backend, windows, params, !layerwise, GptqWriter.packingFilter(bits), bar);
            } finally {
                bar.finish();
            }
            for (GptqPipeline.Skipped s : o.skipped()) {
                err.printf("not quantized: %s [%d x %d]: %s%n", s.name(), s.rows(), s.cols(), s.reason());
            }
            double g = 0;
            double r = 0;
            for (GptqPipeline.Quantized q : o.matrices()) {
                g += q.gptqError();
                r += q.rtnError();
            }
            if (gguf != null) {
                GptqWriter.writeFromGguf(output, gguf, o, params, !layerwise);
            } else {
                GptqWriter.writeFromHf(output, model, hf, o, params, !layerwise);
            }
            out.printf("quantized %d of %d linear layers in %.1f s; calibration output error (sum over layers) GPTQ %.4g, "
                    + "round-to-nearest %.4g; wrote %s%n", o.matrices().size(), o.matrices().size() + o.skipped().size(),
                    o.seconds(), g, r, output);
            out.flush();
            if (eval != null) {
                int[] tokens = tokenizer.encode(read(eval), true, false);
                int evalBos = tokens.length > 0 && tokens[0] == tokenizer.bos() ? tokenizer.bos() : -1;
                int n = evalCtx > 0 ? evalCtx : Math.min(512, config.contextLength());
                String[] names = {"unquantized", "round-to-nearest", "gptq"};
                TensorSource[] sources = {source, o.rtnWeights(source), o.gptqWeights(source)};
                for (int i = 0; i < names.length; i++) {
                    Perplexity.Result pr = Perplexity.compute(tokens, evalBos, n, evalChunks,
                            Perplexity.of(Forwards.create(config, sources[i], backend)), null);
                    out.printf("perplexity %-16s %.4f over %d windows of %d tokens, %.1f s%n", names[i], pr.perplexity(),
                            pr.windows(), n, pr.seconds());
                    out.flush();
                }
            }
        }
        return 0;
    }

    private static String read(Path file) {
        try {
            return Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    /** Progress on stderr: layer i/N, what, elapsed; redrawn at most 10 times a second. */
    private static final class Bar implements GptqPipeline.Progress {
        private final PrintWriter err;
        private final boolean quiet;
        private final long start = System.nanoTime();
        private long last;
        private boolean drawn;

        Bar(PrintWriter err, boolean quiet) {
            this.err = err;
            this.quiet = quiet;
        }

        @Override
        public void update(int layer, int layers, String step) {
            long now = System.nanoTime();
            if (quiet || now - last < 100_000_000L) {
                return;
            }
            last = now;
            int width = 20;
            int fill = layers == 0 ? width : layer * width / layers;
            String s = step.length() > 48 ? step.substring(0, 48) : step;
            err.printf("\r[%s%s] layer %d/%d %-48s %6.1fs ", "#".repeat(fill), ".".repeat(width - fill), layer + 1, layers, s,
                    (now - start) / 1e9);
            err.flush();
            drawn = true;
        }

        void finish() {
            if (drawn) {
                err.println();
                err.flush();
            }
        }
    }
}
