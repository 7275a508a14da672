/**
 * ggml's tensor element formats with scalar Java reference code.
 *
 * <p>{@link io.llmj.quant.GgmlType} lists ggml's type ids and block sizes. {@link io.llmj.quant.QuantFormat}
 * is a sealed family with one class per format ({@code Q4_0}, {@code Q4_K}, {@code IQ4_XS}, ...), each
 * stating its block layout once as constants; {@link io.llmj.quant.QuantFormats#of} maps a type to its
 * class. Quantization, dequantization and activation conversion are bit-exact with ggml (llama.cpp
 * c392e50, checked against the vectors in {@code testdata/quant}); dot products follow ggml's
 * {@code vec_dot} definition but accumulate in double, to serve as the reference native kernels are
 * checked against.
 */
package io.llmj.quant;
