package io.llmj.arch;

/**
 * Where a forward pass finds its weights, by llama.cpp's GGUF tensor names ({@code token_embd.weight},
 * {@code blk.0.attn_q.weight}, ...). Hugging Face checkpoints are presented under the same names.
 */
public interface TensorSource {
    /** The tensor called {@code name}, or null if the model has none. */
    TensorRef find(String name);

    /** The tensor called {@code name}. @throws io.llmj.ModelFormatException if absent */
    TensorRef require(String name);

    /** The element types of the model's 2-D weights (what the backend must multiply). */
    java.util.Set<io.llmj.quant.GgmlType> matrixTypes();

    /** Bytes of tensor data in the model's files (what a load reports progress against); 0 if unknown. */
    default long totalBytes() {
        return 0;
    }
}
