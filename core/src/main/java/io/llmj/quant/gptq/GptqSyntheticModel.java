package io.llmj.quant.gptq;

import io.llmj.format.json.Json;
import io.llmj.format.safetensors.SafetensorsDtype;
import io.llmj.format.safetensors.SafetensorsWriter;
import io.llmj.quant.Float16;
import io.llmj.quant.QuantizationException;
import io.llmj.quant.SyntheticModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Writes a random-weight llama model as a Hugging Face GPTQ folder ({@code config.json} with
 * {@code quantization_config}, {@code model.safetensors} in AutoGPTQ's "gptq" layout, a copied
 * {@code tokenizer.json}), for GPU and CPU benchmarks of GPTQ kernels at real sizes.
 *
 * <p>Linear layers: uniform random quants, symmetric zero points ({@code 2^(bits-1)}), fp16 scales
 * chosen so the weights have standard deviation {@code 1/sqrt(n_in)}; with act-order the g_idx is a
 * random permutation of {@code k / group_size}. Embeddings and {@code lm_head} F16 (uniform, same
 * variance), norms F32 1.0. Tensors stream to disk (the data are generated per tensor, chunk by chunk).
 */
public final class GptqSyntheticModel {
    private GptqSyntheticModel() {}

    /**
     * @param vocabSize the model's vocabulary (the shape's, or the tokenizer's when the shape has 0)
     */
    public static void write(SyntheticModel.Shape s, int vocabSize, int bits, int groupSize, boolean actOrder,
                             Path tokenizerJson, long seed, Path out) {
        GptqPacking.checkBits(bits);
        if (groupSize != -1 && (groupSize <= 0 || groupSize % 32 != 0)) {
            throw new QuantizationException("group size " + groupSize + ": -1 or a multiple of 32");
        }
        int p = 32 / bits;
        if (s.dim() % p != 0 || s.ff() % p != 0 || (groupSize > 0 && (s.dim() % groupSize != 0 || s.ff() % groupSize != 0))) {
            throw new QuantizationException("shape " + s.name() + " does not divide into " + bits + "-bit words and groups of " + groupSize);
        }
        try {
            Files.createDirectories(out);
            Map<String, Object> qc = new LinkedHashMap<>();
            qc.put("quant_method", "gptq");
            qc.put("bits", (long) bits);
            qc.put("group_size", (long) groupSize);
            qc.put("desc_act", actOrder);
            qc.put("sym", true);
            qc.put("checkpoint_format", "gptq");
            Map<String, Object> c = new LinkedHashMap<>();
            c.put("architectures", List.of("LlamaForCausalLM"));
            c.put("model_type", "llama");
            c.put("hidden_size", (long) s.dim());
            c.put("intermediate_size", (long) s.ff());
            c.put("num_hidden_layers", (long) s.layers());
            c.put("num_attention_heads", (long) s.heads());
            c.put("num_key_value_heads", (long) s.kvHeads());
            c.put("vocab_size", (long) vocabSize);
            c.put("max_position_embeddings", (long) s.context());
            c.put("rms_norm_eps", 1e-5);
            c.put("rope_theta", (double) s.ropeTheta());
            c.put("tie_word_embeddings", false);
            c.put("torch_dtype", "float16");
            c.put("bos_token_id", 1L);
            c.put("eos_token_id", 2L);
            c.put("quantization_config", qc);
            Files.writeString(out.resolve("config.json"), Json.write(c));
            Files.copy(tokenizerJson, out.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);

            SafetensorsWriter w = new SafetensorsWriter();
            int hd = s.dim() / s.heads();
            w.add("model.embed_tokens.weight", SafetensorsDtype.F16, new long[] {vocabSize, s.dim()},
                    f16(seed, 0, (long) vocabSize * s.dim(), 1.0 / Math.sqrt(s.dim())));
            for (int l = 0; l < s.layers(); l++) {
                String b = "model.layers." + l + ".";
                w.add(b + "input_layernorm.weight", SafetensorsDtype.F32, new long[] {s.dim()}, ones(s.dim()));
                w.add(b + "post_attention_layernorm.weight", SafetensorsDtype.F32, new long[] {s.dim()}, ones(s.dim()));
                int[][] lin = {{s.dim(), s.dim()}, {s.dim(), s.kvHeads() * hd}, {s.dim(), s.kvHeads() * hd},
                    {s.dim(), s.dim()}, {s.dim(), s.ff()}, {s.dim(), s.ff()}, {s.ff(), s.dim()}};
                String[] names = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
                    "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj"};
                for (int i = 0; i < names.length; i++) {
                    linear(w, b + names[i], lin[i][0], lin[i][1], bits, groupSize, actOrder, seed * 1000003L + l * 16L + i);
                }
            }
            w.add("model.norm.weight", SafetensorsDtype.F32, new long[] {s.dim()}, ones(s.dim()));
            w.add("lm_head.weight", SafetensorsDtype.F16, new long[] {vocabSize, s.dim()},
                    f16(seed, 1, (long) vocabSize * s.dim(), 1.0 / Math.sqrt(s.dim())));
            w.write(out.resolve("model.safetensors"));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + out + ": " + e.getMessage(), e);
        }
    }

    /** One GPTQ layer of k inputs and n outputs. */
    private static void linear(SafetensorsWriter w, String stem, int k, int n, int bits, int groupSize, boolean actOrder, long seed) {
        int p = 32 / bits;
        int groups = GptqPacking.groups(k, groupSize);
        double stdQ = Math.sqrt(((double) (1L << (2 * bits)) - 1) / 12.0);
        short scale = Float16.fromFloat((float) (1.0 / Math.sqrt(k) / stdQ));
        w.add(stem + ".qweight", SafetensorsDtype.I32, new long[] {k / p, n}, ints(seed, (long) k / p * n));
        int z = (1 << (bits - 1)) - 1;    // stored minus one
        int zword = 0;
        for (int j = 0; j < p; j++) {
            zword |= z << (j * bits);
        }
        final int zw = zword;
        w.add(stem + ".qzeros", SafetensorsDtype.I32, new long[] {groups, n / p}, fill((long) groups * (n / p) * 4, bb -> bb.putInt(zw)));
        w.add(stem + ".scales", SafetensorsDtype.F16, new long[] {groups, n}, fill((long) groups * n * 2, bb -> bb.putShort(scale)));
        int[] gIdx = GptqPacking.defaultGidx(k, groupSize);
        if (actOrder && groups > 1) {
            SplittableRandom r = new SplittableRandom(seed ^ 0x5DEECE66DL);
            int[] perm = new int[k];
            for (int i = 0; i < k; i++) {
                perm[i] = i;
            }
            for (int i = k - 1; i > 0; i--) {
                int j = r.nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            for (int j = 0; j < k; j++) {
                gIdx[perm[j]] = j / groupSize;
            }
        }
        ByteBuffer g = ByteBuffer.allocate(4 * k).order(ByteOrder.LITTLE_ENDIAN);
        g.asIntBuffer().put(gIdx);
        w.add(stem + ".g_idx", SafetensorsDtype.I32, new long[] {k}, g.array());
    }

    private static final int CHUNK = 1 << 20;

    private interface Put {
        void put(ByteBuffer b);
    }

    /** {@code bytes} bytes, each element written by {@code put}, streamed in chunks. */
    private static SafetensorsWriter.Data fill(long bytes, Put put) {
        return out -> {
            ByteBuffer b = ByteBuffer.allocate(CHUNK).order(ByteOrder.LITTLE_ENDIAN);
            long left = bytes;
            while (left > 0) {
                b.clear();
                int n = (int) Math.min(CHUNK, left);
                b.limit(n);
                while (b.hasRemaining()) {
                    put.put(b);
                }
                b.flip();
                SafetensorsWriter.writeFully(out, b);
                left -= n;
            }
        };
    }

    private static SafetensorsWriter.Data ints(long seed, long count) {
        SplittableRandom r = new SplittableRandom(seed);
        return fill(count * 4, b -> b.putInt(r.nextInt()));
    }

    /** Uniform values of standard deviation {@code std} as fp16. */
    private static SafetensorsWriter.Data f16(long seed, long stream, long count, double std) {
        SplittableRandom r = new SplittableRandom(seed * 31 + stream);
        double a = std * Math.sqrt(3);
        return fill(count * 2, b -> b.putShort(Float16.fromFloat((float) ((r.nextDouble() * 2 - 1) * a))));
    }

    private static byte[] ones(int n) {
        ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            b.putFloat(1f);
        }
        return b.array();
    }

}
