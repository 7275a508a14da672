package io.llmj.quant;

import java.lang.foreign.MemorySegment;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/** The registry of {@link QuantFormat}s by ggml type. */
public final class QuantFormats {
    private QuantFormats() {}

    /** Every implemented format. */
    public static final List<QuantFormat> ALL = List.of(F32.INSTANCE, F16.INSTANCE, BF16.INSTANCE, Q4_0.INSTANCE,
            Q4_1.INSTANCE, Q5_0.INSTANCE, Q5_1.INSTANCE, Q8_0.INSTANCE, Q8_1.INSTANCE, Q2_K.INSTANCE, Q3_K.INSTANCE,
            Q4_K.INSTANCE, Q5_K.INSTANCE, Q6_K.INSTANCE, Q8_K.INSTANCE, IQ4_NL.INSTANCE, IQ4_XS.INSTANCE);

    private static final Map<GgmlType, QuantFormat> BY_TYPE = new EnumMap<>(GgmlType.class);

    static {
        for (QuantFormat f : ALL) {
            BY_TYPE.put(f.type(), f);
        }
    }

    /** The format implementing {@code type}, or null if llmj has no Java reference code for it. */
    public static QuantFormat of(GgmlType type) {
        return BY_TYPE.get(type);
    }

    /** Whether {@link #of} knows {@code type}. */
    public static boolean isSupported(GgmlType type) {
        return BY_TYPE.containsKey(type);
    }

    /** The format implementing {@code type}; throws naming the type if there is none. */
    public static QuantFormat require(GgmlType type) {
        QuantFormat f = BY_TYPE.get(type);
        if (f == null) {
            throw new UnsupportedOperationException("no Java reference code for ggml type " + type);
        }
        return f;
    }

    /** Which of ggml's activation converters to reproduce (they differ only for Q8_0 and Q8_1, on rounding ties). */
    public enum ActivationConversion {
        /** ggml's reference {@code from_float_ref} ({@code quantize_row_q8_0_ref} ...). */
        REFERENCE,
        /** The x86 AVX/AVX2 CPU backend's {@code from_float}: what llama.cpp on x86 computes. */
        CPU_X86
    }

    /**
     * Converts an F32 activation to {@code vecDotType} as ggml's CPU backend does before
     * {@code vec_dot}: {@code n} values from {@code src[srcOffset]} into {@code dst + dstOffset}.
     */
    public static void convertActivation(GgmlType vecDotType, ActivationConversion how, float[] src, int srcOffset,
            int n, MemorySegment dst, long dstOffset) {
        boolean x86 = how == ActivationConversion.CPU_X86;
        switch (vecDotType) {
            case Q8_0 -> {
                if (x86) {
                    Q8_0.INSTANCE.quantizeX86(src, srcOffset, n, dst, dstOffset);
                } else {
                    Q8_0.INSTANCE.quantize(src, srcOffset, n, dst, dstOffset);
                }
            }
            case Q8_1 -> {
                if (x86) {
                    Q8_1.INSTANCE.quantizeX86(src, srcOffset, n, dst, dstOffset);
                } else {
                    Q8_1.INSTANCE.quantize(src, srcOffset, n, dst, dstOffset);
                }
            }
            case Q8_K, F16, BF16, F32 -> require(vecDotType).quantize(src, srcOffset, n, dst, dstOffset);
            default -> throw new IllegalArgumentException(vecDotType + " is not a vec_dot activation type");
        }
    }
}
