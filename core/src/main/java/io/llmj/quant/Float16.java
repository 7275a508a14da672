package io.llmj.quant;

/** IEEE 754 binary16 and bfloat16 conversions, exact and bit-compatible with ggml's. */
public final class Float16 {
    private Float16() {}

    /** Widens a binary16 bit pattern to float (exact). */
    public static float toFloat(short h) {
        return Float.float16ToFloat(h);
    }

    /** Rounds a float to the nearest binary16 (ties to even), as F16C and ggml do. */
    public static short fromFloat(float f) {
        return Float.floatToFloat16(f);
    }

    /** Widens a bfloat16 bit pattern to float (exact). */
    public static float bf16ToFloat(short b) {
        return Float.intBitsToFloat((b & 0xFFFF) << 16);
    }

    /** Rounds a float to bfloat16 the way ggml's {@code ggml_compute_fp32_to_bf16} does (NaN stays quiet NaN). */
    public static short floatToBf16(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) {
            return (short) ((u >>> 16) | 64);
        }
        return (short) ((u + (0x7fff + ((u >>> 16) & 1))) >>> 16);
    }
}
