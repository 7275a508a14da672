package io.llmj.backend;

/**
 * Shape and options of one attention call over a KV cache.
 *
 * @param nHeads        query heads
 * @param nKvHeads      key/value heads (grouped-query attention when fewer than nHeads)
 * @param headDim       dimensions per head
 * @param scale         multiplier on q·k (usually 1/sqrt(headDim))
 * @param softcap       logit soft-capping: s = softcap * tanh(s / softcap); 0 for none
 * @param slidingWindow attend only to the last slidingWindow positions (including the current one); 0 for all
 */
public record AttentionParams(int nHeads, int nKvHeads, int headDim, float scale, float softcap, int slidingWindow) {
    public AttentionParams {
        if (nHeads <= 0 || nKvHeads <= 0 || nHeads % nKvHeads != 0 || headDim <= 0) {
            throw new IllegalArgumentException("bad attention shape: heads=" + nHeads + " kvHeads=" + nKvHeads
                    + " headDim=" + headDim);
        }
    }

    public int qDim() {
        return nHeads * headDim;
    }

    public int kvDim() {
        return nKvHeads * headDim;
    }
}
