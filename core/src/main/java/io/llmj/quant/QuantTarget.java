package io.llmj.quant;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What a whole model is quantized to: llama.cpp's {@code llama_ftype} (the value written to
 * {@code general.file_type}) and the default ggml type of its weight matrices. The mixes
 * ({@link #Q4_K_S}, {@link #Q4_K_M}, {@link #Q5_K_M}) give some tensors more bits, by
 * {@link TensorTypeRules}.
 *
 * <p>Unlike llama-quantize, where {@code Q4_K} and {@code Q5_K} are aliases of {@code Q4_K_M} and
 * {@code Q5_K_M}, llmj's {@link #Q4_K} and {@link #Q5_K} are uniform: every matrix Q4_K (Q5_K) except
 * where llama.cpp's output-tensor rule or a shape fallback applies. Their {@code general.file_type} is
 * that of the "_S" mix (14, 16), the closest llama.cpp value.
 */
public enum QuantTarget {
    F32(0, GgmlType.F32, false),
    F16(1, GgmlType.F16, false),
    BF16(32, GgmlType.BF16, false),
    Q4_0(2, GgmlType.Q4_0, false),
    Q4_1(3, GgmlType.Q4_1, false),
    Q5_0(8, GgmlType.Q5_0, false),
    Q5_1(9, GgmlType.Q5_1, false),
    Q8_0(7, GgmlType.Q8_0, false),
    Q4_K(14, GgmlType.Q4_K, false),
    Q5_K(16, GgmlType.Q5_K, false),
    Q6_K(18, GgmlType.Q6_K, false),
    Q4_K_S(14, GgmlType.Q4_K, true),
    Q4_K_M(15, GgmlType.Q4_K, true),
    Q5_K_M(17, GgmlType.Q5_K, true);

    private final int fileType;
    private final GgmlType defaultType;
    private final boolean mix;

    QuantTarget(int fileType, GgmlType defaultType, boolean mix) {
        this.fileType = fileType;
        this.defaultType = defaultType;
        this.mix = mix;
    }

    /** llama.cpp's {@code llama_ftype} value, written as {@code general.file_type}. */
    public int fileType() {
        return fileType;
    }

    /** The type most weight matrices get. */
    public GgmlType defaultType() {
        return defaultType;
    }

    /** Whether this is one of llama.cpp's K-quant mixes (some tensors get more bits). */
    public boolean isMix() {
        return mix;
    }

    /**
     * The target named {@code name} (case-insensitive, as llama-quantize spells them: Q4_K_M, q8_0, f16 ...).
     *
     * @throws QuantizationException naming the known targets if there is none
     */
    public static QuantTarget parse(String name) {
        try {
            return valueOf(name.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new QuantizationException("unknown quantization type '" + name + "' (known: "
                    + Arrays.stream(values()).map(Enum::name).collect(Collectors.joining(", ")) + ")");
        }
    }
}
