package io.llmj.samples.cli;

import io.llmj.Model;
import io.llmj.Tokenizer;
import io.llmj.eval.Perplexity;
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
 * {@code llmj perplexity}, with llama.cpp's definition ({@link Perplexity}): the text is tokenized once
 * (with BOS when the model adds one), cut into non-overlapping windows of {@code ctx} tokens whose
 * first token is set to BOS, and in each window only the predictions of the second half are scored.
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

    @Option(names = "--chunks", defaultValue = "0", description = "Score at most this many windows (0: all).")
    int maxChunks;

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
            if (tokens.length < n) {
                throw new IllegalArgumentException(file + " has " + tokens.length + " tokens, fewer than one window of " + n);
            }
            Perplexity.Result r = Perplexity.compute(tokens, addBos ? tok.bos() : -1, n, maxChunks,
                    window -> model.logits(window, true), (c, total, ppl) -> {
                        out.printf("[%d]%.4f ", c + 1, ppl);
                        out.flush();
                    });
            out.printf("%nperplexity: %.4f over %d windows of %d tokens (%d scored), %.1f s, backend %s%n",
                    r.perplexity(), r.windows(), n, r.scored(), r.seconds(), model.backendName());
            out.flush();
        }
        return 0;
    }
}
