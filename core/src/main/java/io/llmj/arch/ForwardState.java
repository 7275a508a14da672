package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.Buffer;
import io.llmj.quant.GgmlType;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything one generation owns: the KV cache (one K and one V buffer per layer) and the scratch
 * activations for up to {@code maxBatch} tokens at a time. Several states can share one model.
 */
public final class ForwardState implements AutoCloseable {
    public final int contextLength;
    public final int maxBatch;
    /** Rows of logits the state can hold: forward(..., allLogits = true) takes at most this many tokens. */
    public final int logitRows;
    public final GgmlType cacheType;
    public final Buffer[] kCache;
    public final Buffer[] vCache;
    /** Residual stream, [maxBatch][dim]. */
    public final Buffer x;
    /** Normalised input / attention output rows, [maxBatch][max(dim, qDim)]. */
    public final Buffer xb;
    /** Projection output, [maxBatch][dim]. */
    public final Buffer xb2;
    public final Buffer q;
    public final Buffer k;
    public final Buffer v;
    public final Buffer att;
    /** Feed-forward gate and up activations, [maxBatch][ffDim]. */
    public final Buffer hb;
    public final Buffer hb2;
    /** Logits, [logitRows][vocab]. */
    public final Buffer logits;
    private final List<Buffer> all = new ArrayList<>();
    private final Backend backend;

    public ForwardState(Backend backend, ModelConfig c, int contextLength, int maxBatch, int logitRows, GgmlType cacheType) {
        if (contextLength <= 0 || maxBatch <= 0 || logitRows <= 0 || logitRows > maxBatch) {
            throw new IllegalArgumentException("context " + contextLength + ", batch " + maxBatch + " and logit rows "
                    + logitRows + " must be positive, logit rows at most the batch");
        }
        this.backend = backend;
        this.contextLength = contextLength;
        this.maxBatch = maxBatch;
        this.logitRows = logitRows;
        this.cacheType = cacheType;
        kCache = new Buffer[c.nLayers()];
        vCache = new Buffer[c.nLayers()];
        try {
            for (int l = 0; l < c.nLayers(); l++) {
                kCache[l] = keep(backend.allocateCache((long) contextLength * c.kvDim(), cacheType));
                vCache[l] = keep(backend.allocateCache((long) contextLength * c.kvDim(), cacheType));
            }
            x = keep(backend.allocate((long) maxBatch * c.dim()));
            xb = keep(backend.allocate((long) maxBatch * Math.max(c.dim(), c.qDim())));
            xb2 = keep(backend.allocate((long) maxBatch * c.dim()));
            q = keep(backend.allocate((long) maxBatch * c.qDim()));
            k = keep(backend.allocate((long) maxBatch * c.kvDim()));
            v = keep(backend.allocate((long) maxBatch * c.kvDim()));
            att = keep(backend.allocate((long) maxBatch * c.qDim()));
            hb = keep(backend.allocate((long) maxBatch * c.ffDim()));
            hb2 = keep(backend.allocate((long) maxBatch * c.ffDim()));
            logits = keep(backend.allocate((long) logitRows * c.vocabSize()));
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
    }

    private Buffer keep(Buffer b) {
        all.add(b);
        return b;
    }

    @Override
    public void close() {
        backend.release(this);
        for (Buffer b : all) {
            b.close();
        }
        all.clear();
    }
}
