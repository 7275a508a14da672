package io.llmj.backend;

import io.llmj.quant.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * The kernels the forward pass calls, on buffers and weights the backend owns. Implementations: the
 * scalar Java reference ({@link JavaBackend}), and the native CPU and CUDA backends in
 * {@code llmj-ggml-bindings}, found through {@link BackendProvider}.
 *
 * <p>Activations are float32, laid out token-major: a buffer holding {@code n} rows of {@code dim}
 * values stores row {@code t} at elements {@code [t*dim, (t+1)*dim)}. Weights are ggml matrices:
 * {@code rows} rows (ne1) of {@code cols} elements (ne0), row-major.
 */
public interface Backend extends AutoCloseable {

    /** Short name: "java", "cpu", "cuda". */
    String name();

    /** What runs the kernels, for logs: "cpu", "cuda device #0 (NVIDIA H100 ...)". The default is {@link #name()}. */
    default String describe() {
        return name();
    }

    /**
     * Whether buffers and weights live in an accelerator's own memory (the GPU), so that a model may be
     * split between it and a host backend ({@code ModelOptions.withGpuLayers}). The default is false.
     */
    default boolean accelerator() {
        return false;
    }

    /** Whether {@code op} is implemented for weights of {@code type}. */
    boolean supports(Op op, GgmlType type);

    // ---- memory --------------------------------------------------------------------------------

    /** A zero-filled float32 buffer of {@code n} elements. */
    Buffer allocate(long n);

    /** A zero-filled KV-cache buffer of {@code n} elements of {@code type} (F32 or F16). */
    Buffer allocateCache(long n, GgmlType type);

    /**
     * Prepares a weight tensor from its file bytes (zero-copy where the backend can).
     *
     * @param shape ggml order: {@code [cols]} or {@code [cols, rows]}
     * @param data  exactly {@code type.byteSize(cols) * rows} bytes
     */
    Weight weight(String name, GgmlType type, long[] shape, MemorySegment data);

    /**
     * Waits until every weight {@link #weight} returned is in place (a backend may upload them
     * asynchronously) and releases whatever was used to stage them. Called once after a model's weights
     * are all prepared; ops may also be called without it. The default does nothing.
     */
    default void finishLoading() {}

    /** Copies {@code n} floats from {@code src[srcOff..]} into {@code dst} at element {@code offset}. */
    void write(Buffer dst, long offset, float[] src, int srcOff, int n);

    /** Copies {@code n} floats from {@code src} at element {@code offset} into {@code dst[dstOff..]}. */
    void read(Buffer src, long offset, float[] dst, int dstOff, int n);

    /** {@code dst[dstOff + i] = src[srcOff + i]} for {@code i < n}. */
    void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n);

    // ---- ops -------------------------------------------------------------------------------------

    /** Rows {@code ids[t]} of {@code table}, dequantized and multiplied by {@code scale}, into {@code out} rows. */
    void embed(Weight table, int[] ids, float scale, Buffer out);

    /** {@code out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * (gain + gainOffset)} for {@code n} rows of {@code dim}. */
    void rmsNorm(Buffer x, Weight gain, float eps, float gainOffset, int dim, int n, Buffer out);

    /** {@code out[t] = W x[t]} for {@code n} rows of {@code x} ({@code w.cols()} each) into rows of {@code w.rows()}. */
    void matmul(Weight w, Buffer x, int n, Buffer out);

    /**
     * {@code outs[i] = ws[i] x} for weights that share their input (a layer's q/k/v, or gate/up), each as
     * {@link #matmul} would compute it; a backend may convert {@code x} once and run the products as one kernel.
     * The default calls {@link #matmul} per weight.
     */
    default void matmulShared(Buffer x, int n, Weight[] ws, Buffer[] outs) {
        if (ws.length != outs.length) {
            throw new IllegalArgumentException(ws.length + " weights but " + outs.length + " outputs");
        }
        for (int i = 0; i < ws.length; i++) {
            matmul(ws[i], x, n, outs[i]);
        }
    }

    /**
     * {@code acc[t] += W x[t]}: a product and the residual add after it ({@code x += Wdown h}), the same
     * floats as {@link #matmul} into {@code tmp} followed by {@link #add}; a backend may do both in one kernel.
     * The default does exactly that ({@code tmp}: scratch of {@code n * w.rows()} floats).
     */
    default void matmulAdd(Weight w, Buffer x, int n, Buffer acc, Buffer tmp) {
        matmul(w, x, n, tmp);
        add(acc, tmp, (long) n * w.rows());
    }

    /**
     * {@code acc[t] += W x[t]}, then {@code out = rmsNorm(acc)} with {@code gain} (+ {@code gainOffset}) over {@code n}
     * rows of {@code dim = w.rows()}: a block's last product, its residual add and the next block's norm. The default
     * makes exactly the calls {@link #matmul} into {@code tmp} and {@link #addRmsNorm}. A backend may instead leave the
     * norm's reduction to the products that read {@code out} next (values then equal up to rounding); it must then write
     * {@code out} itself before anything else reads it, or before {@code acc} or {@code out} is written.
     */
    default void matmulAddNorm(Weight w, Buffer x, int n, Buffer acc, Buffer tmp, Weight gain, float eps, float gainOffset,
                               int dim, Buffer out) {
        matmul(w, x, n, tmp);
        addRmsNorm(acc, tmp, gain, eps, gainOffset, dim, n, out);
    }

    /**
     * A gated feed-forward block's input: {@code gateOut = glu(gate x, up x)} for {@code n} rows of {@code gate.rows()}
     * values, glu being {@link #swiglu} ({@code gelu} false) or {@link #geglu}; {@code upOut} is scratch, its contents
     * unspecified afterwards. The default makes the calls ({@link #matmulShared}, then the GLU in place); a backend may fold
     * the activation into the products (values then equal up to rounding).
     */
    default void matmulGlu(Buffer x, int n, Weight gate, Weight up, Buffer gateOut, Buffer upOut, boolean gelu) {
        matmulShared(x, n, new Weight[] {gate, up}, new Buffer[] {gateOut, upOut});
        long count = (long) n * gate.rows();
        if (gelu) {
            geglu(gateOut, upOut, count, gateOut);
        } else {
            swiglu(gateOut, upOut, count, gateOut);
        }
    }

    /** {@code x[t] += bias} for {@code n} rows of {@code bias.cols()}. */
    void addBias(Buffer x, Weight bias, int n);

    /** Rotates {@code n} rows of {@code nHeads} heads of {@code headDim}, row t at position {@code startPos + t}. */
    void rope(Buffer x, int nHeads, int headDim, int n, int startPos, RopeConfig rope);

    /** Writes {@code n} rows of {@code kvDim} from {@code src} into {@code cache} rows {@code startPos..}. */
    void storeKv(Buffer src, Buffer cache, int kvDim, int n, int startPos);

    /**
     * {@link #rope} of {@code q} ({@code nHeads} heads) and {@code k} ({@code nKvHeads} heads), then {@link #storeKv}
     * of {@code k} and {@code v} (rows of {@code nKvHeads * headDim}): a backend may do it in one kernel. The default
     * makes the four calls.
     */
    default void ropeStoreKv(Buffer q, Buffer k, Buffer v, int nHeads, int nKvHeads, int headDim, int n, int startPos,
                             RopeConfig rope, Buffer kCache, Buffer vCache) {
        rope(q, nHeads, headDim, n, startPos, rope);
        rope(k, nKvHeads, headDim, n, startPos, rope);
        storeKv(k, kCache, nKvHeads * headDim, n, startPos);
        storeKv(v, vCache, nKvHeads * headDim, n, startPos);
    }

    /**
     * Causal attention of {@code n} query rows (positions {@code startPos..startPos+n-1}) over cache rows
     * {@code 0..startPos+n-1}; output rows of {@code p.qDim()}.
     */
    void attention(Buffer q, Buffer kCache, Buffer vCache, int n, int startPos, AttentionParams p, Buffer out);

    /**
     * {@link #ropeStoreKv} then {@link #attention} of the same rows ({@code p}'s heads and head size), each value as
     * those two compute it; the contents of {@code q} and {@code k} afterwards are unspecified (a backend may rotate
     * copies). A backend may fold the rotation and the cache write into the attention kernel. The default does
     * exactly that sequence.
     */
    default void ropeAttention(Buffer q, Buffer k, Buffer v, int n, int startPos, RopeConfig rope, Buffer kCache,
                               Buffer vCache, AttentionParams p, Buffer out) {
        ropeStoreKv(q, k, v, p.nHeads(), p.nKvHeads(), p.headDim(), n, startPos, rope, kCache, vCache);
        attention(q, kCache, vCache, n, startPos, p, out);
    }

    /** {@code out = silu(gate) * up} over {@code count} elements. */
    void swiglu(Buffer gate, Buffer up, long count, Buffer out);

    /** {@code out = gelu_tanh(gate) * up} over {@code count} elements. */
    void geglu(Buffer gate, Buffer up, long count, Buffer out);

    /** {@code x += y} over {@code count} elements. */
    void add(Buffer x, Buffer y, long count);

    /**
     * {@code x += y}, then {@code out = rmsNorm(x)} ({@link #add} and {@link #rmsNorm} over {@code n} rows of
     * {@code dim}): a residual followed by the next block's norm, which a backend may do in one kernel. The default
     * makes the two calls.
     */
    default void addRmsNorm(Buffer x, Buffer y, Weight gain, float eps, float gainOffset, int dim, int n, Buffer out) {
        add(x, y, (long) n * dim);
        rmsNorm(x, gain, eps, gainOffset, dim, n, out);
    }

    /** {@code x = cap * tanh(x / cap)} over {@code count} elements. */
    void softcap(Buffer x, float cap, long count);

    /**
     * Low-level matrix-vector product on host segments: {@code y[r] = sum_c W[r, c] * x[c]}.
     *
     * @param w        weights; row r starts at byte {@code r * rowBytes}
     * @param rowBytes row stride in bytes, at least {@code type.byteSize(cols)}
     * @throws UnsupportedOperationException if {@code supports(MATVEC, type)} is false
     * @throws IllegalArgumentException if a segment is too small for the shape
     */
    void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y, int rows, int cols);

    /**
     * Runs one single-token decode step: {@code step} issues the step's ops for {@code token} at position
     * {@code pos} of the generation state {@code owner} (positions never exceed {@code maxPos}). A backend may
     * record the ops once per owner and replay them afterwards with the new token and position (the CUDA
     * backend does, as a CUDA graph); the ops must then depend on {@code token} and {@code pos} only through
     * the embedding, RoPE, KV-store and attention calls. The default runs {@code step}.
     */
    default void decodeStep(Object owner, int token, int pos, int maxPos, Runnable step) {
        step.run();
    }

    /**
     * Whether {@link #decodeGreedy} is available: decode steps that choose the greedy token on the device. The
     * default is false.
     */
    default boolean decodesGreedy() {
        return false;
    }

    /**
     * Enqueues a one-token decode step as {@link #decodeStep} runs it, followed by the greedy choice over the
     * step's {@code vocab} logits in {@code logits}: the highest logit, the lowest id among equal ones, as
     * {@code Sampler.greedy()}. The chosen id becomes the token of {@code owner}'s step at {@code pos + 1}
     * without a round trip through the host, so that step may be enqueued before this one has finished. The
     * step's own token is {@code token} when {@code known} (after a choice made on the host), else the one the
     * previous step at {@code pos - 1} chose; {@code step.accept(t)} issues the step's ops for token {@code t}
     * (a backend that records them reads the token from its device slot instead, as in {@link #decodeStep}).
     * Returns without waiting; {@link #greedyChoice} waits for the choice. The default throws
     * {@link UnsupportedOperationException}.
     */
    default void decodeGreedy(Object owner, int token, boolean known, int pos, int maxPos, Buffer logits, int vocab,
                              java.util.function.IntConsumer step) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not choose tokens on its device");
    }

    /**
     * Waits for the choice of {@code owner}'s {@link #decodeGreedy} step at {@code pos}: the id of the token at
     * {@code pos + 1} in the low 32 bits, the float bits of its log-probability in the high 32. Valid until
     * three more steps of the owner have been enqueued. The default throws {@link UnsupportedOperationException}.
     */
    default long greedyChoice(Object owner, int pos) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " does not choose tokens on its device");
    }

    /** Forgets what {@link #decodeStep} and {@link #decodeGreedy} kept for {@code owner}. The default does nothing. */
    default void release(Object owner) {}

    /** Releases native resources. The default does nothing. */
    @Override
    default void close() {}

    /** Checks the segment sizes of a matvec call; shared by every backend. */
    static void checkMatvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y,
                            int rows, int cols) {
        if (rows < 0 || cols < 0) {
            throw new IllegalArgumentException("negative shape: rows=" + rows + " cols=" + cols);
        }
        long minRow = type.byteSize(cols);
        if (rowBytes < minRow) {
            throw new IllegalArgumentException("rowBytes " + rowBytes + " < " + minRow + " bytes for " + cols + " " + type);
        }
        if (rows > 0 && w.byteSize() < (rows - 1) * rowBytes + minRow) {
            throw new IllegalArgumentException("weights segment of " + w.byteSize() + " bytes is too small for "
                    + rows + " rows of " + rowBytes + " bytes");
        }
        if (x.byteSize() < 4L * cols) {
            throw new IllegalArgumentException("x holds " + x.byteSize() / 4 + " floats, need " + cols);
        }
        if (y.byteSize() < 4L * rows) {
            throw new IllegalArgumentException("y holds " + y.byteSize() / 4 + " floats, need " + rows);
        }
    }
}
