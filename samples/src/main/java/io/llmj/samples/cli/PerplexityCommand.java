package io.llmj.samples.cli;

import io.llmj.Model;
import io.llmj.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code llmj perplexity}, with llama.cpp's definition: the text is tokenized once (with BOS when the
 * model adds one), cut into non-overlapping windows of {@code ctx} tokens whose first token is set to
 * BOS, and in each window only the predictions of the second half are scored.
 */
@Command(name = "perplexity", mixinStandardHelpOptions = true, description = "Perplexity of a text file (llama.cpp's method).")
final class PerplexityCommand implements Callable<Integer> {
    @CommandLine.Mixin
    ModelArgs modelArgs;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Option(names = {"-f", "--file"}, required = true, description = "UTF-8 text file.")
    Path file;

    @Option(names = {"-c", "--ctx"}, defaultValue = "0", description = "Window length (0: the model's context, at most 512).")
    int ctx;

    @Override
    public Integer call() {
        String text;
        try {
            text = Files.readString(file, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
        PrintWriter out = spec.commandLine().getOut();
        try (Model model = modelArgs.load()) {
            Tokenizer tok = model.tokenizer();
            int[] tokens = tok.encode(text, true, false);
            boolean addBos = tokens.length > 0 && tokens[0] == tok.bos();
            int n = ctx > 0 ? ctx : Math.min(512, model.contextLength());
            int chunks = tokens.length / n;
            if (chunks == 0) {
                throw new IllegalArgumentException(file + " has " + tokens.length + " tokens, fewer than one window of " + n);
            }
            int first = n / 2;
            double nll = 0;
            long count = 0;
            long t0 = System.nanoTime();
            for (int c = 0; c < chunks; c++) {
                int[] window = java.util.Arrays.copyOfRange(tokens, c * n, (c + 1) * n);
                if (addBos) {
                    window[0] = tok.bos();
                }
                float[][] logits = model.logits(window, true);
                for (int j = first; j < n - 1; j++) {
                    nll += -logSoftmax(logits[j], tokens[c * n + j + 1]);
                    count++;
                }
                out.printf("[%d]%.4f ", c + 1, Math.exp(nll / count));
                out.flush();
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            out.printf("%nperplexity: %.4f over %d windows of %d tokens (%d scored), %.1f s, backend %s%n",
                    Math.exp(nll / count), chunks, n, count, seconds, model.backendName());
            out.flush();
        }
        return 0;
    }

    static double logSoftmax(float[] logits, int id) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        return logits[id] - max - Math.log(sum);
    }
}
