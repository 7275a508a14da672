package io.llmj.backend;

import io.llmj.quant.GgmlType;

/**
 * A weight tensor prepared by a {@link Backend}: a matrix of {@code rows} rows of {@code cols}
 * elements (ggml's ne1 x ne0), or a vector ({@code rows == 1}). The CPU backends keep a view of the
 * memory-mapped file; the CUDA backend a device copy.
 */
public interface Weight {
    String name();

    GgmlType type();

    int rows();

    int cols();
}
