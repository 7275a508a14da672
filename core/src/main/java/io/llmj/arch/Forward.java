package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.quant.GgmlType;

/**
 * A model's forward pass: tokens in, logits out, one readable class per architecture. Implementations
 * are immutable after construction (weights prepared on the backend) and thread-safe as long as each
 * thread uses its own {@link ForwardState}.
 */
public interface Forward {

    ModelConfig config();

    /** The backend of the first layer. */
    Backend backend();

    /** Which backend holds each layer (one backend for all unless the model is split). */
    default Placement placement() {
        return Placement.single(backend(), config().nLayers());
    }

    /** A fresh KV cache and scratch space for one generation; logits for every row of a batch. */
    default ForwardState newState(int contextLength, int maxBatch, GgmlType cacheType) {
        return new ForwardState(placement(), config(), contextLength, maxBatch, maxBatch, cacheType);
    }

    /** As {@link #newState(int, int, GgmlType)}, with room for logits of only {@code logitRows} rows. */
    default ForwardState newState(int contextLength, int maxBatch, int logitRows, GgmlType cacheType) {
        return new ForwardState(placement(), config(), contextLength, maxBatch, logitRows, cacheType);
    }

    /**
     * Runs {@code tokens} (at most {@code state.maxBatch}) at positions {@code startPos..}, appending
     * their keys and values to the cache, and writes logits into {@code logits}: for every token
     * ({@code allLogits}, {@code n * vocab} floats, token-major) or for the last one only.
     */
    void forward(ForwardState state, int[] tokens, int startPos, boolean allLogits, float[] logits);

    /**
     * Whether {@link #decodeGreedy} can run for {@code state}: a model on one backend that chooses greedy
     * tokens on its device ({@link Backend#decodesGreedy}). The default is false.
     */
    default boolean decodesGreedy(ForwardState state) {
        return false;
    }

    /**
     * Enqueues the one-token step at {@code pos} (its token {@code token} if {@code known}, else the one the
     * step at {@code pos - 1} chose) and the greedy choice of the token at {@code pos + 1}, without waiting
     * ({@link Backend#decodeGreedy}); {@link #greedyChoice} returns the choice. Logits stay on the device.
     */
    default void decodeGreedy(ForwardState state, int token, boolean known, int pos) {
        throw new UnsupportedOperationException("greedy decoding on the device is not available");
    }

    /** Waits for the choice of the {@link #decodeGreedy} step at {@code pos} ({@link Backend#greedyChoice}). */
    default long greedyChoice(ForwardState state, int pos) {
        throw new UnsupportedOperationException("greedy decoding on the device is not available");
    }
}
