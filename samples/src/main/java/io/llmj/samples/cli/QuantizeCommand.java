package io.llmj.samples.cli;

import io.llmj.quant.ModelQuantizer;
import io.llmj.quant.QuantTarget;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code llmj quantize IN OUT TYPE}: llama-quantize's per-tensor rules, byte-identical tensor data. */
@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = {"Quantize a GGUF (F32/F16/BF16 tensors) or a Hugging Face llama/mistral folder to a GGUF file, "
                + "choosing each tensor's type as llama.cpp's llama-quantize does (no importance matrix).",
                "TYPE: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, Q4_K_S, Q4_K_M, Q5_K_M. "
                + "Q4_K and Q5_K are uniform (llama-quantize treats them as Q4_K_M / Q5_K_M).",
                "Hugging Face input gets no tokenizer metadata (tokenizer.json is not converted yet)."})
final class QuantizeCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Parameters(index = "0", paramLabel = "IN", description = "Input GGUF file or Hugging Face folder.")
    Path input;

    @Parameters(index = "1", paramLabel = "OUT", description = "Output GGUF file.")
    Path output;

    @Parameters(index = "2", paramLabel = "TYPE", description = "Target type or mix.")
    String type;

    @Option(names = {"-t", "--threads"}, description = "Worker threads (default: all processors).")
    Integer threads;

    @Option(names = "--allow-f16-fallback", description = "Store tensors whose rows are not a multiple of 32 as F16 "
            + "when the target is a legacy type (llama.cpp fails instead; that is the default).")
    boolean fallback;

    @Option(names = {"-q", "--quiet"}, description = "No progress bar.")
    boolean quiet;

    @Override
    public Integer call() {
        QuantTarget target = QuantTarget.parse(type);
        ModelQuantizer q = new ModelQuantizer(target).legacyFallback(fallback);
        if (threads != null) {
            q.threads(threads);
        }
        ProgressBar bar = new ProgressBar(spec.commandLine().getErr());
        if (!quiet) {
            q.progress(bar);
        }
        ModelQuantizer.Result r;
        try {
            r = q.quantize(input, output);
        } finally {
            bar.finish();
        }
        for (String note : r.notes()) {
            spec.commandLine().getErr().println("fallback: " + note);
        }
        if (java.nio.file.Files.isDirectory(input)) {
            spec.commandLine().getErr().println("note: no tokenizer metadata written (converting tokenizer.json "
                    + "is not implemented); run the model from token ids or with a separate tokenizer");
        }
        spec.commandLine().getErr().flush();
        spec.commandLine().getOut().println(r.summary());
        spec.commandLine().getOut().flush();
        return 0;
    }
}
