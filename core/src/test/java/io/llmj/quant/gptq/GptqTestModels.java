package io.llmj.quant.gptq;

import io.llmj.format.json.Json;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.format.safetensors.SafetensorsDtype;
import io.llmj.format.safetensors.SafetensorsTensor;
import io.llmj.format.safetensors.SafetensorsWriter;
import io.llmj.quant.Float16;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.regex.Pattern;

/**
 * Test models: a Hugging Face float32 folder (hf-tiny) turned into a GPTQ "gptq"-format folder by
 * round-to-nearest quantization (AutoGPTQ's quantizer: range extended to include 0, {@code sym} centres
 * it, scale = range / maxq rounded to fp16, z = round(-min / scale) or 2^(bits-1)), packed with
 * {@link GptqPacking}; and beside it the same model with the dequantized weights stored as F32, the
 * float reference a GPTQ implementation must reproduce. With {@code descAct} the input columns are
 * grouped by a random permutation (g_idx = a permutation of k / group_size), as act-order does.
 */
public final class GptqTestModels {
    private static final Pattern LINEAR = Pattern.compile(
            "model\\.layers\\.\\d+\\.(self_attn|mlp)\\.(q_proj|k_proj|v_proj|o_proj|qkv_proj|gate_proj|up_proj|down_proj|gate_up_proj)\\.weight");
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private GptqTestModels() {}

    /**
     * @param gptq        the GPTQ folder
     * @param dequantized the same model with the GPTQ weights dequantized to F32
     * @param maxErrOverScale largest |w - dequantized w| / scale over every quantized weight
     */
    public record Result(Path gptq, Path dequantized, double maxErrOverScale, int layers) {}

    @SuppressWarnings("unchecked")
    public static Result write(Path hf, Path out, int bits, int groupSize, boolean descAct, boolean sym, long seed) {
        try {
            Path gDir = Files.createDirectories(out.resolve("gptq"));
            Path dDir = Files.createDirectories(out.resolve("dequantized"));
            Map<String, Object> config = (Map<String, Object>) Json.parse(hf.resolve("config.json"));
            Files.writeString(dDir.resolve("config.json"), Json.write(config));
            Map<String, Object> qc = new LinkedHashMap<>();
            qc.put("quant_method", "gptq");
            qc.put("bits", (long) bits);
            qc.put("group_size", (long) groupSize);
            qc.put("desc_act", descAct);
            qc.put("sym", sym);
            qc.put("checkpoint_format", "gptq");
            Map<String, Object> gConfig = new LinkedHashMap<>(config);
            gConfig.put("quantization_config", qc);
            Files.writeString(gDir.resolve("config.json"), Json.write(gConfig));

            SafetensorsWriter gw = new SafetensorsWriter();
            SafetensorsWriter dw = new SafetensorsWriter();
            double maxErr = 0;
            int layers = 0;
            Random rnd = new Random(seed);
            try (SafetensorsCheckpoint ck = SafetensorsCheckpoint.open(hf)) {
                for (SafetensorsTensor t : ck.tensors()) {
                    if (t.dtype() != SafetensorsDtype.F32) {
                        throw new IllegalArgumentException(t + ": test models are built from F32 checkpoints");
                    }
                    float[] v = t.data().toArray(F32);
                    if (!LINEAR.matcher(t.name()).matches()) {
                        gw.addF32(t.name(), t.shape(), v);
                        dw.addF32(t.name(), t.shape(), v);
                        continue;
                    }
                    int n = (int) t.shape()[0];
                    int k = (int) t.shape()[1];
                    Layer l = quantize(v, n, k, bits, groupSize, descAct, sym, rnd);
                    maxErr = Math.max(maxErr, l.maxErrOverScale);
                    layers++;
                    String stem = t.name().substring(0, t.name().length() - ".weight".length());
                    int p = 32 / bits;
                    gw.addI32(stem + ".qweight", new long[] {k / p, n}, GptqPacking.packQweight(l.q, k, n, bits));
                    gw.addI32(stem + ".qzeros", new long[] {l.groups, n / p}, GptqPacking.packQzeros(l.z, l.groups, n, bits));
                    gw.addF16(stem + ".scales", new long[] {l.groups, n}, l.scalesF16);
                    gw.addI32(stem + ".g_idx", new long[] {k}, l.gIdx);
                    float[] s = new float[l.scalesF16.length];
                    for (int i = 0; i < s.length; i++) {
                        s[i] = Float16.toFloat(l.scalesF16[i]);
                    }
                    float[][] w = GptqPacking.dequantize(l.q, l.z, s, l.gIdx, k, n);
                    float[] flat = new float[n * k];
                    for (int r = 0; r < n; r++) {
                        System.arraycopy(w[r], 0, flat, r * k, k);
                    }
                    dw.addF32(t.name(), t.shape(), flat);
                }
            }
            gw.write(gDir.resolve("model.safetensors"));
            dw.write(dDir.resolve("model.safetensors"));
            return new Result(gDir, dDir, maxErr, layers);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One quantized layer in checkpoint terms: q [k][n], z [groups][n], fp16 scales [groups][n], g_idx [k]. */
    record Layer(int[] q, int[] z, short[] scalesF16, int[] gIdx, int groups, double maxErrOverScale) {}

    /** Round-to-nearest GPTQ quantization of W [n][k] (PyTorch Linear layout). */
    static Layer quantize(float[] w, int n, int k, int bits, int groupSize, boolean descAct, boolean sym, Random rnd) {
        int maxq = (1 << bits) - 1;
        int groups = GptqPacking.groups(k, groupSize);
        int[] gIdx = GptqPacking.defaultGidx(k, groupSize);
        if (descAct && groups > 1) {
            int[] perm = new int[k];
            for (int i = 0; i < k; i++) {
                perm[i] = i;
            }
            for (int i = k - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int tmp = perm[i];
                perm[i] = perm[j];
                perm[j] = tmp;
            }
            for (int j = 0; j < k; j++) {
                gIdx[perm[j]] = j / groupSize;     // column perm[j] is the j-th most "important"
            }
        }
        int[] q = new int[k * n];
        int[] z = new int[groups * n];
        short[] sc = new short[groups * n];
        double maxErr = 0;
        for (int col = 0; col < n; col++) {
            for (int g = 0; g < groups; g++) {
                float lo = 0;
                float hi = 0;
                for (int i = 0; i < k; i++) {
                    if (gIdx[i] == g) {
                        lo = Math.min(lo, w[col * k + i]);
                        hi = Math.max(hi, w[col * k + i]);
                    }
                }
                if (sym) {
                    hi = Math.max(-lo, hi);
                    lo = lo < 0 ? -hi : 0;
                }
                float scale = (hi - lo) / maxq;
                if (scale == 0) {
                    scale = 1;
                }
                short s16 = Float16.fromFloat(scale);
                float s = Float16.toFloat(s16);
                int zero = sym ? (maxq + 1) / 2 : Math.round(-lo / s);
                sc[g * n + col] = s16;
                z[g * n + col] = zero;
                for (int i = 0; i < k; i++) {
                    if (gIdx[i] == g) {
                        float x = w[col * k + i];
                        int v = Math.max(0, Math.min(maxq, Math.round(x / s) + zero));
                        q[i * n + col] = v;
                        maxErr = Math.max(maxErr, Math.abs(x - s * (v - zero)) / s);
                    }
                }
            }
        }
        return new Layer(q, z, sc, gIdx, groups, maxErr);
    }

    /**
     * A random checkpoint layer: quants, zero points (1 .. 2^bits) and scales (fp16 in [0.001, 0.02]) uniform,
     * g_idx a random permutation of k / groupSize with {@code descAct}.
     */
    static Layer randomLayer(int bits, int n, int k, int groupSize, boolean descAct, long seed) {
        Random rnd = new Random(seed);
        int groups = GptqPacking.groups(k, groupSize);
        int[] q = new int[k * n];
        for (int i = 0; i < q.length; i++) {
            q[i] = rnd.nextInt(1 << bits);
        }
        int[] z = new int[groups * n];
        short[] s = new short[groups * n];
        for (int i = 0; i < z.length; i++) {
            z[i] = 1 + rnd.nextInt(1 << bits);
            s[i] = Float16.fromFloat(0.001f + 0.019f * rnd.nextFloat());
        }
        int[] gIdx = GptqPacking.defaultGidx(k, groupSize);
        if (descAct && groups > 1) {
            int[] perm = new int[k];
            for (int i = 0; i < k; i++) {
                perm[i] = i;
            }
            for (int i = k - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = perm[i];
                perm[i] = perm[j];
                perm[j] = t;
            }
            for (int j = 0; j < k; j++) {
                gIdx[perm[j]] = j / groupSize;
            }
        }
        return new Layer(q, z, s, gIdx, groups, 0);
    }

    /** {@code layer} packed in the checkpoint format, then repacked by {@link GptqMatrix#repack}. */
    static GptqMatrix repack(Layer layer, int bits, int n, int k, int groupSize, java.lang.foreign.Arena arena) {
        var qw = arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_INT, GptqPacking.packQweight(layer.q(), k, n, bits));
        var qz = arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_INT,
                GptqPacking.packQzeros(layer.z(), layer.groups(), n, bits));
        var sc = arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_SHORT, layer.scalesF16());
        var gi = arena.allocateFrom(java.lang.foreign.ValueLayout.JAVA_INT, layer.gIdx());
        return GptqMatrix.repack(bits, k, n, layer.groups(), groupSize, qw, qz, sc, gi, arena);
    }

    /** {@link #randomLayer} repacked. */
    public static GptqMatrix randomMatrix(int bits, int n, int k, int groupSize, boolean descAct, long seed,
                                          java.lang.foreign.Arena arena) {
        return repack(randomLayer(bits, n, k, groupSize, descAct, seed), bits, n, k, groupSize, arena);
    }
}
