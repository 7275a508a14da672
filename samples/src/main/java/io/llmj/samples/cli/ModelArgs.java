package io.llmj.samples.cli;

import io.llmj.LoadProgress;
import io.llmj.Model;
import io.llmj.ModelOptions;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.function.Consumer;
import picocli.CommandLine.Option;

/** Options every model-running command shares. */
final class ModelArgs {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "MODEL",
            description = "A GGUF file or a Hugging Face folder (config.json, *.safetensors, tokenizer.json).")
    Path model;

    @Option(names = "--backend", defaultValue = "auto", paramLabel = "NAME",
            description = "auto (default), cpu, cuda (cuda:N for GPU N) or java (the scalar reference).")
    String backend;

    @Option(names = {"-t", "--threads"}, defaultValue = "0", paramLabel = "T",
            description = "CPU threads for the native kernels (0: all available processors).")
    int threads;

    @Option(names = {"-ngl", "--gpu-layers"}, defaultValue = "-1", paramLabel = "N",
            description = "With a GPU backend: the first N layers on the GPU, the rest (with the embedding and output) "
                    + "on the CPU; -1 (default): all, 0: none.")
    int gpuLayers;

    @Option(names = "--device", defaultValue = "-1", paramLabel = "I",
            description = "GPU index (as listed by llmj info; default: the first).")
    int device;

    Model load() {
        LoadLine line = new LoadLine(System.err);
        try {
            return Model.load(model, ModelOptions.defaults().withBackend(backend).withThreads(threads)
                    .withGpuLayers(gpuLayers).withDevice(device).withProgress(line));
        } finally {
            line.end();
        }
    }

    /**
     * A progress line on stderr for loads that take a while (a GPU upload): nothing for the first
     * half second, then "loading: 1.20/3.60 GiB (33%) 2.1 GiB/s", redrawn at most 10 times a second.
     */
    static final class LoadLine implements Consumer<LoadProgress> {
        private final PrintStream err;
        private long lastDraw;
        private boolean drawn;

        LoadLine(PrintStream err) {
            this.err = err;
        }

        @Override
        public synchronized void accept(LoadProgress p) {
            if (p.nanos() < 500_000_000L || (!p.done() && p.nanos() - lastDraw < 100_000_000L)) {
                return;
            }
            lastDraw = p.nanos();
            double s = p.nanos() / 1e9;
            err.printf("\rloading: %s/%s (%3.0f%%) %.1f GiB/s%s", ProgressBar.size(p.bytesDone()),
                    ProgressBar.size(p.bytesTotal()), 100 * p.fraction(), p.bytesDone() / s / (1L << 30),
                    p.done() ? String.format(", %.2f s", s) : "   ");
            err.flush();
            drawn = true;
        }

        synchronized void end() {
            if (drawn) {
                err.println();
                err.flush();
                drawn = false;
            }
        }
    }
}
