package io.llmj.quant.gptq;

import io.llmj.arch.Architecture;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.HfModelSource;
import io.llmj.arch.ModelConfig;
import io.llmj.arch.TensorRef;
import io.llmj.arch.TensorSource;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufWriter;
import io.llmj.format.json.Json;
import io.llmj.format.safetensors.SafetensorsDtype;
import io.llmj.format.safetensors.SafetensorsWriter;
import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantizationException;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Writes a GPTQ result as a Hugging Face folder in AutoGPTQ / GPTQModel's {@code gptq} checkpoint
 * format: {@code config.json} with a {@code quantization_config}, one {@code model.safetensors}, and a
 * tokenizer ({@code tokenizer.json} and friends copied from a Hugging Face source; for a GGUF source a
 * vocab-only {@code tokenizer.gguf} holding its {@code tokenizer.ggml.*} metadata, which
 * {@code io.llmj.tokenizer.Tokenizers.load} reads).
 *
 * <p>Per quantized linear layer {@code P} with {@code in} inputs and {@code out} outputs:
 * <ul>
 *   <li>{@code P.qweight} int32 {@code [in * bits / 32, out]}: word {@code (i, o)} holds the codes of
 *       inputs {@code i * 32/bits ..} of output {@code o}, input {@code i * 32/bits + j} in bits
 *       {@code [j * bits, (j + 1) * bits)};</li>
 *   <li>{@code P.qzeros} int32 {@code [groups, out * bits / 32]}: {@code zero - 1} (masked to bits),
 *       packed the same way along the output dimension;</li>
 *   <li>{@code P.scales} F16 {@code [groups, out]}; {@code P.g_idx} int32 {@code [in]}: each input's group;</li>
 *   <li>{@code P.bias} as in the source, when it has one.</li>
 * </ul>
 * Dequantized: {@code W[o][i] = scales[g][o] * (code(i, o) - (qzero(g, o) + 1))}, {@code g = g_idx[i]}.
 * Everything else (embeddings, norms, lm_head, and linear layers the packing cannot hold) is stored
 * unquantized: F32 or F16 as in the source, other types as F32. Skipped layers are listed in
 * {@code quantization_config.dynamic} with GPTQModel's "{@code -:}" (do not quantize) prefix.
 *
 * <p>A GGUF source (llama and mistral only) is converted back to Hugging Face names, with Q and K
 * rows un-permuted from llama.cpp's interleaved RoPE layout; GPTQ treats output rows independently,
 * so permuting rows after quantization gives the same checkpoint as quantizing the Hugging Face
 * original.
 */
public final class GptqWriter {
    private GptqWriter() {}

    /** Why a {@code rows x cols} matrix does not fit the packing at {@code bits}, or null if it fits. */
    public static String skipReason(int rows, int cols, int bits) {
        if (32 % bits != 0) {
            return bits + "-bit codes do not pack into 32-bit words (2, 4 and 8 bits do)";
        }
        int per = 32 / bits;
        if (cols % per != 0) {
            return cols + " inputs are not a multiple of " + per + " (qweight packs " + per + " per int32)";
        }
        if (rows % per != 0) {
            return rows + " outputs are not a multiple of " + per + " (qzeros packs " + per + " per int32)";
        }
        return null;
    }

    /** {@link #skipReason} as a pipeline filter. */
    public static GptqPipeline.MatrixFilter packingFilter(int bits) {
        return (name, rows, cols) -> skipReason(rows, cols, bits);
    }

    /** Writes the quantized model read from a Hugging Face folder. */
    public static void writeFromHf(Path out, Path sourceFolder, HfModelSource src, GptqPipeline.Outcome outcome,
                                   GptqQuantizer.Params p, boolean trueSequential) {
        Map<String, String> hfNames = new TreeMap<>();                      // HF name -> llama.cpp name
        for (String g : src.names()) {
            hfNames.put(src.hfTensor(g).name(), g);
        }
        List<Tensor> tensors = new ArrayList<>();
        for (Map.Entry<String, String> e : hfNames.entrySet()) {
            tensors.add(new Tensor(e.getKey(), e.getValue(), 0));
        }
        Map<String, Object> config = new LinkedHashMap<>(src.hfConfig().raw());
        config.remove("quantization_config");
        writeFolder(out, src, tensors, outcome, p, trueSequential, config);
        for (String f : List.of("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                "generation_config.json", "tokenizer.model")) {
            Path s = sourceFolder.resolve(f);
            if (Files.isRegularFile(s)) {
                copy(s, out.resolve(f));
            }
        }
    }

    /** Writes the quantized model read from a llama or mistral GGUF file. */
    public static void writeFromGguf(Path out, GgufModelSource src, GptqPipeline.Outcome outcome, GptqQuantizer.Params p,
                                     boolean trueSequential) {
        GgufFile f = src.file();
        ModelConfig c = src.config();
        if (c.architecture() != Architecture.LLAMA && c.architecture() != Architecture.MISTRAL) {
            throw new QuantizationException(f.path() + ": writing a GPTQ checkpoint from a " + c.architecture().ggufName()
                    + " GGUF is not supported (llama and mistral are)");
        }
        List<Tensor> tensors = new ArrayList<>();
        for (var t : f.tensors()) {
            String hf = hfName(t.name());
            if (hf == null) {
                throw new QuantizationException(f.path() + ": tensor " + t.name() + " has no Hugging Face llama counterpart");
            }
            int heads = t.name().endsWith("attn_q.weight") ? c.nHeads() : t.name().endsWith("attn_k.weight") ? c.nKvHeads() : 0;
            tensors.add(new Tensor(hf, t.name(), heads));
        }
        String p0 = c.architecture().ggufName() + ".";
        Map<String, Object> config = new LinkedHashMap<>();
        boolean mistral = c.architecture() == Architecture.MISTRAL;
        config.put("architectures", List.of(mistral ? "MistralForCausalLM" : "LlamaForCausalLM"));
        config.put("model_type", mistral ? "mistral" : "llama");
        config.put("hidden_size", c.dim());
        config.put("intermediate_size", c.ffDim());
        config.put("num_hidden_layers", c.nLayers());
        config.put("num_attention_heads", c.nHeads());
        config.put("num_key_value_heads", c.nKvHeads());
        if (c.headDim() != c.dim() / c.nHeads()) {
            config.put("head_dim", c.headDim());
        }
        config.put("hidden_act", "silu");
        config.put("rms_norm_eps", Double.parseDouble(Float.toString(c.normEps())));
        config.put("rope_theta", f.number(p0 + "rope.freq_base").orElse(10000.0));
        if (f.tensor("rope_freqs.weight") != null) {
            throw new QuantizationException(f.path() + ": rope_freqs.weight (llama3 RoPE scaling) is not converted yet");
        }
        if (f.string(p0 + "rope.scaling.type").orElse("none").equals("linear")) {
            config.put("rope_scaling", Map.of("type", "linear", "factor", f.number(p0 + "rope.scaling.factor").orElse(1.0)));
        }
        config.put("max_position_embeddings", c.contextLength());
        config.put("vocab_size", c.vocabSize());
        config.put("tie_word_embeddings", f.tensor("output.weight") == null);
        f.integer("tokenizer.ggml.bos_token_id").ifPresent(v -> config.put("bos_token_id", v));
        f.integer("tokenizer.ggml.eos_token_id").ifPresent(v -> config.put("eos_token_id", v));
        config.put("torch_dtype", "float16");
        writeFolder(out, src, tensors, outcome, p, trueSequential, config);

        GgufWriter vocab = new GgufWriter();                               // a vocab-only GGUF, as llama.cpp's vocab files
        vocab.putString("general.architecture", c.architecture().ggufName());
        for (String key : f.metadata().keySet()) {
            if (key.startsWith("tokenizer.")) {
                vocab.put(key, f.type(key), f.metadata().get(key));
            }
        }
        vocab.write(out.resolve("tokenizer.gguf"));
    }

    /** A tensor to write: its Hugging Face name, the source's llama.cpp name, and heads to un-permute (0: none). */
    private record Tensor(String hfName, String ggufName, int unpermuteHeads) {}

    private static void writeFolder(Path out, TensorSource src, List<Tensor> tensors, GptqPipeline.Outcome outcome,
                                    GptqQuantizer.Params p, boolean trueSequential, Map<String, Object> config) {
        Map<String, GptqPipeline.Quantized> quantized = new HashMap<>();
        outcome.matrices().forEach(q -> quantized.put(q.name(), q));
        Map<String, String> hfOf = new HashMap<>();
        tensors.forEach(t -> hfOf.put(t.ggufName(), t.hfName()));
        SafetensorsWriter st = new SafetensorsWriter().metadata("format", "pt");
        for (Tensor t : tensors) {
            TensorRef ref = src.require(t.ggufName());
            GptqPipeline.Quantized q = quantized.get(t.ggufName());
            if (q != null) {
                String prefix = t.hfName().substring(0, t.hfName().length() - ".weight".length());
                GptqQuantizer.Result r = t.unpermuteHeads() == 0 ? q.gptq()
                        : permuteRows(q.gptq(), unpermutation(q.rows(), t.unpermuteHeads()));
                addQuantized(st, prefix, r, p.bits());
            } else {
                addPlain(st, t.hfName(), ref, t.unpermuteHeads());
            }
        }
        Map<String, Object> qc = new LinkedHashMap<>();
        qc.put("quant_method", "gptq");
        qc.put("bits", p.bits());
        qc.put("group_size", p.groupSize());
        qc.put("desc_act", p.actOrder());
        qc.put("sym", p.sym());
        qc.put("damp_percent", p.damp());
        qc.put("true_sequential", trueSequential);
        qc.put("static_groups", false);
        qc.put("checkpoint_format", "gptq");
        if (!outcome.skipped().isEmpty()) {
            Map<String, Object> dynamic = new LinkedHashMap<>();
            for (GptqPipeline.Skipped s : outcome.skipped()) {
                String hf = hfOf.getOrDefault(s.name(), s.name());
                // a Python regular expression (GPTQModel matches with re): escape the dots
                dynamic.put("-:" + hf.substring(0, hf.length() - ".weight".length()).replace(".", "\\."), Map.of());
            }
            qc.put("dynamic", dynamic);
        }
        qc.put("meta", Map.of("quantizer", "llmj gptq"));
        config.put("quantization_config", qc);
        try {
            Files.createDirectories(out);
            Files.writeString(out.resolve("config.json"), Json.write(config) + "\n");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out.resolve("config.json"), e);
        }
        st.write(out.resolve("model.safetensors"));
    }

    private static void addQuantized(SafetensorsWriter st, String prefix, GptqQuantizer.Result r, int bits) {
        String why = skipReason(r.rows(), r.cols(), bits);
        if (why != null) {
            throw new IllegalArgumentException(prefix + ": " + why);
        }
        int per = 32 / bits;
        st.addI32(prefix + ".qweight", new long[] {r.cols() / per, r.rows()}, packQweight(r.codes(), r.rows(), r.cols(), bits));
        st.addI32(prefix + ".qzeros", new long[] {r.groups(), r.rows() / per},
                GptqPacking.packQzeros(r.zeros(), r.groups(), r.rows(), bits));
        short[] scales = new short[r.scales().length];
        for (int i = 0; i < scales.length; i++) {
            scales[i] = Float16.fromFloat(r.scales()[i]);
        }
        st.addF16(prefix + ".scales", new long[] {r.groups(), r.rows()}, scales);
        st.addI32(prefix + ".g_idx", new long[] {r.cols()}, r.gIdx());
    }

    private static void addPlain(SafetensorsWriter st, String name, TensorRef t, int unpermuteHeads) {
        long[] g = t.shape();
        long[] shape = new long[g.length];
        for (int i = 0; i < g.length; i++) {
            shape[i] = g[g.length - 1 - i];                               // ggml [in, out] -> PyTorch [out, in]
        }
        int cols = (int) g[0];
        int rows = g.length == 2 ? (int) g[1] : 1;
        if (unpermuteHeads == 0 && (t.type() == GgmlType.F32 || t.type() == GgmlType.F16)) {
            st.add(name, t.type() == GgmlType.F32 ? SafetensorsDtype.F32 : SafetensorsDtype.F16, shape,
                    t.data().asSlice(0, t.type().byteSize(cols) * rows));
            return;
        }
        float[] v = GptqPipeline.toFloat(t, rows, cols);
        if (unpermuteHeads != 0) {
            int[] order = unpermutation(rows, unpermuteHeads);
            float[] o = new float[v.length];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(v, order[r] * cols, o, r * cols, cols);
            }
            v = o;
        }
        MemorySegment s = MemorySegment.ofArray(new byte[4 * v.length]);
        MemorySegment.copy(v, 0, s, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0, v.length);
        st.add(name, SafetensorsDtype.F32, shape, s);
    }

    // ---- packing ------------------------------------------------------------------------------------
    /** qweight {@code [cols * bits / 32][rows]} of codes {@code [rows][cols]} (output-major), through {@link GptqPacking}. */
    static int[] packQweight(int[] codes, int rows, int cols, int bits) {
        int[] byInput = new int[codes.length];                 // GptqPacking takes q[input][output]
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                byInput[c * rows + r] = codes[r * cols + c];
            }
        }
        return GptqPacking.packQweight(byInput, cols, rows, bits);
    }

    // ---- helpers ------------------------------------------------------------------------------------

    private static final Pattern LAYER = Pattern.compile("blk\\.(\\d+)\\.(.+)\\.(weight|bias)");
    private static final Map<String, String> LAYER_NAMES = Map.of(
            "attn_norm", "input_layernorm", "attn_q", "self_attn.q_proj", "attn_k", "self_attn.k_proj",
            "attn_v", "self_attn.v_proj", "attn_output", "self_attn.o_proj", "ffn_norm", "post_attention_layernorm",
            "ffn_gate", "mlp.gate_proj", "ffn_up", "mlp.up_proj", "ffn_down", "mlp.down_proj");

    /** The Hugging Face llama name of a llama.cpp tensor, or null. */
    static String hfName(String gguf) {
        switch (gguf) {
            case "token_embd.weight": return "model.embed_tokens.weight";
            case "output_norm.weight": return "model.norm.weight";
            case "output.weight": return "lm_head.weight";
            default: break;
        }
        Matcher m = LAYER.matcher(gguf);
        if (!m.matches() || !LAYER_NAMES.containsKey(m.group(2))) {
            return null;
        }
        return "model.layers." + m.group(1) + "." + LAYER_NAMES.get(m.group(2)) + "." + m.group(3);
    }

    /**
     * For each Hugging Face row, the llama.cpp row holding it: convert_hf_to_gguf.py's permute put HF
     * row {@code h * hr + (w % 2) * hr/2 + w / 2} at llama.cpp row {@code h * hr + w} within each head of {@code hr} rows.
     */
    static int[] unpermutation(int rows, int heads) {
        int hr = rows / heads;
        int half = hr / 2;
        int[] order = new int[rows];
        for (int h = 0; h < heads; h++) {
            for (int w = 0; w < hr; w++) {
                order[h * hr + (w % 2) * half + w / 2] = h * hr + w;
            }
        }
        return order;
    }

    /** The result with output row {@code i} taken from row {@code order[i]}. */
    static GptqQuantizer.Result permuteRows(GptqQuantizer.Result r, int[] order) {
        int rows = r.rows();
        int cols = r.cols();
        int[] codes = new int[rows * cols];
        float[] deq = new float[rows * cols];
        float[] scales = new float[r.scales().length];
        int[] zeros = new int[r.zeros().length];
        for (int i = 0; i < rows; i++) {
            int s = order[i];
            System.arraycopy(r.codes(), s * cols, codes, i * cols, cols);
            System.arraycopy(r.dequantized(), s * cols, deq, i * cols, cols);
            for (int g = 0; g < r.groups(); g++) {
                scales[g * rows + i] = r.scales()[g * rows + s];
                zeros[g * rows + i] = r.zeros()[g * rows + s];
            }
        }
        return new GptqQuantizer.Result(rows, cols, r.bits(), r.groups(), codes, scales, zeros, r.gIdx(), deq);
    }

    private static void copy(Path from, Path to) {
        try {
            Files.copy(from, to, StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot copy " + from + " to " + to, e);
        }
    }
}
