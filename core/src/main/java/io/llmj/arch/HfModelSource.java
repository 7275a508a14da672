package io.llmj.arch;

import io.llmj.ModelFormatException;
import io.llmj.backend.BackendProvider;
import io.llmj.backend.Backends;
import io.llmj.backend.RopeConfig;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.format.safetensors.SafetensorsTensor;
import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
import io.llmj.quant.gptq.GptqConfig;
import io.llmj.quant.gptq.GptqMatrix;
import io.llmj.quant.gptq.GptqPacking;
import java.lang.foreign.Arena;
import java.lang.foreign.SegmentAllocator;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face checkpoint folder (config.json + safetensors) presented under llama.cpp's tensor
 * names, so the forward passes need not know where their weights came from. Hugging Face stores
 * Q/K for "rotate_half" RoPE, so every architecture from here uses the NeoX pairing.
 */
public final class HfModelSource implements TensorSource {
    private static final Pattern LAYER = Pattern.compile("model\\.layers\\.(\\d+)\\.(.+)");
    private static final Map<String, String> GLOBAL = Map.of(
            "model.embed_tokens.weight", "token_embd.weight",
            "model.norm.weight", "output_norm.weight",
            "lm_head.weight", "output.weight");

    private final Path folder;
    private final HfConfig hf;
    private final ModelConfig config;
    private final Map<String, SafetensorsTensor> byGgufName = new HashMap<>();
    /** GPTQ settings, or null for an unquantized checkpoint. */
    private final GptqConfig gptq;
    /** GPTQ layers by llama.cpp name: the Hugging Face prefix ("model.layers.0.self_attn.q_proj"). */
    private final Map<String, String> gptqLayers = new HashMap<>();
    private final Map<String, TensorRef> repacked = new java.util.concurrent.ConcurrentHashMap<>();
    /** The backend providers that may give repacked GPTQ layers page memory, looked up on first use. */
    private volatile List<BackendProvider> providers;
    private final Map<String, SafetensorsTensor> byHfName = new HashMap<>();

    public HfModelSource(Path folder, HfConfig hf, SafetensorsCheckpoint checkpoint) {
        this.folder = folder;
        this.hf = hf;
        Architecture arch = architecture(hf);
        this.gptq = GptqConfig.detect(folder, hf.file(), hf.raw());
        for (SafetensorsTensor t : checkpoint.tensors()) {
            byHfName.put(t.name(), t);
            int dot = t.name().lastIndexOf('.');
            String suffix = dot < 0 ? "" : t.name().substring(dot + 1);
            if (GPTQ_PARTS.contains(suffix)) {
                // GPTQ parts of a linear layer: "x.qweight" stands for the layer's "x.weight"
                if (gptq == null) {
                    throw new ModelFormatException(folder, "tensor " + t.name(), "GPTQ tensor in a checkpoint without"
                            + " quantization_config (config.json) or quantize_config.json");
                }
                String layer = t.name().substring(0, dot);
                String name = suffix.equals("qweight") ? ggufName(arch, layer + ".weight") : null;
                if (name != null) {
                    gptqLayers.put(name, layer);
                }
                continue;
            }
            String name = ggufName(arch, t.name());
            if (name != null) {
                byGgufName.put(name, t);
            }
        }
        this.config = readConfig(arch);
    }

    /** Suffixes of the tensors of a GPTQ linear layer. */
    private static final java.util.Set<String> GPTQ_PARTS = java.util.Set.of("qweight", "qzeros", "scales", "g_idx");

    /** The checkpoint's GPTQ settings, or null if it is not GPTQ-quantized. */
    public GptqConfig gptqConfig() {
        return gptq;
    }

    /** llama.cpp names of every tensor found (in no particular order). */
    public java.util.Set<String> names() {
        java.util.Set<String> all = new java.util.HashSet<>(byGgufName.keySet());
        all.addAll(gptqLayers.keySet());
        return java.util.Collections.unmodifiableSet(all);
    }

    /** The Hugging Face tensor mapped to llama.cpp's {@code name}, or null. */
    public SafetensorsTensor hfTensor(String name) {
        return byGgufName.get(name);
    }

    public ModelConfig config() {
        return config;
    }

    public HfConfig hfConfig() {
        return hf;
    }

    @Override
    public TensorRef find(String name) {
        String layer = gptqLayers.get(name);
        if (layer != null) {
            return repacked.computeIfAbsent(name, n -> repackGptq(n, layer));
        }
        SafetensorsTensor t = byGgufName.get(name);
        if (t == null) {
            return null;
        }
        GgmlType type = switch (t.dtype()) {
            case F32 -> GgmlType.F32;
            case F16 -> GgmlType.F16;
            case BF16 -> GgmlType.BF16;
            default -> throw new ModelFormatException(folder, "tensor " + t.name(), "dtype " + t.dtype()
                    + " cannot hold weights (F32, F16, BF16 can)");
        };
        long[] s = t.shape();
        long[] ggml = new long[s.length];
        for (int i = 0; i < s.length; i++) {
            ggml[i] = s[s.length - 1 - i];       // PyTorch [out, in] -> ggml [in, out]
        }
        return new TensorRef(name, type, ggml, t.data());
    }

    @Override
    public java.util.Set<GgmlType> matrixTypes() {
        java.util.Set<GgmlType> types = java.util.EnumSet.noneOf(GgmlType.class);
        if (!gptqLayers.isEmpty()) {
            types.add(GgmlType.gptq(gptq.bits()));
        }
        for (String name : byGgufName.keySet()) {
            TensorRef t = find(name);
            if (t.shape().length == 2) {
                types.add(t.type());
            }
        }
        return types;
    }

    /** The bytes the model's tensors take once prepared: GPTQ layers at their repacked size (load progress). */
    @Override
    public long totalBytes() {
        long sum = 0;
        for (SafetensorsTensor t : byGgufName.values()) {
            sum += t.data().byteSize();
        }
        for (String layer : gptqLayers.values()) {
            SafetensorsTensor qweight = byHfName.get(layer + ".qweight");
            long[] s = qweight == null ? new long[0] : qweight.shape();
            if (s.length == 2) {               // [in / (32 / bits), out]; malformed layers fail when prepared
                long k = s[0] * (32 / gptq.bits());
                SafetensorsTensor gIdx = byHfName.get(layer + ".g_idx");
                if (k <= Integer.MAX_VALUE && s[1] <= Integer.MAX_VALUE && (gIdx == null || gIdx.data().byteSize() >= 4 * k)) {
                    boolean perm = GptqMatrix.needsPermutation(gIdx == null ? null : gIdx.data(), (int) k);
                    sum += GptqMatrix.segmentBytes(gptq.bits(), (int) s[1], (int) k, perm);
                }
            }
        }
        return sum;
    }

    @Override
    public TensorRef require(String name) {
        TensorRef t = find(name);
        if (t == null) {
            throw new ModelFormatException(folder, "tensor " + name, "missing (Hugging Face name for llama.cpp's " + name + ")");
        }
        return t;
    }

    /**
     * A GPTQ layer's tensors checked against each other and repacked into a {@link GptqMatrix}
     * (rows = output features, act-order undone; see there). Blobs are allocated for an automatic
     * arena ({@link Backends#hostAllocator}: page memory where a native provider offers it): they live as
     * long as a weight refers to them.
     */
    private TensorRef repackGptq(String name, String layer) {
        int bits = gptq.bits();
        int p = 32 / bits;
        SafetensorsTensor qweight = gptqPart(layer, "qweight", true);
        SafetensorsTensor qzeros = gptqPart(layer, "qzeros", true);
        SafetensorsTensor scales = gptqPart(layer, "scales", true);
        SafetensorsTensor gIdx = gptqPart(layer, "g_idx", false);
        expectDtype(qweight, io.llmj.format.safetensors.SafetensorsDtype.I32);
        expectDtype(qzeros, io.llmj.format.safetensors.SafetensorsDtype.I32);
        expectDtype(scales, io.llmj.format.safetensors.SafetensorsDtype.F16);
        long[] qs = qweight.shape();
        if (qs.length != 2) {
            throw shape(qweight, "2 dimensions [in / " + p + ", out]");
        }
        long k = qs[0] * p;
        long n = qs[1];
        if (k > Integer.MAX_VALUE || n > Integer.MAX_VALUE || n % p != 0) {
            throw shape(qweight, "[in / " + p + ", out] with out a multiple of " + p + " (" + bits + "-bit quants)");
        }
        long[] ss = scales.shape();
        if (ss.length != 2 || ss[1] != n || ss[0] < 1) {
            throw shape(scales, "[groups, " + n + "]");
        }
        long groups = ss[0];
        long expectGroups = GptqPacking.groups((int) k, gptq.groupSize());
        if (gIdx == null && groups != expectGroups) {
            throw shape(scales, "[" + expectGroups + ", " + n + "] for group_size " + gptq.groupSize() + " and " + k + " inputs");
        }
        long[] zs = qzeros.shape();
        if (zs.length != 2 || zs[0] != groups || zs[1] * p != n) {
            throw shape(qzeros, "[" + groups + ", " + n / p + "]");
        }
        if (gIdx != null) {
            expectDtype(gIdx, io.llmj.format.safetensors.SafetensorsDtype.I32);
            if (gIdx.shape().length != 1 || gIdx.shape()[0] != k) {
                throw shape(gIdx, "[" + k + "]");
            }
        }
        try {
            GptqMatrix m = GptqMatrix.repack(bits, (int) k, (int) n, (int) groups, gptq.groupSize(), qweight.data(),
                    qzeros.data(), scales.data(), gIdx == null ? null : gIdx.data(), gptqAllocator());
            return new TensorRef(name, m.type(), new long[] {k, n}, m.segment());
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(folder, "tensor " + layer + ".qweight", e.getMessage(), e);
        }
    }

    /** An allocator for one repacked layer, freed once nothing refers to it. */
    private SegmentAllocator gptqAllocator() {
        var list = providers;
        if (list == null) {
            providers = list = Backends.providers();
        }
        return Backends.hostAllocator(Arena.ofAuto(), list);
    }

    private SafetensorsTensor gptqPart(String layer, String part, boolean required) {
        SafetensorsTensor t = byHfName.get(layer + "." + part);
        if (t == null && required) {
            throw new ModelFormatException(folder, "tensor " + layer + "." + part, "missing (GPTQ layer " + layer
                    + " needs qweight, qzeros, scales and optionally g_idx)");
        }
        return t;
    }

    private void expectDtype(SafetensorsTensor t, io.llmj.format.safetensors.SafetensorsDtype want) {
        if (t.dtype() != want) {
            throw new ModelFormatException(folder, "tensor " + t.name(), "dtype " + t.dtype() + ", GPTQ expects " + want);
        }
    }

    private ModelFormatException shape(SafetensorsTensor t, String want) {
        return new ModelFormatException(folder, "tensor " + t.name(), "shape " + java.util.Arrays.toString(t.shape())
                + " does not fit GPTQ " + gptq.bits() + "-bit, expected " + want);
    }

    static Architecture architecture(HfConfig hf) {
        String type = hf.modelType();
        return switch (type) {
            case "llama" -> Architecture.LLAMA;
            case "mistral" -> Architecture.MISTRAL;
            case "qwen2" -> Architecture.QWEN2;
            case "qwen3" -> Architecture.QWEN3;
            case "phi3" -> Architecture.PHI3;
            case "gemma2" -> Architecture.GEMMA2;
            default -> throw new ModelFormatException(hf.file(), "key model_type", "unsupported model type '" + type
                    + "' (supported: llama, mistral, qwen2, qwen3, phi3, gemma2)");
        };
    }

    /** llama.cpp's name for a Hugging Face tensor, or null for tensors no forward pass reads. */
    static String ggufName(Architecture arch, String hfName) {
        String g = GLOBAL.get(hfName);
        if (g != null) {
            return g;
        }
        Matcher m = LAYER.matcher(hfName);
        if (!m.matches()) {
            return null;
        }
        String p = "blk." + m.group(1) + ".";
        String rest = m.group(2);
        String suffix = rest.endsWith(".bias") ? ".bias" : ".weight";
        String stem = rest.substring(0, rest.length() - suffix.length());
        String mapped = switch (stem) {
            case "input_layernorm" -> "attn_norm";
            case "self_attn.q_proj" -> "attn_q";
            case "self_attn.k_proj" -> "attn_k";
            case "self_attn.v_proj" -> "attn_v";
            case "self_attn.o_proj" -> "attn_output";
            case "self_attn.qkv_proj" -> "attn_qkv";
            case "self_attn.q_norm" -> "attn_q_norm";
            case "self_attn.k_norm" -> "attn_k_norm";
            case "post_attention_layernorm" -> arch == Architecture.GEMMA2 ? "post_attention_norm" : "ffn_norm";
            case "pre_feedforward_layernorm" -> "ffn_norm";
            case "post_feedforward_layernorm" -> "post_ffw_norm";
            case "mlp.gate_proj" -> "ffn_gate";
            case "mlp.up_proj", "mlp.gate_up_proj" -> "ffn_up";
            case "mlp.down_proj" -> "ffn_down";
            default -> null;
        };
        return mapped == null ? null : p + mapped + suffix;
    }

    private ModelConfig readConfig(Architecture arch) {
        int dim = hf.hiddenSize();
        int nHeads = hf.numAttentionHeads();
        int headDim = hf.headDim();
        int ropeDims = (int) Math.round(headDim * hf.partialRotaryFactor());
        float theta = (float) hf.ropeTheta();
        float[] freqFactors = null;
        float posScale = 1f;
        Map<String, Object> rp = hf.ropeParameters();
        switch (hf.ropeType()) {
            case "default" -> { }
            case "linear" -> posScale = (float) (1.0 / number(rp, "factor"));
            case "llama3" -> freqFactors = llama3FreqFactors(ropeDims, theta, number(rp, "factor"),
                    number(rp, "low_freq_factor"), number(rp, "high_freq_factor"),
                    number(rp, "original_max_position_embeddings"));
            default -> throw new ModelFormatException(hf.file(), "key rope_type", "unsupported RoPE type '" + hf.ropeType() + "'");
        }
        float[] invFreq = RopeConfig.frequencies(ropeDims, theta, freqFactors);
        if (hf.dtype().orElse("float32").equals("bfloat16")) {
            // transformers builds a bfloat16 checkpoint's model in bfloat16, so its inv_freq buffer
            // holds bfloat16-rounded frequencies; match that to reproduce its logits
            for (int i = 0; i < invFreq.length; i++) {
                invFreq[i] = Float16.bf16ToFloat(Float16.floatToBf16(invFreq[i]));
            }
        }
        TensorRef emb = require("token_embd.weight");
        boolean tied = find("output.weight") == null;
        boolean gemma = arch == Architecture.GEMMA2;
        float queryScale = (float) (1.0 / Math.sqrt(gemma ? hf.queryPreAttnScalar().orElse(headDim) : headDim));
        try {
            return new ModelConfig(arch, (int) emb.shape()[1], dim, hf.numHiddenLayers(), nHeads, hf.numKeyValueHeads(),
                    headDim, hf.intermediateSize(), (float) hf.rmsNormEps(), hf.maxPositionEmbeddings().orElse(2048),
                    new RopeConfig(ropeDims, true, invFreq, posScale), tied,
                    (float) hf.attnLogitSoftcapping().orElse(0), (float) hf.finalLogitSoftcapping().orElse(0),
                    hf.slidingWindow().orElse(0), queryScale, gemma ? 1f : 0f);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(hf.file(), "hyper-parameters", e.getMessage(), e);
        }
    }

    private double number(Map<String, Object> rp, String key) {
        Object v = rp.get(key);
        if (!(v instanceof Number n)) {
            throw new ModelFormatException(hf.file(), "key rope_parameters." + key, "missing or not a number");
        }
        return n.doubleValue();
    }

    /**
     * Llama 3's frequency-dependent RoPE scaling as divisors of each pair's frequency: long wavelengths
     * are divided by {@code factor}, short ones kept, and the band between interpolated smoothly.
     */
    public static float[] llama3FreqFactors(int dims, double theta, double factor, double low, double high, double originalCtx) {
        float[] out = new float[dims / 2];
        double lowWavelen = originalCtx / low;
        double highWavelen = originalCtx / high;
        for (int i = 0; i < out.length; i++) {
            double invFreq = Math.pow(theta, -2.0 * i / dims);
            double wavelen = 2 * Math.PI / invFreq;
            double scaled;
            if (wavelen < highWavelen) {
                scaled = invFreq;
            } else if (wavelen > lowWavelen) {
                scaled = invFreq / factor;
            } else {
                double smooth = (originalCtx / wavelen - low) / (high - low);
                scaled = (1 - smooth) * invFreq / factor + smooth * invFreq;
            }
            out[i] = (float) (invFreq / scaled);
        }
        return out;
    }
}
