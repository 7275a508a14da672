package io.llmj.quant;

import io.llmj.arch.HfModelSource;
import io.llmj.arch.TensorRef;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufTensor;
import io.llmj.format.gguf.GgufWriter;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Collectors;

/**
 * Quantizes a model to a GGUF v3 file as llama.cpp's llama-quantize does (without an importance
 * matrix): per-tensor types by {@link TensorTypeRules}, ggml's reference quantizers (so the tensor
 * data is byte-identical with llama-quantize's), tensors in llama.cpp's order, the input's metadata
 * with {@code general.file_type} and {@code general.quantization_version = 2} set. Tensors are
 * quantized on all cores and streamed to the file; memory use does not grow with the model.
 *
 * <p>Inputs:
 * <ul>
 *   <li>a GGUF file (or the first part of a split one) whose tensors are F32, F16 or BF16. Tensors that
 *       are not quantized are copied; 1-D tensors are written F32.
 *   <li>a Hugging Face folder (config.json + safetensors, F32/F16/BF16) of model_type {@code llama} or
 *       {@code mistral}, written as llama.cpp's {@code llama} architecture: llama.cpp tensor names, the
 *       {@code llama.*} hyper-parameter keys, Q/K rows permuted from Hugging Face's rotate-half
 *       layout to llama.cpp's interleaved pairs (as convert_hf_to_gguf.py does), {@code rope_freqs.weight}
 *       for llama3 RoPE scaling. <b>No tokenizer metadata is written</b>: converting tokenizer.json
 *       is not implemented, so such a GGUF can be run from token ids only, or with a tokenizer given
 *       separately.
 * </ul>
 */
public final class ModelQuantizer {
    /** Progress after each chunk written: tensor index (1-based), tensor count, output bytes written and total. */
    @FunctionalInterface
    public interface Progress {
        void update(int tensor, int tensors, String name, long bytesDone, long bytesTotal);
    }

    /** What was written. {@code types} counts tensors per type; {@code notes} lists fallbacks. */
    public record Result(Path output, QuantTarget target, Map<GgmlType, Integer> types, long inputBytes,
            long outputBytes, double seconds, List<String> notes) {
        /** A one-line summary: types histogram, sizes, time. */
        public String summary() {
            String hist = types.entrySet().stream().map(e -> e.getValue() + " " + e.getKey())
                    .collect(Collectors.joining(", "));
            return String.format("%s: %d tensors (%s), %.1f MiB -> %.1f MiB, %.1f s%s", target, types.values().stream()
                    .mapToInt(Integer::intValue).sum(), hist, inputBytes / 1048576.0, outputBytes / 1048576.0, seconds,
                    notes.isEmpty() ? "" : ", " + notes.size() + " fallback(s)");
        }
    }

    /** One input tensor (ggml shape) and, for Hugging Face Q/K, the head count of llama.cpp's row permutation. */
    private record Source(String name, long[] shape, GgmlType type, MemorySegment data, int permuteHeads) {
        long cols() {
            return shape[0];
        }

        long rows() {
            long n = 1;
            for (int i = 1; i < shape.length; i++) {
                n *= shape[i];
            }
            return n;
        }
    }

    private final QuantTarget target;
    private int threads = Runtime.getRuntime().availableProcessors();
    private boolean legacyFallback;
    private Progress progress = (i, n, name, done, total) -> { };

    public ModelQuantizer(QuantTarget target) {
        this.target = Objects.requireNonNull(target);
    }

    /** Worker threads (default: all processors). */
    public ModelQuantizer threads(int n) {
        if (n < 1) {
            throw new IllegalArgumentException("threads must be at least 1");
        }
        this.threads = n;
        return this;
    }

    /**
     * Store tensors whose rows are not a whole number of a legacy type's 32-element blocks as F16 (with a
     * note) instead of failing as llama.cpp does. Off by default.
     */
    public ModelQuantizer legacyFallback(boolean on) {
        this.legacyFallback = on;
        return this;
    }

    public ModelQuantizer progress(Progress p) {
        this.progress = Objects.requireNonNull(p);
        return this;
    }

    /**
     * Quantizes {@code input} (a GGUF file or a Hugging Face folder) to {@code output}.
     *
     * @throws QuantizationException for source tensors that are not F32/F16/BF16, unsupported Hugging Face
     *         models, or rows no type fits (see {@link TensorTypeRules})
     * @throws io.llmj.ModelFormatException if the input is malformed
     */
    public Result quantize(Path input, Path output) {
        long t0 = System.nanoTime();
        try {
            if (Files.exists(output) && Files.isSameFile(input, output)) {
                throw new QuantizationException(output + ": the output would overwrite the input");
            }
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        try (Arena arena = Arena.ofShared()) {
            GgufWriter w = new GgufWriter();
            List<Source> sources = new ArrayList<>();
            String arch;
            int nLayer;
            int nExpert;
            long inputBytes;
            if (Files.isDirectory(input)) {
                SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(input, arena);
                HfConfig hf = HfConfig.read(input.resolve("config.json"));
                arch = "llama";
                nLayer = hf.numHiddenLayers();
                nExpert = 0;
                inputBytes = readHf(input, hf, ckpt, w, sources);
            } else {
                GgufFile g = GgufFile.open(input, arena);
                arch = g.string("general.architecture").orElseThrow(() -> new QuantizationException(
                        input + ": no general.architecture"));
                nLayer = (int) g.integer(arch + ".block_count").orElse(0);
                nExpert = (int) g.integer(arch + ".expert_count").orElse(0);
                w.copyMetadata(g);
                for (String k : new ArrayList<>(g.metadata().keySet())) {
                    if (k.startsWith("split.")) {
                        w.remove(k);
                    }
                }
                inputBytes = 0;
                for (GgufTensor t : g.tensors()) {
                    if (t.type() != GgmlType.F32 && t.type() != GgmlType.F16 && t.type() != GgmlType.BF16) {
                        throw new QuantizationException(input + ": tensor " + t.name() + " is " + t.type()
                                + "; llmj quantizes from F32, F16 or BF16 tensors only (requantizing loses precision)");
                    }
                    sources.add(new Source(t.name(), t.shape(), t.type(), t.data(), 0));
                    inputBytes += t.byteSize();
                }
            }
            w.remove("general.quantization_version").remove("general.file_type");
            w.putUInt32("general.quantization_version", 2);
            w.putUInt32("general.file_type", target.fileType());
            sources.sort((a, b) -> TensorTypeRules.LLAMA_CPP_ORDER.compare(a.name, b.name));
            TensorTypeRules rules = new TensorTypeRules(target, arch, nLayer, nExpert,
                    sources.stream().map(Source::name).toList(), legacyFallback);
            Map<GgmlType, Integer> hist = new EnumMap<>(GgmlType.class);
            List<String> notes = new ArrayList<>();
            List<GgmlType> outTypes = new ArrayList<>();
            long total = 0;
            for (Source s : sources) {
                GgmlType t;
                if (TensorTypeRules.isQuantizable(s.name, s.shape.length)) {
                    TensorTypeRules.Choice c = rules.choose(s.name, s.shape);
                    t = c.type();
                    if (c.note() != null) {
                        notes.add(c.note());
                    }
                } else {
                    t = s.shape.length == 1 ? GgmlType.F32 : s.type;
                }
                outTypes.add(t);
                hist.merge(t, 1, Integer::sum);
                total += t.byteSize(s.cols() * s.rows());
            }
            long bytesTotal = total;
            long[] done = {0};
            ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
                Thread th = new Thread(r, "llmj-quantize");
                th.setDaemon(true);
                return th;
            });
            try {
                RowEncoder enc = new RowEncoder(pool, threads);
                for (int i = 0; i < sources.size(); i++) {
                    Source s = sources.get(i);
                    GgmlType t = outTypes.get(i);
                    int index = i + 1;
                    int count = sources.size();
                    w.addTensor(s.name, s.shape, t, ch -> enc.write(ch, s.rows(), Math.toIntExact(s.cols()), t,
                            rowSource(s), n -> {
                                done[0] += n;
                                progress.update(index, count, s.name, done[0], bytesTotal);
                            }));
                }
                w.write(output);
            } finally {
                pool.shutdownNow();
            }
            return new Result(output, target, Collections.unmodifiableMap(hist), inputBytes, Files.size(output),
                    (System.nanoTime() - t0) / 1e9, List.copyOf(notes));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot write " + output, e);
        }
    }

    private static RowEncoder.RowSource rowSource(Source s) {
        QuantFormat in = QuantFormats.require(s.type);
        int cols = Math.toIntExact(s.cols());
        long rowBytes = s.type.byteSize(cols);
        if (s.permuteHeads == 0) {
            return (first, n, dst) -> in.dequantize(s.data, first * rowBytes, dst, 0, n * cols);
        }
        // convert_hf_to_gguf.py's permute: within each head, rows [x0..x(h/2-1), y0..] -> [x0, y0, x1, y1, ...]
        long headRows = s.rows() / s.permuteHeads;
        long half = headRows / 2;
        return (first, n, dst) -> {
            for (int r = 0; r < n; r++) {
                long row = first + r;
                long h = row / headRows;
                long w = row % headRows;
                long src = h * headRows + (w % 2) * half + w / 2;
                in.dequantize(s.data, src * rowBytes, dst, r * cols, cols);
            }
        };
    }

    private long readHf(Path folder, HfConfig hf, SafetensorsCheckpoint ckpt, GgufWriter w, List<Source> out) {
        String type = hf.modelType();
        if (!type.equals("llama") && !type.equals("mistral")) {
            throw new QuantizationException(folder + ": Hugging Face model_type '" + type
                    + "' is not supported for quantization (llama and mistral are)");
        }
        HfModelSource src = new HfModelSource(folder, hf, ckpt);
        int nHead = hf.numAttentionHeads();
        int nKv = hf.numKeyValueHeads();
        int headDim = hf.headDim();
        String p = "llama.";
        w.putString("general.architecture", "llama");
        w.putString("general.name", folder.getFileName() == null ? "model" : folder.getFileName().toString());
        w.putUInt32(p + "context_length", hf.maxPositionEmbeddings().orElse(2048));
        w.putUInt32(p + "embedding_length", hf.hiddenSize());
        w.putUInt32(p + "block_count", hf.numHiddenLayers());
        w.putUInt32(p + "feed_forward_length", hf.intermediateSize());
        w.putUInt32(p + "attention.head_count", nHead);
        w.putUInt32(p + "attention.head_count_kv", nKv);
        w.putFloat32(p + "attention.layer_norm_rms_epsilon", (float) hf.rmsNormEps());
        w.putFloat32(p + "rope.freq_base", (float) hf.ropeTheta());
        w.putUInt32(p + "rope.dimension_count", headDim);
        if (headDim != hf.hiddenSize() / nHead) {
            w.putUInt32(p + "attention.key_length", headDim);
            w.putUInt32(p + "attention.value_length", headDim);
        }
        w.putUInt32(p + "vocab_size", hf.vocabSize());
        Map<String, Object> rp = hf.ropeParameters();
        switch (hf.ropeType()) {
            case "default" -> { }
            case "linear" -> {
                w.putString(p + "rope.scaling.type", "linear");
                w.putFloat32(p + "rope.scaling.factor", ((Number) rp.get("factor")).floatValue());
            }
            case "llama3" -> {
                float[] f = HfModelSource.llama3FreqFactors(headDim, hf.ropeTheta(), num(rp, "factor"),
                        num(rp, "low_freq_factor"), num(rp, "high_freq_factor"), num(rp, "original_max_position_embeddings"));
                out.add(new Source("rope_freqs.weight", new long[] {f.length}, GgmlType.F32,
                        MemorySegment.ofArray(f), 0));
            }
            default -> throw new QuantizationException(folder + ": RoPE type '" + hf.ropeType() + "' is not supported");
        }
        long bytes = 0;
        for (String name : src.names()) {
            TensorRef t = src.find(name);
            if (name.endsWith("attn_q.bias") || name.endsWith("attn_k.bias")) {
                throw new QuantizationException(folder + ": Q/K biases are not supported (they would need "
                        + "llama.cpp's RoPE permutation too)");
            }
            int heads = name.endsWith("attn_q.weight") ? nHead : name.endsWith("attn_k.weight") ? nKv : 0;
            out.add(new Source(name, t.shape(), t.type(), t.data(), heads));
            bytes += t.data().byteSize();
        }
        return bytes;
    }

    private static double num(Map<String, Object> rp, String key) {
        if (!(rp.get(key) instanceof Number n)) {
            throw new QuantizationException("rope_parameters." + key + " is missing or not a number");
        }
        return n.doubleValue();
    }
}
