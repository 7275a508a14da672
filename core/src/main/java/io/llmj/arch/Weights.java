package io.llmj.arch;

import io.llmj.LoadProgress;
import io.llmj.ModelFormatException;
import io.llmj.backend.Backend;
import io.llmj.backend.Weight;
import java.util.Arrays;
import java.util.function.Consumer;

/**
 * Looks tensors up by name, checks their shapes against the config, and prepares them on the backend
 * the {@link Placement} gives them: a layer's tensors ({@code blk.N.*}, llama.cpp's names, which the
 * Hugging Face sources use too) on layer N's backend, others on the backend given with {@link #on}.
 * Reports the bytes prepared to the placement's progress listener.
 */
final class Weights {
    private final TensorSource tensors;
    private final Placement placement;
    private final Backend fixed;          // null: by layer name
    private final Progress progress;

    /** Bytes prepared so far, shared by the views {@link #on} returns. */
    private static final class Progress {
        final Consumer<LoadProgress> listener;
        final long total;
        final long start = System.nanoTime();
        long done;

        Progress(Consumer<LoadProgress> listener, long total) {
            this.listener = listener;
            this.total = total;
        }

        void add(String tensor, long bytes) {
            done += bytes;
            if (listener != null) {
                listener.accept(new LoadProgress(Math.min(done, total), total, tensor, System.nanoTime() - start));
            }
        }
    }

    Weights(TensorSource tensors, Placement placement) {
        this(tensors, placement, null, new Progress(placement.progress(), Math.max(0, tensors.totalBytes())));
    }

    private Weights(TensorSource tensors, Placement placement, Backend fixed, Progress progress) {
        this.tensors = tensors;
        this.placement = placement;
        this.fixed = fixed;
        this.progress = progress;
    }

    /** A view that prepares every tensor on {@code backend} (embedding, final norm, output). */
    Weights on(Backend backend) {
        return new Weights(tensors, placement, backend, progress);
    }

    /** Tells the listener the load is complete. */
    void finished() {
        if (progress.listener != null) {
            long total = Math.max(progress.total, progress.done);
            progress.listener.accept(new LoadProgress(total, total, null, System.nanoTime() - progress.start));
        }
    }

    /** A matrix of {@code rows} rows of {@code cols} (ggml shape [cols, rows]). */
    Weight matrix(String name, int cols, int rows) {
        return prepare(tensors.require(name), cols, rows);
    }

    /** A vector of {@code n} values (ggml shape [n]). */
    Weight vector(String name, int n) {
        return prepare(tensors.require(name), n, 1);
    }

    /** The vector, or null if the model has no tensor of that name. */
    Weight optionalVector(String name, int n) {
        TensorRef t = tensors.find(name);
        return t == null ? null : prepare(t, n, 1);
    }

    /** Prepares an already-found (possibly sliced) tensor. */
    Weight prepare(TensorRef t, int cols, int rows) {
        long[] s = t.shape();
        boolean ok = rows == 1 ? (s.length == 1 && s[0] == cols) || (s.length == 2 && s[0] == cols && s[1] == 1)
                : s.length == 2 && s[0] == cols && s[1] == rows;
        if (!ok) {
            throw new ModelFormatException(null, "tensor " + t.name(), "shape " + Arrays.toString(s)
                    + " does not match the model's hyper-parameters, expected " + (rows == 1 ? "[" + cols + "]" : "[" + cols + ", " + rows + "]"));
        }
        Weight w = backendFor(t.name()).weight(t.name(), t.type(), rows == 1 ? new long[] {cols} : new long[] {cols, rows},
                t.data());
        progress.add(t.name(), t.data().byteSize());
        return w;
    }

    /** Layer N's backend for "blk.N.*", else the fixed one. */
    private Backend backendFor(String name) {
        if (fixed != null) {
            return fixed;
        }
        int layer = layerOf(name);
        if (layer < 0) {
            throw new IllegalStateException("tensor " + name + " belongs to no layer; prepare it with Weights.on(backend)");
        }
        return placement.layer(layer);
    }

    /** N for a name "blk.N.…", else -1. */
    static int layerOf(String name) {
        if (!name.startsWith("blk.")) {
            return -1;
        }
        int end = name.indexOf('.', 4);
        if (end <= 4) {
            return -1;
        }
        try {
            return Integer.parseInt(name, 4, end, 10);
        } catch (NumberFormatException e) {
            return -1;
        }
    }
}
