package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.Weight;

/**
 * What every decoder-only architecture shares: the config, the backend, the token embedding table,
 * the final norm and the output projection (the embedding table when the model ties them). Each
 * subclass adds its layers and spells out its own forward pass.
 */
abstract class DecoderForward implements Forward {
    protected final ModelConfig c;
    protected final Backend b;
    /** Looks up and prepares the subclass's layer weights. */
    protected final Weights w;
    protected final Weight tokenEmbd;
    protected final Weight outputNorm;
    protected final Weight output;

    DecoderForward(ModelConfig config, TensorSource tensors, Backend backend) {
        this.c = config;
        this.b = backend;
        this.w = new Weights(tensors, backend);
        tokenEmbd = w.matrix("token_embd.weight", c.dim(), c.vocabSize());
        outputNorm = w.vector("output_norm.weight", c.dim());
        output = c.tiedEmbeddings() || tensors.find("output.weight") == null
                ? tokenEmbd : w.matrix("output.weight", c.dim(), c.vocabSize());
    }

    @Override
    public final ModelConfig config() {
        return c;
    }

    @Override
    public final Backend backend() {
        return b;
    }
}
