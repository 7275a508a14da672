package io.llmj.samples.cli;

import io.llmj.ffm.NativeLibraries;
import io.llmj.ffm.Platform;
import io.llmj.ffm.cpu.NativeCpu;
import io.llmj.ffm.cuda.Cuda;
import io.llmj.ffm.generated.llmj.Llmj;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** {@code llmj info}: what this machine offers llmj: CPU features, kernel level, CUDA devices or why not. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print the detected CPU features, the native kernel level and the CUDA devices (or why CUDA is unavailable); with -m, describe a model.")
final class InfoCommand implements Callable<Integer> {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @CommandLine.Option(names = {"-m", "--model"}, paramLabel = "MODEL",
            description = "Describe this GGUF file, Hugging Face folder or tokenizer.json instead: metadata and tensor table.")
    java.nio.file.Path model;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        if (model != null && model.getFileName().toString().endsWith(".json")) {
            io.llmj.Tokenizer tok = io.llmj.tokenizer.Tokenizers.load(model);
            out.println("tokenizer: " + model);
            out.println("vocabulary: " + tok.vocabSize() + " tokens");
            out.println("bos: " + describeToken(tok, tok.bos()));
            out.println("eos: " + describeToken(tok, tok.eos()));
            int eog = 0;
            for (int id = 0; id < tok.vocabSize(); id++) {
                eog += tok.isEndOfGeneration(id) ? 1 : 0;
            }
            out.println("end-of-generation tokens: " + eog);
            out.flush();
            return 0;
        }
        if (model != null) {
            java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
            try (java.io.PrintStream ps = new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8)) {
                io.llmj.format.ModelDescriber.describe(model, ps);
            }
            out.print(buf.toString(java.nio.charset.StandardCharsets.UTF_8));
            out.flush();
            return 0;
        }
        out.println("llmj " + new Main.Version().getVersion()[0].substring(5) + " on " + Platform.describe()
                + ", Java " + Runtime.version() + ", " + Runtime.getRuntime().availableProcessors() + " CPUs");
        NativeLibraries.Result cpu = NativeLibraries.cpuStatus();
        if (!cpu.ok()) {
            out.println("native CPU library: unavailable: " + cpu.failure());
            out.println("backend: java (scalar reference)");
        } else {
            NativeCpu.init();
            out.println("native CPU library: " + cpu.file() + " (version " + Llmj.llmj_version().reinterpret(64).getString(0) + ")");
            out.println("CPU features: " + String.join(" ", NativeCpu.features()));
            out.println("CPU kernels: " + NativeCpu.isa().name().toLowerCase() + " (best available: "
                    + NativeCpu.bestIsa().name().toLowerCase() + "; force with -D" + NativeCpu.ISA_PROPERTY + " or "
                    + NativeCpu.ISA_ENV + ")");
        }
        String why = Cuda.unavailableReason();
        if (why == null) {
            out.println("CUDA: runtime " + Cuda.runtimeVersion() + " (" + NativeLibraries.cudartStatus().file() + ")");
            for (Cuda.Device d : Cuda.devices()) {
                out.println("  device " + d);
            }
            NativeLibraries.Result cublas = NativeLibraries.cublasStatus();
            out.println("cuBLAS: " + (cublas.ok() ? cublas.file() : "unavailable: " + cublas.failure()));
        } else {
            out.println("CUDA: unavailable: " + why);
        }
        out.flush();
        return 0;
    }

    private static String describeToken(io.llmj.Tokenizer tok, int id) {
        if (id < 0 || id >= tok.vocabSize()) {
            return "none";
        }
        return id + " " + io.llmj.format.json.Json.write(new String(tok.tokenBytes(id), java.nio.charset.StandardCharsets.UTF_8));
    }
}
