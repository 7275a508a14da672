package io.llmj.arch;

import io.llmj.ModelFormatException;
import io.llmj.backend.RopeConfig;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufTensor;
import io.llmj.quant.GgmlType;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Reads a model's hyper-parameters from GGUF metadata (llama.cpp's keys and defaults) and serves its tensors. */
public final class GgufModelSource implements TensorSource {
    private final GgufFile file;
    private final ModelConfig config;

    public GgufModelSource(GgufFile file) {
        this.file = file;
        this.config = readConfig(file);
    }

    public ModelConfig config() {
        return config;
    }

    public GgufFile file() {
        return file;
    }

    @Override
    public TensorRef find(String name) {
        GgufTensor t = file.tensor(name);
        return t == null ? null : new TensorRef(t.name(), t.type(), t.shape(), t.data());
    }

    @Override
    public java.util.Set<GgmlType> matrixTypes() {
        java.util.Set<GgmlType> types = java.util.EnumSet.noneOf(GgmlType.class);
        for (GgufTensor t : file.tensors()) {
            if (t.rank() == 2) {
                types.add(t.type());
            }
        }
        return types;
    }

    @Override
    public long totalBytes() {
        long sum = 0;
        for (GgufTensor t : file.tensors()) {
            sum += t.data().byteSize();
        }
        return sum;
    }

    @Override
    public TensorRef require(String name) {
        TensorRef t = find(name);
        if (t == null) {
            throw new ModelFormatException(file.path(), "tensor " + name, "missing; the " + config.architecture().ggufName()
                    + " architecture needs it");
        }
        return t;
    }

    private static ModelConfig readConfig(GgufFile f) {
        String archName = f.string("general.architecture")
                .orElseThrow(() -> new ModelFormatException(f.path(), "key general.architecture", "missing"));
        Architecture arch = Architecture.fromGguf(archName);
        if (arch == null) {
            throw new ModelFormatException(f.path(), "key general.architecture", "unsupported architecture '" + archName
                    + "' (supported: llama, mistral, qwen2, qwen3, phi3, gemma2)");
        }
        String p = archName + ".";
        int dim = requireInt(f, p + "embedding_length");
        int nLayers = requireInt(f, p + "block_count");
        int ff = requireInt(f, p + "feed_forward_length");
        int nHeads = requireInt(f, p + "attention.head_count");
        int nKv = optInt(f, p + "attention.head_count_kv", nHeads);
        int headDim = optInt(f, p + "attention.key_length", dim / nHeads);
        float eps = (float) f.number(p + "attention.layer_norm_rms_epsilon").orElse(1e-5);
        int ctx = optInt(f, p + "context_length", 2048);
        GgufTensor emb = f.tensor("token_embd.weight");
        if (emb == null || emb.rank() != 2) {
            throw new ModelFormatException(f.path(), "tensor token_embd.weight", "missing or not a matrix");
        }
        int vocab = Math.toIntExact(emb.dim(1));
        int ropeDims = optInt(f, p + "rope.dimension_count", headDim);
        float theta = (float) f.number(p + "rope.freq_base").orElse(10000.0);
        boolean neox = arch != Architecture.LLAMA && arch != Architecture.MISTRAL;
        float posScale = 1f;
        String scaling = f.string(p + "rope.scaling.type").orElse("none");
        if (scaling.equals("linear")) {
            posScale = (float) (1.0 / f.number(p + "rope.scaling.factor").orElse(1.0));
        } else if (!scaling.equals("none") && !scaling.isEmpty()) {
            throw new ModelFormatException(f.path(), "key " + p + "rope.scaling.type", "unsupported rope scaling '" + scaling + "'");
        }
        float[] freqFactors = null;
        GgufTensor rf = f.tensor("rope_freqs.weight");
        if (rf != null) {
            if (rf.type() != GgmlType.F32 || rf.elements() != ropeDims / 2) {
                throw new ModelFormatException(f.path(), "tensor rope_freqs.weight", "expected " + ropeDims / 2 + " F32 values");
            }
            freqFactors = rf.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
        }
        boolean tied = f.tensor("output.weight") == null;
        float attnCap = (float) f.number(p + "attn_logit_softcapping").orElse(0.0);
        float finalCap = (float) f.number(p + "final_logit_softcapping").orElse(0.0);
        int window = optInt(f, p + "attention.sliding_window", 0);
        try {
            return new ModelConfig(arch, vocab, dim, nLayers, nHeads, nKv, headDim, ff, eps, ctx,
                    new RopeConfig(ropeDims, neox, RopeConfig.frequencies(ropeDims, theta, freqFactors), posScale), tied, attnCap, finalCap, window,
                    (float) (1.0 / Math.sqrt(headDim)), 0f);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(f.path(), "hyper-parameters", e.getMessage(), e);
        }
    }

    private static int requireInt(GgufFile f, String key) {
        long v = f.integer(key).orElseThrow(() -> new ModelFormatException(f.path(), "key " + key, "missing"));
        return checkedInt(f, key, v);
    }

    private static int optInt(GgufFile f, String key, int def) {
        return f.has(key) ? checkedInt(f, key, f.integer(key).orElseThrow(
                () -> new ModelFormatException(f.path(), "key " + key, "not an integer"))) : def;
    }

    private static int checkedInt(GgufFile f, String key, long v) {
        if (v <= 0 || v > Integer.MAX_VALUE) {
            throw new ModelFormatException(f.path(), "key " + key, "value " + v + " out of range");
        }
        return (int) v;
    }
}
