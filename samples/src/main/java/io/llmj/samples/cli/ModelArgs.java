package io.llmj.samples.cli;

import io.llmj.Model;
import io.llmj.ModelOptions;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/** Options every model-running command shares. */
final class ModelArgs {
    @Option(names = {"-m", "--model"}, required = true, paramLabel = "MODEL",
            description = "A GGUF file or a Hugging Face folder (config.json, *.safetensors, tokenizer.json).")
    Path model;

    @Option(names = "--backend", defaultValue = "auto", paramLabel = "NAME",
            description = "auto (default), cpu, cuda or java (the scalar reference).")
    String backend;

    @Option(names = {"-t", "--threads"}, defaultValue = "0", paramLabel = "T",
            description = "CPU threads for the native kernels (0: all available processors).")
    int threads;

    Model load() {
        return Model.load(model, ModelOptions.defaults().withBackend(backend).withThreads(threads));
    }
}
