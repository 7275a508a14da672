package io.llmj.quant;

import io.llmj.format.gguf.GgufArray;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufValueType;
import io.llmj.format.gguf.GgufWriter;
import io.llmj.tokenizer.Vocabulary;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;

/**
 * Writes a random-weight Llama-architecture GGUF directly in a {@link QuantTarget}, for benchmarks and
 * tests that need a model of a real size without downloading one. Weights are generated and encoded in
 * parallel and streamed to the file, so a 7B model never sits in memory.
 *
 * <p>Weights: every matrix N(0,1)/sqrt(n_in) (so activations keep their scale through the layers),
 * token embeddings the same, norm weights 1 + 0.1·N(0,1), where N(0,1) is approximated by a sum of four
 * uniforms ({@link #gaussian}). Each row has its own generator seeded from
 * (seed, tensor name, row), so the same seed gives the same bytes whatever the thread count. Tensor
 * types follow {@link TensorTypeRules} (1-D tensors F32); tensors are written in llama.cpp's order.
 *
 * <p>Tokenizer metadata ({@code tokenizer.*}) is copied from a vocabulary GGUF. When the shape's
 * vocabulary is larger than that file's, the token list is padded with unique placeholder tokens
 * {@code <synth_unused_N>} of type UNUSED (score 0), so the file stays a valid llama.cpp vocabulary;
 * text tokenizes with the real tokens only. A smaller vocabulary than the file's is an error.
 */
public final class SyntheticModel {
    /** Model dimensions; {@code vocab} 0 means "the vocabulary file's size". */
    public record Shape(String name, int dim, int layers, int heads, int kvHeads, int ff, int vocab, int context,
            float ropeTheta) {
        public Shape {
            if (dim <= 0 || layers <= 0 || heads <= 0 || kvHeads <= 0 || ff <= 0 || vocab < 0 || dim % heads != 0
                    || heads % kvHeads != 0 || (dim / heads) % 2 != 0) {
                throw new QuantizationException("bad synthetic shape " + name + ": dim " + dim + ", layers " + layers
                        + ", heads " + heads + ", kv heads " + kvHeads + ", ff " + ff + ", vocab " + vocab
                        + " (dim must divide into heads of even size, heads into kv heads)");
            }
        }

        public int headDim() {
            return dim / heads;
        }

        /** Parses "dim,layers,heads,kvHeads,ff,vocab" (vocab may be 0: the vocabulary file's). */
        public static Shape parse(String dims) {
            String[] p = dims.split(",");
            if (p.length != 6) {
                throw new QuantizationException("--dims needs dim,layers,heads,kvHeads,ff,vocab, not '" + dims + "'");
            }
            int[] v = new int[6];
            for (int i = 0; i < 6; i++) {
                try {
                    v[i] = Integer.parseInt(p[i].trim());
                } catch (NumberFormatException e) {
                    throw new QuantizationException("--dims: '" + p[i] + "' is not an integer");
                }
            }
            return new Shape("custom", v[0], v[1], v[2], v[3], v[4], v[5], 2048, 10000f);
        }
    }

    /** The presets by name: llama2-7b, llama3-8b, llama-1b, tiny. */
    public static final Map<String, Shape> PRESETS = Map.of(
            "llama2-7b", new Shape("llama2-7b", 4096, 32, 32, 32, 11008, 32000, 4096, 10000f),
            "llama3-8b", new Shape("llama3-8b", 4096, 32, 32, 8, 14336, 128256, 8192, 500000f),
            "llama-1b", new Shape("llama-1b", 2048, 16, 32, 8, 8192, 32000, 2048, 10000f),
            "tiny", new Shape("tiny", 256, 2, 8, 4, 512, 0, 512, 10000f));

    /** The preset named {@code name}, or a {@link QuantizationException} listing them. */
    public static Shape preset(String name) {
        Shape s = PRESETS.get(name.toLowerCase(Locale.ROOT));
        if (s == null) {
            throw new QuantizationException("unknown shape '" + name + "' (known: " + String.join(", ",
                    PRESETS.keySet().stream().sorted().toList()) + ")");
        }
        return s;
    }

    private record Spec(String name, long[] shape, boolean norm) {}

    private SyntheticModel() {}

    /**
     * Writes the model to {@code out}.
     *
     * @param vocabGguf a GGUF with {@code tokenizer.*} metadata (stories260K.gguf, a vocab-only file ...)
     */
    public static ModelQuantizer.Result write(Shape shape, QuantTarget target, Path vocabGguf, long seed, int threads,
            ModelQuantizer.Progress progress, Path out) {
        long t0 = System.nanoTime();
        GgufWriter w = new GgufWriter();
        int vocab;
        try (GgufFile v = GgufFile.open(vocabGguf)) {
            if (!v.has("tokenizer.ggml.tokens")) {
                throw new QuantizationException(vocabGguf + " has no tokenizer.ggml.tokens to copy");
            }
            int fileVocab = v.array("tokenizer.ggml.tokens").size();
            vocab = shape.vocab() == 0 ? fileVocab : shape.vocab();
            if (vocab < fileVocab) {
                throw new QuantizationException("vocabulary of " + vocab + " is smaller than " + vocabGguf + "'s "
                        + fileVocab + " tokens");
            }
            String p = "llama.";
            w.putString("general.architecture", "llama");
            w.putString("general.name", "synth-" + shape.name());
            w.putString("general.description", "random weights (llmj synth, seed " + seed + ")");
            w.putUInt32(p + "context_length", shape.context());
            w.putUInt32(p + "embedding_length", shape.dim());
            w.putUInt32(p + "block_count", shape.layers());
            w.putUInt32(p + "feed_forward_length", shape.ff());
            w.putUInt32(p + "attention.head_count", shape.heads());
            w.putUInt32(p + "attention.head_count_kv", shape.kvHeads());
            w.putFloat32(p + "attention.layer_norm_rms_epsilon", 1e-5f);
            w.putUInt32(p + "rope.dimension_count", shape.headDim());
            w.putFloat32(p + "rope.freq_base", shape.ropeTheta());
            w.putUInt32(p + "vocab_size", vocab);
            w.putUInt32("general.file_type", target.fileType());
            w.putUInt32("general.quantization_version", 2);
            for (String k : v.metadata().keySet()) {
                if (k.startsWith("tokenizer.")) {
                    w.put(k, v.type(k), v.get(k));
                }
            }
            if (vocab > fileVocab) {
                pad(w, v, fileVocab, vocab);
            }
        }
        List<Spec> specs = new ArrayList<>();
        long d = shape.dim();
        long q = (long) shape.heads() * shape.headDim();
        long kv = (long) shape.kvHeads() * shape.headDim();
        specs.add(new Spec("token_embd.weight", new long[] {d, vocab}, false));
        specs.add(new Spec("output_norm.weight", new long[] {d}, true));
        specs.add(new Spec("output.weight", new long[] {d, vocab}, false));
        for (int l = 0; l < shape.layers(); l++) {
            String b = "blk." + l + ".";
            specs.add(new Spec(b + "attn_norm.weight", new long[] {d}, true));
            specs.add(new Spec(b + "attn_q.weight", new long[] {d, q}, false));
            specs.add(new Spec(b + "attn_k.weight", new long[] {d, kv}, false));
            specs.add(new Spec(b + "attn_v.weight", new long[] {d, kv}, false));
            specs.add(new Spec(b + "attn_output.weight", new long[] {q, d}, false));
            specs.add(new Spec(b + "ffn_norm.weight", new long[] {d}, true));
            specs.add(new Spec(b + "ffn_gate.weight", new long[] {d, shape.ff()}, false));
            specs.add(new Spec(b + "ffn_up.weight", new long[] {d, shape.ff()}, false));
            specs.add(new Spec(b + "ffn_down.weight", new long[] {shape.ff(), d}, false));
        }
        specs.sort((a, c) -> TensorTypeRules.LLAMA_CPP_ORDER.compare(a.name, c.name));
        TensorTypeRules rules = new TensorTypeRules(target, "llama", shape.layers(), 0,
                specs.stream().map(Spec::name).toList(), false);
        Map<GgmlType, Integer> hist = new EnumMap<>(GgmlType.class);
        List<String> notes = new ArrayList<>();
        List<GgmlType> types = new ArrayList<>();
        long total = 0;
        for (Spec s : specs) {
            GgmlType t = GgmlType.F32;
            if (s.shape.length > 1) {
                TensorTypeRules.Choice c = rules.choose(s.name, s.shape);
                t = c.type();
                if (c.note() != null) {
                    notes.add(c.note());
                }
            }
            types.add(t);
            hist.merge(t, 1, Integer::sum);
            total += t.byteSize(s.shape[0] * (s.shape.length > 1 ? s.shape[1] : 1));
        }
        long bytesTotal = total;
        long[] done = {0};
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread th = new Thread(r, "llmj-synth");
            th.setDaemon(true);
            return th;
        });
        try {
            RowEncoder enc = new RowEncoder(pool, threads);
            for (int i = 0; i < specs.size(); i++) {
                Spec s = specs.get(i);
                GgmlType t = types.get(i);
                int cols = Math.toIntExact(s.shape[0]);
                long rows = s.shape.length > 1 ? s.shape[1] : 1;
                long nameSeed = mix(seed ^ s.name.hashCode() * 0x9E3779B97F4A7C15L);
                float scale = (float) (1.0 / Math.sqrt(cols));
                int index = i + 1;
                RowEncoder.RowSource src = (first, n, dst) -> {
                    for (int r = 0; r < n; r++) {
                        SplittableRandom rnd = new SplittableRandom(mix(nameSeed + first + r));
                        int o = r * cols;
                        if (s.norm) {
                            for (int c = 0; c < cols; c++) {
                                dst[o + c] = 1 + 0.1f * gaussian(rnd.nextLong());
                            }
                        } else {
                            for (int c = 0; c < cols; c++) {
                                dst[o + c] = gaussian(rnd.nextLong()) * scale;
                            }
                        }
                    }
                };
                w.addTensor(s.name, s.shape, t, ch -> enc.write(ch, rows, cols, t, src, n -> {
                    done[0] += n;
                    progress.update(index, specs.size(), s.name, done[0], bytesTotal);
                }));
            }
            w.write(out);
            return new ModelQuantizer.Result(out, target, Collections.unmodifiableMap(hist), 0, Files.size(out),
                    (System.nanoTime() - t0) / 1e9, List.copyOf(notes));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot write " + out, e);
        } finally {
            pool.shutdownNow();
        }
    }

    /** Pads tokens/scores/token_type from {@code have} to {@code want} entries with unused placeholders. */
    private static void pad(GgufWriter w, GgufFile v, int have, int want) {
        String[] tokens = Arrays.copyOf(v.stringArray("tokenizer.ggml.tokens").toArray(new String[0]), want);
        for (int i = have; i < want; i++) {
            tokens[i] = "<synth_unused_" + i + ">";
        }
        w.putArray("tokenizer.ggml.tokens", new GgufArray(GgufValueType.STRING, tokens));
        if (v.has("tokenizer.ggml.scores")) {
            w.putArray("tokenizer.ggml.scores", new GgufArray(GgufValueType.FLOAT32,
                    Arrays.copyOf(v.floatArray("tokenizer.ggml.scores"), want)));
        }
        if (v.has("tokenizer.ggml.token_type")) {
            int[] tt = Arrays.copyOf(v.intArray("tokenizer.ggml.token_type"), want);
            Arrays.fill(tt, have, want, Vocabulary.TYPE_UNUSED);
            w.putArray("tokenizer.ggml.token_type", new GgufArray(GgufValueType.INT32, tt));
        }
    }

    /**
     * An approximately standard normal value from 64 random bits: the sum of four 16-bit uniforms
     * (Irwin-Hall), centred and scaled to unit variance; bounded by ±3.46. Five times faster than
     * {@code nextGaussian}, which would dominate the time to write a 7B model.
     */
    static float gaussian(long bits) {
        long sum = (bits & 0xFFFF) + ((bits >>> 16) & 0xFFFF) + ((bits >>> 32) & 0xFFFF) + (bits >>> 48);
        return (sum - 131070f) * (1f / 37837.2f);
    }

    /** SplitMix64's finalizer. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
