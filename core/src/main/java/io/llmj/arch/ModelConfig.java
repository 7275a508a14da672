package io.llmj.arch;

import io.llmj.backend.RopeConfig;

/**
 * The hyper-parameters a forward pass needs, whatever file they came from.
 *
 * @param headDim          dimensions per attention head (may differ from dim / nHeads)
 * @param tiedEmbeddings   the output projection reuses the token embedding table
 * @param attnSoftcap      attention logit soft-capping (gemma2), 0 for none
 * @param finalSoftcap     final logit soft-capping (gemma2), 0 for none
 * @param slidingWindow    window of the sliding-window layers, 0 for none
 * @param queryScale       multiplier on q·k (usually 1/sqrt(headDim))
 * @param normGainOffset   added to every RMSNorm gain (1 for Gemma checkpoints, which store w - 1; GGUF folds it in)
 */
public record ModelConfig(
        Architecture architecture,
        int vocabSize,
        int dim,
        int nLayers,
        int nHeads,
        int nKvHeads,
        int headDim,
        int ffDim,
        float normEps,
        int contextLength,
        RopeConfig rope,
        boolean tiedEmbeddings,
        float attnSoftcap,
        float finalSoftcap,
        int slidingWindow,
        float queryScale,
        float normGainOffset) {

    public ModelConfig {
        if (vocabSize <= 0 || dim <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || headDim <= 0 || ffDim <= 0
                || contextLength <= 0 || nHeads % nKvHeads != 0) {
            throw new IllegalArgumentException("inconsistent model hyper-parameters: " + this);
        }
    }

    public int qDim() {
        return nHeads * headDim;
    }

    public int kvDim() {
        return nKvHeads * headDim;
    }
}
