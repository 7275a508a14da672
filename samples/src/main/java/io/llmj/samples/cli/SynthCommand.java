package io.llmj.samples.cli;

import io.llmj.quant.ModelQuantizer;
import io.llmj.quant.QuantTarget;
import io.llmj.quant.SyntheticModel;
import io.llmj.quant.gptq.GptqSyntheticModel;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code llmj synth}: a random-weight llama GGUF of a chosen size, written directly in a quantized type. */
@Command(name = "synth", mixinStandardHelpOptions = true,
        description = {"Write a random-weight Llama-architecture GGUF (weights N(0,1)/sqrt(n_in), norms near 1) "
                + "directly in TYPE, generated in parallel and streamed to the file.",
                "Tokenizer metadata is copied from --vocab; a larger vocabulary is padded with unused placeholder tokens.",
                "--type GPTQ4 (GPTQ8, GPTQ2) writes a Hugging Face GPTQ folder instead (AutoGPTQ 'gptq' layout, symmetric, "
                + "--group-size, --act-order; tokenizer.json copied from --tokenizer)."})
final class SynthCommand implements Callable<Integer> {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    static final class ShapeChoice {
        @Option(names = "--shape", paramLabel = "NAME", description = "Preset: llama2-7b, llama3-8b, llama-1b, tiny.")
        String preset;

        @Option(names = "--dims", paramLabel = "D,L,H,KV,FF,V",
                description = "dim,layers,heads,kvHeads,ff,vocab (vocab 0: the vocabulary file's size).")
        String dims;
    }

    @ArgGroup(exclusive = true, multiplicity = "1")
    ShapeChoice shape;

    @Option(names = "--type", required = true, description = "F32, F16, BF16, Q4_0 ... Q8_0, Q4_K, Q5_K, Q6_K, Q4_K_S, Q4_K_M, Q5_K_M;"
            + " GPTQ4, GPTQ8, GPTQ2: a GPTQ Hugging Face folder.")
    String type;

    @Option(names = "--group-size", defaultValue = "128", description = "GPTQ group size: -1 or a multiple of 32 (default ${DEFAULT-VALUE}).")
    int groupSize;

    @Option(names = "--act-order", description = "GPTQ: desc_act with a random g_idx permutation.")
    boolean actOrder;

    @Option(names = "--tokenizer", defaultValue = "../shared/testdata/hf-tokenizers/llama3/tokenizer.json",
            description = "GPTQ: tokenizer.json to copy into the folder (default ${DEFAULT-VALUE}).")
    Path tokenizer;

    @Option(names = "--vocab", defaultValue = "../shared/testdata/models/stories260K.gguf",
            description = "GGUF to copy tokenizer metadata from (default ${DEFAULT-VALUE}).")
    Path vocab;

    @Option(names = "--seed", defaultValue = "1", description = "Random seed (default ${DEFAULT-VALUE}); same seed, same bytes.")
    long seed;

    @Option(names = {"-t", "--threads"}, description = "Worker threads (default: all processors).")
    Integer threads;

    @Option(names = {"-q", "--quiet"}, description = "No progress bar.")
    boolean quiet;

    @Parameters(index = "0", paramLabel = "OUT", description = "Output GGUF file (a folder for GPTQ types).")
    Path output;

    @Override
    public Integer call() {
        String upper = type.toUpperCase(java.util.Locale.ROOT);
        if (upper.matches("GPTQ[248]")) {
            return gptq(Integer.parseInt(upper.substring(4)));
        }
        QuantTarget target = QuantTarget.parse(type);
        SyntheticModel.Shape s = shape.preset != null ? SyntheticModel.preset(shape.preset) : SyntheticModel.Shape.parse(shape.dims);
        ProgressBar bar = new ProgressBar(spec.commandLine().getErr());
        ModelQuantizer.Progress p = quiet ? (i, n, name, d, t) -> { } : bar;
        ModelQuantizer.Result r;
        try {
            r = SyntheticModel.write(s, target, vocab, seed, threads == null ? Runtime.getRuntime().availableProcessors()
                    : threads, p, output);
        } finally {
            bar.finish();
        }
        spec.commandLine().getOut().println(s.name() + " " + r.summary());
        spec.commandLine().getOut().flush();
        return 0;
    }

    private Integer gptq(int bits) {
        SyntheticModel.Shape s = shape.preset != null ? SyntheticModel.preset(shape.preset) : SyntheticModel.Shape.parse(shape.dims);
        int vocab = s.vocab();
        if (vocab == 0) {
            vocab = io.llmj.tokenizer.Tokenizers.load(tokenizer).vocabSize();
        }
        GptqSyntheticModel.write(s, vocab, bits, groupSize, actOrder, tokenizer, seed, output);
        spec.commandLine().getOut().println(s.name() + " GPTQ" + bits + " group " + groupSize + (actOrder ? " act-order" : "")
                + " vocab " + vocab + " -> " + output);
        spec.commandLine().getOut().flush();
        return 0;
    }
}
