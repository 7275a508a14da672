package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.Buffer;
import io.llmj.backend.Weight;

/**
 * What every decoder-only architecture shares: the config, the {@link Placement} of its layers on
 * backends, the token embedding table, the final norm and the output projection (the embedding table
 * when the model ties them, prepared a second time only if input and output sit on different
 * backends). Each subclass adds its layers and spells out its own forward pass as
 *
 * <pre>
 *   embed(s, tokens, scale);                  // x = embeddings, on the input backend
 *   for each layer l:
 *       Backend b = enter(s, l, n);           // layer l's backend; x crosses over at a split
 *       ... b.rmsNorm(s.x, ...), b.matmul(...) ...
 *   logits(s, n, allLogits, normOffset);      // on the output backend
 * </pre>
 *
 * so that a model split between a GPU and the CPU reads exactly like one on a single backend.
 */
abstract class DecoderForward implements Forward {
    protected final ModelConfig c;
    protected final Placement placement;
    /** Looks up and prepares the subclass's layer weights, each on its layer's backend. */
    protected final Weights w;
    protected final Weight tokenEmbd;
    protected final Weight outputNorm;
    protected final Weight output;

    DecoderForward(ModelConfig config, TensorSource tensors, Placement placement) {
        if (placement.nLayers() != config.nLayers()) {
            throw new IllegalArgumentException("placement of " + placement.nLayers() + " layers for a model of "
                    + config.nLayers());
        }
        this.c = config;
        this.placement = placement;
        this.w = new Weights(tensors, placement);
        Weights in = w.on(placement.input());
        Weights out = w.on(placement.output());
        tokenEmbd = in.matrix("token_embd.weight", c.dim(), c.vocabSize());
        outputNorm = out.vector("output_norm.weight", c.dim());
        boolean tied = c.tiedEmbeddings() || tensors.find("output.weight") == null;
        output = !tied ? out.matrix("output.weight", c.dim(), c.vocabSize())
                : placement.output() == placement.input() ? tokenEmbd
                : out.matrix("token_embd.weight", c.dim(), c.vocabSize());
    }

    /** Tells the progress listener the weights are all prepared; called once the subclass is built. */
    final void loaded() {
        w.finished();
    }

    /** {@code x = embedding rows of tokens * scale}, on the input backend. */
    protected final void embed(ForwardState s, int[] tokens, float scale) {
        Backend b = placement.input();
        s.use(b);
        b.embed(tokenEmbd, tokens, scale, s.x);
    }

    /**
     * Layer {@code l}'s backend. Where it differs from the backend the state is on (at most twice a
     * step, at a GPU/CPU split), the {@code n} rows of the hidden state move across first.
     */
    protected final Backend enter(ForwardState s, int l, int n) {
        Backend b = placement.layer(l);
        s.moveTo(b, 0, n);
        return b;
    }

    /**
     * Whether layer {@code l}'s last product also computes layer {@code l + 1}'s input norm
     * ({@link #residualOut}): both layers exist and run on {@code b}.
     */
    protected final boolean normedBy(int l, Backend b) {
        return l >= 0 && l + 1 < c.nLayers() && placement.layer(l) == b && placement.layer(l + 1) == b;
    }

    /**
     * The end of layer {@code l}: {@code x += W h} (the down projection and the residual add; {@code s.xb2} scratch).
     * Where {@link #normedBy} layer {@code l}, also layer {@code l + 1}'s input norm {@code s.xb = rmsnorm(x) * next}
     * ({@link Backend#matmulAddNorm}, which a backend may fold into the products around it), which that layer skips.
     */
    protected final void residualOut(Backend b, ForwardState s, int l, int n, Weight w, Buffer h, Weight next) {
        if (normedBy(l, b)) {
            b.matmulAddNorm(w, h, n, s.x, s.xb2, next, c.normEps(), 0f, c.dim(), s.xb);
        } else {
            b.matmulAdd(w, h, n, s.x, s.xb2);
        }
    }

    /**
     * Runs {@link #compute} and copies the logits out. A one-token step of a model on a single backend
     * goes through {@link Backend#decodeStep}, which may record it once and replay it (CUDA graphs).
     */
    @Override
    public final void forward(ForwardState s, int[] tokens, int pos, boolean allLogits, float[] logits) {
        int n = Forwards.checkBatch(s, tokens, pos);
        if (n == 1 && !allLogits && placement.isSingle()) {
            placement.output().decodeStep(s, tokens[0], pos, s.contextLength - 1, () -> compute(s, tokens, pos, 1, false));
        } else {
            compute(s, tokens, pos, n, allLogits);
        }
        placement.output().read(s.logits, 0, logits, 0, (allLogits ? n : 1) * c.vocabSize());
    }

    @Override
    public final boolean decodesGreedy(ForwardState s) {
        return placement.isSingle() && placement.output().decodesGreedy();
    }

    @Override
    public final void decodeGreedy(ForwardState s, int token, boolean known, int pos) {
        Forwards.checkBatch(s, new int[] {token}, pos);
        placement.output().decodeGreedy(s, token, known, pos, s.contextLength - 1, s.logits, c.vocabSize(),
                t -> compute(s, new int[] {t}, pos, 1, false));
    }

    @Override
    public final long greedyChoice(ForwardState s, int pos) {
        return placement.output().greedyChoice(s, pos);
    }

    /**
     * The architecture's forward pass for the {@code n} tokens at positions {@code pos..}: appends their
     * keys and values to the cache and leaves the logits (every row, or the last only) in {@code s.logits}.
     */
    protected abstract void compute(ForwardState s, int[] tokens, int pos, int n, boolean allLogits);

    /**
     * Final norm (gain + {@code normOffset}), output projection and soft-cap on the output backend, for
     * every row or only the last, into {@code s.logits}. At a split only the rows that need logits cross over.
     */
    protected final void logits(ForwardState s, int n, boolean all, float normOffset) {
        Backend b = placement.output();
        if (s.current() != b && !all) {
            s.moveTo(b, n - 1, 1);                 // only the last row is needed
            n = 1;
        } else {
            s.moveTo(b, 0, n);
        }
        Forwards.logits(b, c, s, n, all, outputNorm, normOffset, output);
    }

    @Override
    public final ModelConfig config() {
        return c;
    }

    /** The backend of layer 0 (of the input when the model has no layers). */
    @Override
    public final Backend backend() {
        return c.nLayers() > 0 ? placement.layer(0) : placement.input();
    }

    @Override
    public final Placement placement() {
        return placement;
    }
}
