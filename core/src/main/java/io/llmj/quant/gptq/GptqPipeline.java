package io.llmj.quant.gptq;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.arch.Forwards;
import io.llmj.arch.ModelConfig;
import io.llmj.arch.TensorRef;
import io.llmj.arch.TensorSource;
import io.llmj.backend.Backend;
import io.llmj.backend.Weight;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * GPTQ over a whole model, layer by layer and, optionally, inside a layer stage by stage ("true
 * sequential"): q/k/v (one shared input), then o, then gate/up, then down. For each layer (or stage)
 * the calibration sequences run through the model's own forward pass with every weight quantized so
 * far replaced by its dequantized values, so it sees the activations of the already-quantized
 * layers; a {@link CapturingBackend} accumulates the input Hessian of each stage and ends each pass
 * right after what it captures. The stage's matrices are then quantized with
 * {@link GptqQuantizer#gptq} (and, for comparison, {@link GptqQuantizer#rtn}).
 *
 * <p>Cost: a pass stops after its stage but starts from the embeddings, so the work grows with the
 * square of the layer count (about {@code L / 2} full forward passes over the calibration set for
 * {@code L} layers, four times that when true sequential). Fine for the small models this runs on
 * today; resuming each pass from the stored inputs of the layer would make it linear.
 */
public final class GptqPipeline {
    private GptqPipeline() {}

    /** Progress: layer {@code layer} (0-based) of {@code layers}, what is being done. */
    public interface Progress {
        void update(int layer, int layers, String step);
    }

    /** Decides which matrices may be quantized (e.g. what the checkpoint packing can hold). */
    public interface MatrixFilter {
        /** Why the matrix stays unquantized, or null to quantize it. */
        String skipReason(String name, int rows, int cols);
    }

    /** A quantized matrix (llama.cpp tensor name) with its RTN counterpart and both output errors (see {@link GptqQuantizer#outputError}). */
    public record Quantized(String name, int rows, int cols, GptqQuantizer.Result gptq, GptqQuantizer.Result rtn,
                            double gptqError, double rtnError) {}

    /** A linear weight left as it is, and why. */
    public record Skipped(String name, int rows, int cols, String reason) {}

    /** Every linear weight, quantized or skipped, in the order the forward pass uses them. */
    public record Outcome(List<Quantized> matrices, List<Skipped> skipped, long calibrationTokens, double seconds) {
        /** {@code base} with the GPTQ matrices replaced by their dequantized values (F32). */
        public TensorSource gptqWeights(TensorSource base) {
            Map<String, float[]> m = new LinkedHashMap<>();
            matrices.forEach(q -> m.put(q.name(), q.gptq().dequantized()));
            return overlay(base, m);
        }

        /** {@code base} with the round-to-nearest matrices in their place. */
        public TensorSource rtnWeights(TensorSource base) {
            Map<String, float[]> m = new LinkedHashMap<>();
            matrices.forEach(q -> m.put(q.name(), q.rtn().dequantized()));
            return overlay(base, m);
        }
    }

    /**
     * Quantizes every linear weight of the decoder layers that {@code filter} allows.
     *
     * @param backend runs the calibration passes (the Java reference or a native CPU backend)
     * @param samples calibration token sequences, each at most the model's context
     * @param trueSequential a pass per stage, so o sees the quantized q/k/v, down the quantized gate/up
     *                       (AutoGPTQ's default); otherwise one pass per layer captures all its stages
     */
    public static Outcome run(ModelConfig config, TensorSource source, Backend backend, List<int[]> samples,
                              GptqQuantizer.Params params, boolean trueSequential, MatrixFilter filter, Progress progress) {
        if (samples.isEmpty()) {
            throw new IllegalArgumentException("no calibration samples");
        }
        long t0 = System.nanoTime();
        int maxLen = samples.stream().mapToInt(s -> s.length).max().orElseThrow();
        long tokens = samples.stream().mapToLong(s -> s.length).sum();
        Map<String, float[]> done = new LinkedHashMap<>();
        List<Quantized> quantized = new ArrayList<>();
        List<Skipped> skipped = new ArrayList<>();
        int layers = config.nLayers();
        for (int l = 0; l < layers; l++) {
            boolean more = true;
            for (int stage = 0; more; stage++) {
                // true sequential: one pass per stage; otherwise one pass captures the whole layer
                CapturingBackend cap = new CapturingBackend(backend, l, trueSequential ? stage : -1);
                Forward forward = Forwards.create(config, overlay(source, done), cap);
                try (ForwardState state = forward.newState(maxLen, maxLen, 1, GgmlType.F32)) {
                    float[] logits = new float[config.vocabSize()];
                    for (int i = 0; i < samples.size(); i++) {
                        if (progress != null) {
                            progress.update(l, layers, (trueSequential ? "stage " + (stage + 1) + ": " : "")
                                    + "calibration input " + (i + 1) + "/" + samples.size());
                        }
                        cap.startPass();
                        try {
                            forward.forward(state, samples.get(i), 0, false, logits);
                        } catch (CapturingBackend.StopPass stop) {
                            // the stage's inputs are in: nothing after it is needed
                        }
                        cap.stopRecording();
                    }
                }
                if (cap.stages.isEmpty()) {
                    throw new IllegalStateException("layer " + l + " has no matrix product at stage " + stage);
                }
                more = trueSequential && cap.moreStages;
                for (CapturingBackend.Stage st : cap.stages) {
                    double[] h = st.hessian.matrix();
                    for (Weight w : st.weights) {
                        if (progress != null) {
                            progress.update(l, layers, "quantizing " + w.name());
                        }
                        TensorRef t = source.find(w.name());
                        String why = t == null || t.shape().length != 2 ? "not a tensor of its own in the checkpoint (fused)"
                                : filter == null ? null : filter.skipReason(w.name(), w.rows(), w.cols());
                        if (why != null) {
                            skipped.add(new Skipped(w.name(), w.rows(), w.cols(), why));
                            continue;
                        }
                        float[] weights = toFloat(t, w.rows(), w.cols());
                        GptqQuantizer.Result g = GptqQuantizer.gptq(weights, w.rows(), w.cols(), h, params);
                        GptqQuantizer.Result r = GptqQuantizer.rtn(weights, w.rows(), w.cols(), params);
                        quantized.add(new Quantized(w.name(), w.rows(), w.cols(), g, r,
                                GptqQuantizer.outputError(weights, g.dequantized(), w.rows(), w.cols(), h),
                                GptqQuantizer.outputError(weights, r.dequantized(), w.rows(), w.cols(), h)));
                        done.put(w.name(), g.dequantized());
                    }
                }
            }
        }
        return new Outcome(Collections.unmodifiableList(quantized), Collections.unmodifiableList(skipped), tokens,
                (System.nanoTime() - t0) / 1e9);
    }

    /**
     * Calibration sequences from a tokenized text: up to {@code count} consecutive, non-overlapping
     * windows of {@code length} tokens, each starting with {@code bos} (unless it is negative), as
     * llama.cpp's imatrix cuts its input. Fewer when the text runs out.
     */
    public static List<int[]> windows(int[] tokens, int bos, int count, int length) {
        if (count <= 0 || length < 2) {
            throw new IllegalArgumentException(count + " windows of " + length + " tokens");
        }
        List<int[]> out = new ArrayList<>();
        for (int start = 0; out.size() < count && start + length <= tokens.length; start += length) {
            int[] w = java.util.Arrays.copyOfRange(tokens, start, start + length);
            if (bos >= 0) {
                w[0] = bos;
            }
            out.add(w);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("the calibration text has " + tokens.length + " tokens, fewer than one window of " + length);
        }
        return out;
    }

    /** A matrix of any type with a Java reference, as floats ({@code rows x cols}, row-major). */
    public static float[] toFloat(TensorRef t, int rows, int cols) {
        float[] out = new float[rows * cols];
        long rowBytes = t.type().byteSize(cols);
        var f = QuantFormats.require(t.type());
        for (int r = 0; r < rows; r++) {
            f.dequantize(t.data(), r * rowBytes, out, r * cols, cols);
        }
        return out;
    }

    /** {@code base} with some matrices replaced by F32 values ({@code rows x cols} row-major). */
    static TensorSource overlay(TensorSource base, Map<String, float[]> replaced) {
        Map<String, TensorRef> refs = new LinkedHashMap<>();
        Arena arena = Arena.ofAuto();
        for (Map.Entry<String, float[]> e : replaced.entrySet()) {
            TensorRef orig = base.require(e.getKey());
            MemorySegment seg = arena.allocate(4L * e.getValue().length, 64);
            MemorySegment.copy(e.getValue(), 0, seg, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(java.nio.ByteOrder.LITTLE_ENDIAN), 0, e.getValue().length);
            refs.put(e.getKey(), new TensorRef(orig.name(), GgmlType.F32, orig.shape().clone(), seg));
        }
        return new TensorSource() {
            @Override
            public TensorRef find(String name) {
                TensorRef r = refs.get(name);
                return r != null ? r : base.find(name);
            }

            @Override
            public TensorRef require(String name) {
                TensorRef r = refs.get(name);
                return r != null ? r : base.require(name);
            }

            @Override
            public Set<GgmlType> matrixTypes() {
                Set<GgmlType> types = EnumSet.copyOf(base.matrixTypes());
                if (!refs.isEmpty()) {
                    types.add(GgmlType.F32);
                }
                return types;
            }
        };
    }
}
