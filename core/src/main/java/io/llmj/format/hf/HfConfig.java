package io.llmj.format.hf;

import io.llmj.ModelFormatException;
import io.llmj.format.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * A typed view of a Hugging Face {@code config.json}. The keys every decoder needs
 * ({@code model_type}, {@code hidden_size}, {@code num_hidden_layers}, {@code num_attention_heads},
 * {@code vocab_size}) are checked when the config is read; other accessors either return an Optional
 * or a documented default, or throw {@link ModelFormatException} naming the missing key.
 *
 * <p>RoPE settings are read from {@code rope_parameters} (transformers 5) or from the older
 * top-level {@code rope_theta} and {@code rope_scaling}. For multimodal configs whose language model
 * settings live under {@code text_config}, those settings are used (merged over the top level).
 */
public final class HfConfig {
    private final Path file;
    private final Map<String, Object> raw;
    private final Map<String, Object> c;

    private HfConfig(Path file, Map<String, Object> raw) {
        this.file = file;
        this.raw = Collections.unmodifiableMap(raw);
        if (!raw.containsKey("hidden_size") && raw.get("text_config") instanceof Map<?, ?> text) {
            Map<String, Object> merged = new LinkedHashMap<>(raw);
            for (Map.Entry<?, ?> e : text.entrySet()) {
                merged.put((String) e.getKey(), e.getValue());
            }
            this.c = merged;
        } else {
            this.c = raw;
        }
        modelType();
        hiddenSize();
        numHiddenLayers();
        numAttentionHeads();
        vocabSize();
    }

    /** Reads {@code config.json}, or {@code config.json} inside the folder {@code path}. */
    public static HfConfig read(Path path) {
        Path f = Files.isDirectory(path) ? path.resolve("config.json") : path;
        if (!Files.isRegularFile(f)) {
            throw new ModelFormatException(f, null, "config.json not found");
        }
        return parse(Json.parse(f), f);
    }

    /** A view of already-parsed JSON; {@code file} is used in messages and may be null. */
    @SuppressWarnings("unchecked")
    public static HfConfig parse(Object json, Path file) {
        if (!(json instanceof Map<?, ?> m)) {
            throw new ModelFormatException(file, null, "config.json is not a JSON object");
        }
        return new HfConfig(file, (Map<String, Object>) m);
    }

    public Path file() {
        return file;
    }

    /** The whole parsed JSON (unmodifiable). */
    public Map<String, Object> raw() {
        return raw;
    }

    private ModelFormatException bad(String key, String problem) {
        return new ModelFormatException(file, "key " + key, problem);
    }

    private Object required(String key) {
        Object v = c.get(key);
        if (v == null) {
            throw bad(key, "required key is missing");
        }
        return v;
    }

    private int toInt(String key, Object v, boolean positive) {
        if (!(v instanceof Long l) || l < (positive ? 1 : Integer.MIN_VALUE) || l > Integer.MAX_VALUE) {
            throw bad(key, "expected " + (positive ? "a positive " : "an ") + "integer, not " + v);
        }
        return (int) (long) l;
    }

    private double toDouble(String key, Object v) {
        if (!(v instanceof Number n)) {
            throw bad(key, "expected a number, not " + v);
        }
        return n.doubleValue();
    }

    /** A positive int, or throws naming the missing/invalid key. */
    public int requireInt(String key) {
        return toInt(key, required(key), true);
    }

    /** An int if present and not null. */
    public OptionalInt optInt(String key) {
        Object v = c.get(key);
        return v == null ? OptionalInt.empty() : OptionalInt.of(toInt(key, v, false));
    }

    /** A number if present and not null. */
    public OptionalDouble optDouble(String key) {
        Object v = c.get(key);
        return v == null ? OptionalDouble.empty() : OptionalDouble.of(toDouble(key, v));
    }

    /** A string if present and not null. */
    public Optional<String> optString(String key) {
        Object v = c.get(key);
        if (v == null) {
            return Optional.empty();
        }
        if (!(v instanceof String s)) {
            throw bad(key, "expected a string, not " + v);
        }
        return Optional.of(s);
    }

    /** A boolean if present and not null. */
    public Optional<Boolean> optBool(String key) {
        Object v = c.get(key);
        if (v == null) {
            return Optional.empty();
        }
        if (!(v instanceof Boolean b)) {
            throw bad(key, "expected true or false, not " + v);
        }
        return Optional.of(b);
    }

    public String modelType() {
        Object v = required("model_type");
        if (!(v instanceof String s) || s.isEmpty()) {
            throw bad("model_type", "expected a non-empty string, not " + v);
        }
        return s;
    }

    /** {@code architectures}, e.g. ["LlamaForCausalLM"]; empty if absent. */
    public List<String> architectures() {
        Object v = c.get("architectures");
        if (v == null) {
            return List.of();
        }
        List<String> out = new ArrayList<>();
        if (v instanceof List<?> l) {
            for (Object o : l) {
                if (!(o instanceof String s)) {
                    throw bad("architectures", "expected strings, not " + o);
                }
                out.add(s);
            }
            return List.copyOf(out);
        }
        throw bad("architectures", "expected an array of strings");
    }

    public int hiddenSize() {
        return requireInt("hidden_size");
    }

    public int numHiddenLayers() {
        return requireInt("num_hidden_layers");
    }

    public int numAttentionHeads() {
        return requireInt("num_attention_heads");
    }

    /** {@code num_key_value_heads}, defaulting to {@link #numAttentionHeads()}. */
    public int numKeyValueHeads() {
        return c.get("num_key_value_heads") == null ? numAttentionHeads() : requireInt("num_key_value_heads");
    }

    /** {@code head_dim}, defaulting to hidden_size / num_attention_heads. */
    public int headDim() {
        if (c.get("head_dim") != null) {
            return requireInt("head_dim");
        }
        if (hiddenSize() % numAttentionHeads() != 0) {
            throw bad("head_dim", "absent, and hidden_size " + hiddenSize() + " is not a multiple of num_attention_heads "
                    + numAttentionHeads());
        }
        return hiddenSize() / numAttentionHeads();
    }

    /** {@code intermediate_size} (required when called). */
    public int intermediateSize() {
        return requireInt("intermediate_size");
    }

    public int vocabSize() {
        return requireInt("vocab_size");
    }

    /** {@code rms_norm_eps} (or {@code layer_norm_eps}); required when called. */
    public double rmsNormEps() {
        if (c.get("rms_norm_eps") == null && c.get("layer_norm_eps") != null) {
            return toDouble("layer_norm_eps", c.get("layer_norm_eps"));
        }
        return toDouble("rms_norm_eps", required("rms_norm_eps"));
    }

    public OptionalInt maxPositionEmbeddings() {
        return optInt("max_position_embeddings");
    }

    /** {@code tie_word_embeddings} if present (the default differs between model types). */
    public Optional<Boolean> tieWordEmbeddings() {
        return optBool("tie_word_embeddings");
    }

    /**
     * The RoPE parameters: {@code rope_parameters} (transformers 5), else {@code rope_scaling} plus
     * {@code rope_theta}; empty if none. Keys as in the file (rope_type/type, factor, ...).
     */
    public Map<String, Object> ropeParameters() {
        Map<String, Object> out = new LinkedHashMap<>();
        Object rp = c.get("rope_parameters");
        if (rp != null) {
            if (!(rp instanceof Map<?, ?> m)) {
                throw bad("rope_parameters", "expected an object");
            }
            m.forEach((k, v) -> out.put((String) k, v));
            return Collections.unmodifiableMap(out);
        }
        Object rs = c.get("rope_scaling");
        if (rs != null) {
            if (!(rs instanceof Map<?, ?> m)) {
                throw bad("rope_scaling", "expected an object");
            }
            m.forEach((k, v) -> out.put((String) k, v));
        }
        if (c.get("rope_theta") != null) {
            out.putIfAbsent("rope_theta", c.get("rope_theta"));
        }
        return Collections.unmodifiableMap(out);
    }

    /** RoPE base frequency: rope_parameters.rope_theta, else rope_theta, else 10000. */
    public double ropeTheta() {
        Object v = ropeParameters().get("rope_theta");
        return v == null ? 10000.0 : toDouble("rope_theta", v);
    }

    /** RoPE type ("default", "llama3", "linear", "yarn", ...): rope_type or type; "default" if none. */
    public String ropeType() {
        Map<String, Object> rp = ropeParameters();
        Object v = rp.get("rope_type") != null ? rp.get("rope_type") : rp.get("type");
        if (v == null) {
            return "default";
        }
        if (!(v instanceof String s)) {
            throw bad("rope_type", "expected a string, not " + v);
        }
        return s;
    }

    /** Fraction of each head's dimensions that RoPE rotates: top level or in rope_parameters; 1.0 if absent. */
    public double partialRotaryFactor() {
        Object v = c.get("partial_rotary_factor");
        if (v == null) {
            v = ropeParameters().get("partial_rotary_factor");
        }
        return v == null ? 1.0 : toDouble("partial_rotary_factor", v);
    }

    /** {@code sliding_window} if present, not null and (when {@code use_sliding_window} is given) enabled. */
    public OptionalInt slidingWindow() {
        if (optBool("use_sliding_window").orElse(true)) {
            return optInt("sliding_window");
        }
        return OptionalInt.empty();
    }

    public OptionalDouble attnLogitSoftcapping() {
        return optDouble("attn_logit_softcapping");
    }

    public OptionalDouble finalLogitSoftcapping() {
        return optDouble("final_logit_softcapping");
    }

    public OptionalDouble queryPreAttnScalar() {
        return optDouble("query_pre_attn_scalar");
    }

    /** {@code layer_types} (e.g. sliding_attention / full_attention per layer); empty if absent. */
    public List<String> layerTypes() {
        Object v = c.get("layer_types");
        if (v == null) {
            return List.of();
        }
        if (!(v instanceof List<?> l) || !l.stream().allMatch(o -> o instanceof String)) {
            throw bad("layer_types", "expected an array of strings");
        }
        return l.stream().map(o -> (String) o).toList();
    }

    /** {@code hidden_act} or {@code hidden_activation}, if present. */
    public Optional<String> hiddenAct() {
        return c.get("hidden_act") != null ? optString("hidden_act") : optString("hidden_activation");
    }

    /** The raw {@code quantization_config} object, if present. */
    @SuppressWarnings("unchecked")
    public Optional<Map<String, Object>> quantizationConfig() {
        Object v = c.get("quantization_config");
        if (v == null) {
            return Optional.empty();
        }
        if (!(v instanceof Map<?, ?> m)) {
            throw bad("quantization_config", "expected an object");
        }
        return Optional.of(Collections.unmodifiableMap((Map<String, Object>) m));
    }

    /** The weights' dtype: {@code dtype} (transformers 5) or {@code torch_dtype}. */
    public Optional<String> dtype() {
        return c.get("dtype") != null ? optString("dtype") : optString("torch_dtype");
    }

    public OptionalInt bosTokenId() {
        return optInt("bos_token_id");
    }

    /** {@code eos_token_id}, which may be one id or a list; empty if absent. */
    public List<Integer> eosTokenIds() {
        Object v = c.get("eos_token_id");
        if (v == null) {
            return List.of();
        }
        if (v instanceof List<?> l) {
            List<Integer> out = new ArrayList<>();
            for (Object o : l) {
                out.add(toInt("eos_token_id", o, false));
            }
            return List.copyOf(out);
        }
        return List.of(toInt("eos_token_id", v, false));
    }

    @Override
    public String toString() {
        return "HfConfig[" + modelType() + ", hidden " + hiddenSize() + ", layers " + numHiddenLayers() + "]";
    }
}
