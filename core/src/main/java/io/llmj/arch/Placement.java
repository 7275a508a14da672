package io.llmj.arch;

import io.llmj.LoadProgress;
import io.llmj.backend.Backend;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Consumer;

/**
 * Which backend holds each part of a model: the first {@code nFirst} layers on one backend (the GPU,
 * when a model is split), the other layers on a second one (the CPU). The token embedding, the final
 * norm and the output projection live with the last layer's backend, so a forward pass moves the
 * hidden state across at most twice per step: into the first backend before layer 0 and out of it
 * after layer {@code nFirst - 1}.
 *
 * <p>Why the embedding and the output stay on the second backend in a split: a split is what one asks
 * for when device memory is short, and the embedding table ({@code vocab x dim}, up to a gigabyte
 * in F16) costs device memory for one row read per token, while the host backends read it in place
 * from the mapped file for free. The output projection follows the last layer so that its input
 * need not cross again. When every layer is on the first backend, everything is, the output matrix
 * (the biggest single matrix of a big-vocabulary model) included, and no row ever crosses.
 *
 * <p>Also carries the listener told of the load's progress as weights are prepared.
 */
public final class Placement {
    private final Backend first;
    private final int nFirst;
    private final Backend rest;
    private final int nLayers;
    private final Consumer<LoadProgress> progress;

    private Placement(Backend first, int nFirst, Backend rest, int nLayers, Consumer<LoadProgress> progress) {
        this.first = Objects.requireNonNull(first, "first");
        this.rest = Objects.requireNonNull(rest, "rest");
        if (nLayers < 0 || nFirst < 0 || nFirst > nLayers) {
            throw new IllegalArgumentException("cannot place " + nFirst + " of " + nLayers + " layers");
        }
        this.nFirst = nFirst;
        this.nLayers = nLayers;
        this.progress = progress;
    }

    /** Every layer, the embedding and the output on {@code backend}. */
    public static Placement single(Backend backend, int nLayers) {
        return new Placement(backend, nLayers, backend, nLayers, null);
    }

    /**
     * Layers {@code 0..nFirst-1} on {@code first}, the others with the embedding and the output on
     * {@code rest}; everything on {@code first} when {@code nFirst == nLayers}, on {@code rest} when 0.
     */
    public static Placement split(Backend first, int nFirst, Backend rest, int nLayers) {
        return new Placement(first, nFirst, rest, nLayers, null);
    }

    /** The same placement, with a listener told of the load's progress (null: none). */
    public Placement withProgress(Consumer<LoadProgress> listener) {
        return new Placement(first, nFirst, rest, nLayers, listener);
    }

    /** The listener told of the load's progress, or null. */
    Consumer<LoadProgress> progress() {
        return progress;
    }

    public int nLayers() {
        return nLayers;
    }

    /** How many layers (the first ones) are on {@link #first()}. */
    public int nFirst() {
        return nFirst;
    }

    /** The backend of the first {@link #nFirst()} layers. */
    public Backend first() {
        return first;
    }

    /** The backend of the other layers. */
    public Backend rest() {
        return rest;
    }

    /** The backend holding layer {@code l}'s weights and KV cache. */
    public Backend layer(int l) {
        if (l < 0 || l >= nLayers) {
            throw new IndexOutOfBoundsException("layer " + l + " of " + nLayers);
        }
        return l < nFirst ? first : rest;
    }

    /** The backend of the token embedding (that of the last layer). */
    public Backend input() {
        return nFirst == nLayers ? first : rest;
    }

    /** The backend of the final norm and the output projection (that of the last layer). */
    public Backend output() {
        return nFirst == nLayers ? first : rest;
    }

    /** Whether everything is on one backend. */
    public boolean isSingle() {
        return first == rest || nFirst == 0 || nFirst == nLayers;
    }

    /** The distinct backends in use, the first one's first. */
    public List<Backend> backends() {
        List<Backend> list = new ArrayList<>(2);
        if (nFirst > 0 || first == rest || nLayers == 0) {
            list.add(first);
        }
        if (rest != first && nFirst < nLayers) {
            list.add(rest);
        }
        return List.copyOf(list);
    }

    /** "cuda" or "cuda+cpu": the names of the backends in use. */
    public String name() {
        return String.join("+", backends().stream().map(Backend::name).toList());
    }

    /**
     * E.g. "cpu: all 32 layers, embedding and output" or "cuda #0 (NVIDIA H100 ...): layers 0-11 (12 of 32);
     * cpu: layers 12-31, embedding and output", with each backend's {@link Backend#describe()}.
     */
    public String describe() {
        if (isSingle()) {
            return backends().get(0).describe() + ": all " + nLayers + " layers, embedding and output";
        }
        return first.describe() + ": layers 0-" + (nFirst - 1) + " (" + nFirst + " of " + nLayers + "); "
                + rest.describe() + ": layers " + nFirst + "-" + (nLayers - 1) + ", embedding and output";
    }

    @Override
    public String toString() {
        return describe();
    }
}
