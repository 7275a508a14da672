package io.llmj.backend;

import io.llmj.quant.GgmlType;
import java.lang.foreign.MemorySegment;

/**
 * The kernels the forward pass calls. Implementations: the scalar Java reference ({@link JavaBackend}),
 * and the native CPU and CUDA backends in {@code llmj-ggml-bindings}, found through {@link BackendProvider}.
 *
 * <p>All segments are host memory. A backend that keeps data elsewhere (a GPU) copies as needed.
 */
public interface Backend extends AutoCloseable {

    /** Short name: "java", "cpu", "cuda". */
    String name();

    /** Whether {@code op} is implemented for weights of {@code type}. */
    boolean supports(Op op, GgmlType type);

    /**
     * {@code y[r] = sum_c W[r, c] * x[c]} for {@code r < rows}.
     *
     * @param w        weights; row r starts at byte {@code r * rowBytes}
     * @param rowBytes row stride in bytes, at least {@code type.byteSize(cols)}
     * @param x        {@code cols} floats
     * @param y        {@code rows} floats, written
     * @throws UnsupportedOperationException if {@code supports(MATVEC, type)} is false
     * @throws IllegalArgumentException if a segment is too small for the shape
     */
    void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y, int rows, int cols);

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
