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

    @CommandLine.Option(names = {"-ngl", "--gpu-layers"}, defaultValue = "-1", paramLabel = "N",
            description = "With -m: show where --gpu-layers N would put the model's weights (-1: all on the GPU).")
    int gpuLayers;

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
            printPlan(out);
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

    /**
     * Where {@code --gpu-layers N} puts the weights: the first N layers on the GPU, the others with the
     * embedding and output on the CPU (all on the GPU when N is -1 or at least the layer count), with
     * the KV cache per 1024 positions (F16) each side needs.
     */
    private void printPlan(PrintWriter out) {
        java.util.Map<Integer, Long> layerBytes = new java.util.TreeMap<>();
        long[] other = {0};
        io.llmj.arch.ModelConfig config;
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            java.util.function.BiConsumer<String, Long> add = (name, bytes) -> {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile("blk\\.(\\d+)\\..*").matcher(name);
                if (m.matches()) {
                    layerBytes.merge(Integer.parseInt(m.group(1)), bytes, Long::sum);
                } else {
                    other[0] += bytes;
                }
            };
            if (java.nio.file.Files.isDirectory(model)) {
                var ckpt = io.llmj.format.safetensors.SafetensorsCheckpoint.open(model, arena);
                var src = new io.llmj.arch.HfModelSource(model, io.llmj.format.hf.HfConfig.read(model.resolve("config.json")), ckpt);
                config = src.config();
                for (String name : src.names()) {
                    add.accept(name, src.hfTensor(name).data().byteSize());
                }
            } else {
                var g = io.llmj.format.gguf.GgufFile.open(model, arena);
                config = new io.llmj.arch.GgufModelSource(g).config();
                for (var t : g.tensors()) {
                    add.accept(t.name(), t.data().byteSize());
                }
            }
        } catch (RuntimeException e) {
            out.println("GPU plan: not available (" + e.getMessage() + ")");
            return;
        }
        int n = config.nLayers();
        int onGpu = gpuLayers < 0 || gpuLayers > n ? n : gpuLayers;
        long gpu = 0;
        long cpu = onGpu == n ? 0 : other[0];
        for (var e : layerBytes.entrySet()) {
            if (e.getKey() < onGpu) {
                gpu += e.getValue();
            } else {
                cpu += e.getValue();
            }
        }
        if (onGpu == n) {
            gpu += other[0];
        }
        long kvPerLayer = 2L * 1024 * config.kvDim() * 2;      // K and V, F16, per 1024 positions
        out.printf("GPU plan (--gpu-layers %d): GPU: %s, %s of weights + %s of KV cache per 1024 positions (F16)%n",
                gpuLayers, onGpu == 0 ? "no layers" : onGpu == n ? "all " + n + " layers, embedding and output"
                        : "layers 0-" + (onGpu - 1) + " (" + onGpu + " of " + n + ")",
                ProgressBar.size(gpu), ProgressBar.size(kvPerLayer * onGpu));
        if (onGpu < n) {
            out.printf("                        CPU: layers %d-%d, embedding and output, %s of weights + %s of KV cache per 1024 positions%n",
                    onGpu, n - 1, ProgressBar.size(cpu), ProgressBar.size(kvPerLayer * (n - onGpu)));
        }
        out.flush();
    }

    private static String describeToken(io.llmj.Tokenizer tok, int id) {
        if (id < 0 || id >= tok.vocabSize()) {
            return "none";
        }
        return id + " " + io.llmj.format.json.Json.write(new String(tok.tokenBytes(id), java.nio.charset.StandardCharsets.UTF_8));
    }
}
