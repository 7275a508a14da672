package io.llmj.quant;

import java.util.Comparator;
import java.util.List;

/**
 * llama.cpp's choice of a type for each tensor when quantizing a whole model ({@code llama_tensor_get_type}
 * and the checks around it in {@code llama-quant.cpp} at c392e50), for the {@link QuantTarget}s llmj
 * writes:
 * <ul>
 *   <li>Only tensors named {@code *weight} with 2 or more dimensions are quantized; norms
 *       ({@code *_norm.weight}), {@code ffn_gate_inp}, position embeddings and token types keep their type
 *       (callers store 1-D tensors as F32).
 *   <li>{@code output.weight} (or {@code token_embd.weight} when there is no output tensor, i.e. tied
 *       embeddings): Q8_0 if its rows are not a multiple of 256 (or the architecture is Falcon), else
 *       Q6_K unless the target is Q8_0.
 *   <li>Mixes: {@code attn_v} gets Q6_K in layers where {@link #useMoreBits} holds (Q4_K_M, Q5_K_M), Q5_K
 *       in the first 4 (Q4_K_S); {@code ffn_down} Q6_K where {@link #useMoreBits} holds (Q4_K_M, Q5_K_M)
 *       or Q5_K in the first eighth of layers (Q4_K_S); {@code attn_qkv} Q5_K (Q4_K_M) / Q6_K (Q5_K_M).
 *       70B llama models (80 layers) get Q5_K for a Q4_K {@code attn_v}; 8-expert models Q8_0 for
 *       {@code attn_v}/{@code attn_k}.
 *   <li>Rows that are not a whole number of blocks: K types fall back (Q4_K to Q5_0, Q5_K to Q5_1,
 *       Q6_K to Q8_0, and to F16 if that does not fit either). For the legacy types llama.cpp has no
 *       fallback and fails ("Unsupported tensor size encountered"); so does this class unless
 *       {@code legacyFallback} is set, in which case such tensors become F16 and a note says so.
 * </ul>
 * The layer counters follow the order in which llama.cpp visits tensors, {@link #LLAMA_CPP_ORDER}
 * (tensors outside layers first, then by layer, each group by name), so {@link #choose} must be called
 * in that order; llama-quantize also writes tensors in that order.
 */
public final class TensorTypeRules {
    /** llama.cpp's {@code weight_name_comparer}: layer number of a "blk.N." prefix (-1 if none), then name. */
    public static final Comparator<String> LLAMA_CPP_ORDER = Comparator.comparingInt(TensorTypeRules::layerOf)
            .thenComparing(Comparator.naturalOrder());

    private static final int QK_K = 256;

    private final QuantTarget target;
    private final String arch;
    private final int nLayer;
    private final int nExpert;
    private final boolean legacyFallback;
    private final boolean hasOutput;
    private final int nAttentionWv;
    private int iAttentionWv;
    private int iFfnDown;

    /** A chosen type and, when a fallback or rule worth reporting applied, a note (else null). */
    public record Choice(GgmlType type, String note) {}

    /**
     * @param target         the whole-model target
     * @param arch           {@code general.architecture}
     * @param nLayer         {@code <arch>.block_count}
     * @param nExpert        {@code <arch>.expert_count} (0 if none)
     * @param tensorNames    every tensor name in the model (to count attention tensors and see whether an
     *                       output tensor exists)
     * @param legacyFallback store tensors whose rows don't fit a legacy type as F16 instead of failing
     */
    public TensorTypeRules(QuantTarget target, String arch, int nLayer, int nExpert, List<String> tensorNames,
            boolean legacyFallback) {
        this.target = target;
        this.arch = arch;
        this.nLayer = nLayer;
        this.nExpert = nExpert;
        this.legacyFallback = legacyFallback;
        int wv = 0;
        boolean out = false;
        for (String n : tensorNames) {
            if (n.contains("attn_v.weight") || n.contains("attn_qkv.weight") || n.contains("attn_kv_b.weight")) {
                wv++;
            } else if (n.equals("output.weight")) {
                out = true;
            }
        }
        this.nAttentionWv = wv;
        this.hasOutput = out;
    }

    static int layerOf(String name) {
        if (!name.startsWith("blk.")) {
            return -1;
        }
        int i = 4;
        long v = 0;
        while (i < name.length() && Character.isDigit(name.charAt(i)) && v < Integer.MAX_VALUE) {
            v = v * 10 + (name.charAt(i) - '0');
            i++;
        }
        return i > 4 && i < name.length() && name.charAt(i) == '.' && v <= Integer.MAX_VALUE ? (int) v : -1;
    }

    /** Whether llama-quantize quantizes a tensor of this name and rank at all. */
    public static boolean isQuantizable(String name, int rank) {
        return rank >= 2 && name.endsWith("weight") && !name.contains("_norm.weight")
                && !name.contains("ffn_gate_inp.weight") && !name.equals("position_embd.weight")
                && !name.equals("token_types.weight") && !name.contains("ssm_conv1d")
                && !name.contains("attn_rel_b.weight");
    }

    /** llama.cpp's {@code use_more_bits}: the first and last eighth of layers and every third in between. */
    public static boolean useMoreBits(int i, int n) {
        return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
    }

    /**
     * The type of a tensor with {@code shape} (ggml order, row length first) that {@link #isQuantizable}
     * accepts. Call once per tensor, in {@link #LLAMA_CPP_ORDER}.
     *
     * @throws QuantizationException if a legacy type does not fit the rows and there is no fallback
     */
    public Choice choose(String name, long[] shape) {
        GgmlType def = target.defaultType();
        if (!def.isQuantized()) {
            return new Choice(def, null);       // F32/F16/BF16: llama.cpp applies no rules
        }
        GgmlType t = def;
        long nx = shape[0];
        boolean mix = target.isMix();
        if (name.equals("output.weight") || (!hasOutput && name.equals("token_embd.weight"))) {
            if (arch.equals("falcon") || nx % QK_K != 0) {
                t = GgmlType.Q8_0;
            } else if (t != GgmlType.Q8_0) {
                t = GgmlType.Q6_K;
            }
        } else if (name.equals("token_embd.weight")) {
            // no rule for these targets
        } else if (name.contains("attn_v.weight")) {
            if ((target == QuantTarget.Q4_K_M || target == QuantTarget.Q5_K_M) && useMoreBits(iAttentionWv, nAttentionWv)) {
                t = GgmlType.Q6_K;
            } else if (target == QuantTarget.Q4_K_S && iAttentionWv < 4) {
                t = GgmlType.Q5_K;
            }
            if (mix && arch.equals("llama") && nLayer == 80 && (t == GgmlType.Q3_K || t == GgmlType.Q4_K)) {
                t = GgmlType.Q5_K;                // llama.cpp's 70B rule (LLM_TYPE_70B: llama with 80 layers)
            }
            if (nExpert == 8) {
                t = GgmlType.Q8_0;
            }
            iAttentionWv++;
        } else if (name.contains("attn_k.weight")) {
            if (nExpert == 8) {
                t = GgmlType.Q8_0;
            }
        } else if (name.contains("ffn_down")) {
            int i = iFfnDown;
            if (nExpert > 1) {
                i = layerOf(name);
            }
            boolean falcon = arch.equals("falcon");
            if (target == QuantTarget.Q4_K_M) {
                if (falcon) {
                    t = i < nLayer / 16 ? GgmlType.Q6_K : useMoreBits(i, nLayer) ? GgmlType.Q5_K : GgmlType.Q4_K;
                } else if (useMoreBits(i, nLayer)) {
                    t = GgmlType.Q6_K;
                }
            } else if (target == QuantTarget.Q5_K_M && useMoreBits(i, nLayer)) {
                t = GgmlType.Q6_K;
            } else if (target == QuantTarget.Q4_K_S && !falcon && i < nLayer / 8) {
                t = GgmlType.Q5_K;
            }
            iFfnDown++;
        } else if (name.contains("attn_output.weight")) {
            if (!arch.equals("falcon") && nExpert == 8 && (target == QuantTarget.Q4_K_S || target == QuantTarget.Q4_K_M)) {
                t = GgmlType.Q5_K;
            }
        } else if (name.contains("attn_qkv.weight")) {
            if (target == QuantTarget.Q4_K_M) {
                t = GgmlType.Q5_K;
            } else if (target == QuantTarget.Q5_K_M) {
                t = GgmlType.Q6_K;
            }
        }
        return fallback(name, shape, t);
    }

    private Choice fallback(String name, long[] shape, GgmlType t) {
        long nx = shape[0];
        if (nx % t.blockSize() == 0) {
            return new Choice(t, null);
        }
        String why = name + ": rows of " + nx + " are not divisible by " + t.blockSize() + " (required for " + t + ")";
        GgmlType f = switch (t) {
            case Q4_K -> GgmlType.Q5_0;
            case Q5_K -> GgmlType.Q5_1;
            case Q6_K -> GgmlType.Q8_0;
            case Q2_K, Q3_K -> GgmlType.IQ4_NL;
            default -> null;
        };
        if (f == null) {
            if (!legacyFallback) {
                throw new QuantizationException(why + "; llama.cpp has no fallback for legacy types and fails "
                        + "(Unsupported tensor size encountered); allow the F16 fallback to store it as F16");
            }
            f = GgmlType.F16;
        } else if (nx % f.blockSize() != 0) {
            f = GgmlType.F16;
        }
        return new Choice(f, why + ", using " + f);
    }
}
