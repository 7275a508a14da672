package io.llmj.arch;

import io.llmj.ModelFormatException;
import io.llmj.backend.Backend;
import io.llmj.backend.Weight;
import java.util.Arrays;

/** Looks tensors up by name, checks their shapes against the config, and prepares them on the backend. */
final class Weights {
    private final TensorSource tensors;
    private final Backend backend;

    Weights(TensorSource tensors, Backend backend) {
        this.tensors = tensors;
        this.backend = backend;
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
        return backend.weight(t.name(), t.type(), rows == 1 ? new long[] {cols} : new long[] {cols, rows}, t.data());
    }
}
