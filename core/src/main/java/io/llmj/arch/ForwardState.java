package io.llmj.arch;

import io.llmj.backend.Backend;
import io.llmj.backend.Buffer;
import io.llmj.quant.GgmlType;
import java.util.ArrayList;
import java.util.List;

/**
 * Everything one generation owns: the KV cache (one K and one V buffer per layer, on that layer's
 * backend) and the scratch activations for up to {@code maxBatch} tokens at a time, one set per
 * backend of the {@link Placement}. Several states can share one model; one state is used by one
 * thread at a time.
 *
 * <p>The activation fields ({@link #x}, {@link #xb}, ...) name the set on the backend the forward pass
 * is on at the moment: {@link DecoderForward} switches them when the pass crosses from one backend
 * to another, carrying the hidden state rows across. With a single backend they never change.
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
    public Buffer x;
    /** Normalised input / attention output rows, [maxBatch][max(dim, qDim)]. */
    public Buffer xb;
    /** Projection output, [maxBatch][dim]. */
    public Buffer xb2;
    public Buffer q;
    public Buffer k;
    public Buffer v;
    public Buffer att;
    /** Feed-forward gate and up activations, [maxBatch][ffDim]. */
    public Buffer hb;
    public Buffer hb2;
    /** Logits, [logitRows][vocab], on the output backend. */
    public final Buffer logits;

    private final List<Buffer> all = new ArrayList<>();
    private final List<Activations> sets = new ArrayList<>();
    private final int dim;
    private Activations current;
    private float[] crossing;      // hidden-state rows on their way from one backend to another

    /** One backend's activation buffers. */
    private record Activations(Backend backend, Buffer x, Buffer xb, Buffer xb2, Buffer q, Buffer k, Buffer v, Buffer att,
                               Buffer hb, Buffer hb2) {}

    /** A state with everything on {@code backend}. */
    public ForwardState(Backend backend, ModelConfig c, int contextLength, int maxBatch, int logitRows, GgmlType cacheType) {
        this(Placement.single(backend, c.nLayers()), c, contextLength, maxBatch, logitRows, cacheType);
    }

    public ForwardState(Placement placement, ModelConfig c, int contextLength, int maxBatch, int logitRows,
                        GgmlType cacheType) {
        if (contextLength <= 0 || maxBatch <= 0 || logitRows <= 0 || logitRows > maxBatch) {
            throw new IllegalArgumentException("context " + contextLength + ", batch " + maxBatch + " and logit rows "
                    + logitRows + " must be positive, logit rows at most the batch");
        }
        this.contextLength = contextLength;
        this.maxBatch = maxBatch;
        this.logitRows = logitRows;
        this.cacheType = cacheType;
        this.dim = c.dim();
        kCache = new Buffer[c.nLayers()];
        vCache = new Buffer[c.nLayers()];
        try {
            for (int l = 0; l < c.nLayers(); l++) {
                Backend b = placement.layer(l);
                kCache[l] = keep(b.allocateCache((long) contextLength * c.kvDim(), cacheType));
                vCache[l] = keep(b.allocateCache((long) contextLength * c.kvDim(), cacheType));
            }
            for (Backend b : placement.backends()) {
                sets.add(new Activations(b,
                        keep(b.allocate((long) maxBatch * c.dim())),
                        keep(b.allocate((long) maxBatch * Math.max(c.dim(), c.qDim()))),
                        keep(b.allocate((long) maxBatch * c.dim())),
                        keep(b.allocate((long) maxBatch * c.qDim())),
                        keep(b.allocate((long) maxBatch * c.kvDim())),
                        keep(b.allocate((long) maxBatch * c.kvDim())),
                        keep(b.allocate((long) maxBatch * c.qDim())),
                        keep(b.allocate((long) maxBatch * c.ffDim())),
                        keep(b.allocate((long) maxBatch * c.ffDim()))));
            }
            logits = keep(placement.output().allocate((long) logitRows * c.vocabSize()));
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
        use(placement.input());
    }

    private Buffer keep(Buffer b) {
        all.add(b);
        return b;
    }

    /** The backend the activation fields are on now. */
    Backend current() {
        return current.backend();
    }

    /** Points the activation fields at {@code b}'s buffers, carrying nothing over. */
    void use(Backend b) {
        for (Activations a : sets) {
            if (a.backend() == b) {
                current = a;
                x = a.x();
                xb = a.xb();
                xb2 = a.xb2();
                q = a.q();
                k = a.k();
                v = a.v();
                att = a.att();
                hb = a.hb();
                hb2 = a.hb2();
                return;
            }
        }
        throw new IllegalArgumentException("the state has no buffers on backend " + b.name());
    }

    /**
     * Moves to backend {@code to}, carrying {@code rows} rows of the hidden state {@code x} from row
     * {@code firstRow} into rows 0.. of {@code to}'s {@code x}: read on one backend, written on the other.
     * Nothing happens when the state is on {@code to} already.
     */
    void moveTo(Backend to, int firstRow, int rows) {
        if (current.backend() == to) {
            return;
        }
        int n = rows * dim;
        if (crossing == null || crossing.length < n) {
            crossing = new float[maxBatch * dim];
        }
        current.backend().read(current.x(), (long) firstRow * dim, crossing, 0, n);
        use(to);
        to.write(x, 0, crossing, 0, n);
    }

    @Override
    public void close() {
        for (Activations a : sets) {
            a.backend().release(this);          // e.g. the decode-step graph recorded for this state
        }
        for (Buffer b : all) {
            b.close();
        }
        all.clear();
    }
}
