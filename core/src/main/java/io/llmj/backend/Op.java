package io.llmj.backend;

/** The operations a {@link Backend} may implement, for {@link Backend#supports}. */
public enum Op {
    /** y = W x, W of some {@link io.llmj.quant.GgmlType}, x and y float32. */
    MATVEC,
    /** Y = W X for several tokens. */
    MATMUL,
    /** Embedding-table row lookup. */
    EMBED
}
