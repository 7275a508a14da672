package io.llmj.backend;

/** The operations a {@link Backend} may implement. Grows with the forward pass. */
public enum Op {
    /** y = W x, W of some {@link io.llmj.quant.GgmlType}, x and y float32. */
    MATVEC
}
