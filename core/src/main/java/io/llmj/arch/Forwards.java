package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.Weight;

/** Steps every architecture shares, kept out of the forward passes so those read as model definitions. */
public final class Forwards {
    private Forwards() {}

    /** The forward pass for {@code config}'s architecture, its weights prepared on {@code backend}. */
    public static Forward create(ModelConfig config, TensorSource tensors, Backend backend) {
        return create(config, tensors, Placement.single(backend, config.nLayers()));
    }

    /**
     * The forward pass for {@code config}'s architecture, each layer's weights prepared on the backend
     * {@code placement} gives it. Once every weight is prepared, waits for the backends to finish
     * their uploads ({@link Backend#finishLoading()}) and reports the load complete.
     */
    public static Forward create(ModelConfig config, TensorSource tensors, Placement placement) {
        DecoderForward f = switch (config.architecture()) {
            case LLAMA, MISTRAL -> new LlamaForward(config, tensors, placement);
            case QWEN2 -> new Qwen2Forward(config, tensors, placement);
            case QWEN3 -> new Qwen3Forward(config, tensors, placement);
            case PHI3 -> new Phi3Forward(config, tensors, placement);
            case GEMMA2 -> new Gemma2Forward(config, tensors, placement);
        };
        for (Backend b : placement.backends()) {
            b.finishLoading();
        }
        f.loaded();
        return f;
    }

    /** Validates a batch against the state and returns its length. */
    static int checkBatch(ForwardState s, int[] tokens, int pos) {
        int n = tokens.length;
        if (n == 0 || n > s.maxBatch) {
            throw new IllegalArgumentException("batch of " + n + " tokens (1.." + s.maxBatch + " allowed)");
        }
        if (pos < 0 || pos + n > s.contextLength) {
            throw new io.llmj.ContextLengthExceededException(pos + n, s.contextLength);
        }
        return n;
    }

    /** Final norm and output projection, for every row or only the last, into {@code s.logits}. */
    static void logits(Backend b, ModelConfig c, ForwardState s, int n, boolean all, Weight norm, float normOffset,
                       Weight output) {
        int rows = all ? n : 1;
        if (rows > s.logitRows) {
            throw new IllegalArgumentException("logits for " + rows + " rows requested, the state holds " + s.logitRows);
        }
        if (!all && n > 1) {
            b.copy(s.x, (long) (n - 1) * c.dim(), s.x, 0, c.dim());           // keep only the last row
        }
        b.rmsNorm(s.x, norm, c.normEps(), normOffset, c.dim(), rows, s.xb);
        b.matmul(output, s.xb, rows, s.logits);
        if (c.finalSoftcap() > 0) {
            b.softcap(s.logits, c.finalSoftcap(), (long) rows * c.vocabSize());
        }
    }
}
