package io.llmj.quant;

import java.lang.foreign.MemorySegment;

/**
 * One ggml tensor element format with scalar reference code that is bit-exact with ggml's
 * ({@code ggml-quants.c} at llama.cpp c392e50): dequantization ({@code dequantize_row_*}),
 * quantization where ggml has a reference quantizer ({@code quantize_row_*_ref}), and a dot
 * product with an activation already converted to the format's {@link #vecDotType()}, accumulated
 * in double (for checking native kernels; ggml's own float accumulation is not reproduced).
 *
 * <p>Each implementation states its block layout once as constants ({@code BLOCK_SIZE},
 * {@code BLOCK_BYTES} and field offsets). Data are raw little-endian ggml blocks in a
 * {@link MemorySegment}. Element counts must be whole blocks; bad counts or segments too short
 * for them raise {@link IllegalArgumentException} with a message naming type and sizes.
 *
 * <p>Look formats up with {@link QuantFormats#of(GgmlType)}.
 */
public sealed interface QuantFormat
        permits F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K, IQ4_NL, IQ4_XS {

    /** The ggml type this class implements. */
    GgmlType type();

    /** Elements per block. */
    default int blockSize() {
        return type().blockSize();
    }

    /** Bytes per block. */
    default int blockBytes() {
        return type().blockBytes();
    }

    /** Bytes taken by {@code n} elements (whole blocks). */
    default long byteSize(long n) {
        return type().byteSize(n);
    }

    /**
     * The type ggml's CPU backend converts activations to before its {@code vec_dot} with weights of
     * this type; null for activation-only formats (Q8_1, Q8_K), which have no {@code vec_dot} of their own.
     */
    GgmlType vecDotType();

    /**
     * Dequantizes {@code n} elements (whole blocks) starting at byte {@code srcOffset} of {@code src}
     * into {@code dst[dstOffset..dstOffset+n)}, bit-exact with ggml's {@code to_float}.
     *
     * @throws IllegalArgumentException if n is not whole blocks or src/dst are too short
     */
    void dequantize(MemorySegment src, long srcOffset, float[] dst, int dstOffset, int n);

    /** Dequantizes {@code n} elements into a new array. */
    default float[] dequantizeRow(MemorySegment src, long srcOffset, int n) {
        float[] out = new float[n];
        dequantize(src, srcOffset, out, 0, n);
        return out;
    }

    /** Whether {@link #quantize} is implemented (ggml's reference quantizer, no importance matrix). */
    default boolean canQuantize() {
        return false;
    }

    /**
     * Quantizes {@code src[srcOffset..srcOffset+n)} into {@code n/blockSize} blocks at
     * {@code dst + dstOffset}, byte-for-byte as ggml's {@code quantize_row_*_ref} (what
     * {@code ggml_quantize_chunk} and llama-quantize do without an importance matrix).
     *
     * @throws UnsupportedOperationException if {@link #canQuantize()} is false
     * @throws IllegalArgumentException if n is not whole blocks or src/dst are too short
     */
    default void quantize(float[] src, int srcOffset, int n, MemorySegment dst, long dstOffset) {
        throw new UnsupportedOperationException(type() + ": no reference quantizer in llmj (dequantize only)");
    }

    /**
     * The dot product of {@code n} weights at {@code w + wOffset} with an activation of {@code n}
     * elements at {@code act + actOffset} stored in {@link #vecDotType()}, following ggml's
     * {@code vec_dot} definition (exact integer block sums, then the block scales) but accumulated in
     * double.
     *
     * @throws UnsupportedOperationException for activation-only formats
     * @throws IllegalArgumentException if n is not whole blocks of both types or a segment is too short
     */
    default double dot(MemorySegment w, long wOffset, MemorySegment act, long actOffset, int n) {
        throw new UnsupportedOperationException(type() + " is an activation format without a vec_dot");
    }
}
