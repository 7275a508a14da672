package io.llmj.quant.gptq;

import io.llmj.backend.AttentionParams;
import io.llmj.backend.Backend;
import io.llmj.backend.Buffer;
import io.llmj.backend.Op;
import io.llmj.backend.RopeConfig;
import io.llmj.backend.Weight;
import io.llmj.quant.GgmlType;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * A backend that runs everything on its delegate and watches the matrix products of one decoder
 * layer, so GPTQ can collect the inputs of that layer's linear weights without the forward passes
 * knowing. The products of a layer fall into <em>stages</em>: maximal runs of consecutive products
 * reading the same input buffer (q/k/v, then o, then gate/up, then down in a llama block). The
 * inputs of each captured stage (one, or all of the layer's) go into a {@link GptqHessian}; the first
 * product after them ends the pass by throwing {@link StopPass}, since nothing later is needed.
 */
final class CapturingBackend implements Backend {
    /** Ends a forward pass early; carries no stack trace. */
    static final class StopPass extends RuntimeException {
        StopPass() {
            super(null, null, false, false);
        }
    }

    /** The products of one stage: its weights in call order and the Hessian of their shared input. */
    static final class Stage {
        final List<Weight> weights = new ArrayList<>();
        GptqHessian hessian;
    }

    private final Backend d;
    private final String layerPrefix;
    /** The stage to capture, or -1 for every stage of the layer. */
    private final int targetStage;
    /** The captured stages (one, or all of the layer's), recorded during the first forward pass. */
    final List<Stage> stages = new ArrayList<>();
    /** Whether the layer has a product after the captured stage(s). */
    boolean moreStages;

    private int stage = -1;
    private Buffer lastInput;
    private boolean recording = true;
    private float[] rows = new float[0];

    CapturingBackend(Backend delegate, int layer, int targetStage) {
        this.d = delegate;
        this.layerPrefix = "blk." + layer + ".";
        this.targetStage = targetStage;
    }

    /** Resets the per-pass state before the next forward pass. */
    void startPass() {
        stage = -1;
        lastInput = null;
    }

    /** Called after the first pass: the stages and their weights are known from then on. */
    void stopRecording() {
        recording = false;
    }

    @Override
    public void matmul(Weight w, Buffer x, int n, Buffer out) {
        boolean inLayer = w.name().startsWith(layerPrefix);
        boolean stageStarts = inLayer && x != lastInput;
        if (stageStarts) {
            stage++;
            lastInput = x;
        }
        if ((!inLayer && stage >= 0) || (targetStage >= 0 && stage > targetStage)) {
            moreStages = inLayer;
            throw new StopPass();                             // past what is being captured
        }
        if (inLayer && (targetStage < 0 || stage == targetStage)) {
            int index = targetStage < 0 ? stage : 0;
            if (recording) {
                if (stageStarts) {
                    stages.add(new Stage());
                }
                stages.get(index).weights.add(w);
            }
            Stage st = stages.get(index);
            if (stageStarts) {                                // the stage's weights share this input: take it once
                if (st.hessian == null) {
                    st.hessian = new GptqHessian(w.cols());
                }
                int len = n * w.cols();
                if (rows.length < len) {
                    rows = new float[len];
                }
                d.read(x, 0, rows, 0, len);
                st.hessian.add(rows, n);
            } else if (st.hessian.cols() != w.cols()) {
                throw new IllegalStateException(w.name() + " has " + w.cols() + " inputs, the stage's first weight "
                        + st.hessian.cols());
            }
        }
        d.matmul(w, x, n, out);
    }

    // ---- everything else runs on the delegate ---------------------------------------------------

    @Override
    public String name() {
        return d.name();
    }

    @Override
    public boolean supports(Op op, GgmlType type) {
        return d.supports(op, type);
    }

    @Override
    public Buffer allocate(long n) {
        return d.allocate(n);
    }

    @Override
    public Buffer allocateCache(long n, GgmlType type) {
        return d.allocateCache(n, type);
    }

    @Override
    public Weight weight(String name, GgmlType type, long[] shape, MemorySegment data) {
        return d.weight(name, type, shape, data);
    }

    @Override
    public void write(Buffer dst, long offset, float[] src, int srcOff, int n) {
        d.write(dst, offset, src, srcOff, n);
    }

    @Override
    public void read(Buffer src, long offset, float[] dst, int dstOff, int n) {
        d.read(src, offset, dst, dstOff, n);
    }

    @Override
    public void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) {
        d.copy(src, srcOff, dst, dstOff, n);
    }

    @Override
    public void embed(Weight table, int[] ids, float scale, Buffer out) {
        d.embed(table, ids, scale, out);
    }

    @Override
    public void rmsNorm(Buffer x, Weight gain, float eps, float gainOffset, int dim, int n, Buffer out) {
        d.rmsNorm(x, gain, eps, gainOffset, dim, n, out);
    }

    @Override
    public void addBias(Buffer x, Weight bias, int n) {
        d.addBias(x, bias, n);
    }

    @Override
    public void rope(Buffer x, int nHeads, int headDim, int n, int startPos, RopeConfig rope) {
        d.rope(x, nHeads, headDim, n, startPos, rope);
    }

    @Override
    public void storeKv(Buffer src, Buffer cache, int kvDim, int n, int startPos) {
        d.storeKv(src, cache, kvDim, n, startPos);
    }

    @Override
    public void attention(Buffer q, Buffer kCache, Buffer vCache, int n, int startPos, AttentionParams p, Buffer out) {
        d.attention(q, kCache, vCache, n, startPos, p, out);
    }

    @Override
    public void swiglu(Buffer gate, Buffer up, long count, Buffer out) {
        d.swiglu(gate, up, count, out);
    }

    @Override
    public void geglu(Buffer gate, Buffer up, long count, Buffer out) {
        d.geglu(gate, up, count, out);
    }

    @Override
    public void add(Buffer x, Buffer y, long count) {
        d.add(x, y, count);
    }

    @Override
    public void softcap(Buffer x, float cap, long count) {
        d.softcap(x, cap, count);
    }

    @Override
    public void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y, int rows, int cols) {
        d.matvec(type, w, rowBytes, x, y, rows, cols);
    }
}
