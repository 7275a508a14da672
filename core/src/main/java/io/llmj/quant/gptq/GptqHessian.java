package io.llmj.quant.gptq;

/**
 * Accumulates the Hessian {@code H = 2/N sum_t x_t x_t^T} of a linear layer's reconstruction error over
 * the N calibration inputs {@code x_t} (rows of {@code cols} floats), in double. Only the upper triangle
 * is summed; {@link #matrix()} mirrors it. Not thread-safe.
 */
public final class GptqHessian {
    private final int cols;
    private final double[] sum;
    private long count;

    public GptqHessian(int cols) {
        if (cols <= 0) {
            throw new IllegalArgumentException("columns " + cols);
        }
        this.cols = cols;
        this.sum = new double[cols * cols];
    }

    public int cols() {
        return cols;
    }

    /** Inputs seen so far. */
    public long count() {
        return count;
    }

    /** Adds {@code n} input rows, row {@code t} at {@code x[t * cols ..]}. */
    public void add(float[] x, int n) {
        if (x.length < (long) n * cols) {
            throw new IllegalArgumentException(n + " rows of " + cols + " need " + (long) n * cols + " values, got " + x.length);
        }
        double[] row = new double[cols];
        for (int t = 0; t < n; t++) {
            int base = t * cols;
            for (int i = 0; i < cols; i++) {
                row[i] = x[base + i];
            }
            for (int i = 0; i < cols; i++) {
                double xi = row[i];
                if (xi == 0) {
                    continue;
                }
                int hi = i * cols;
                for (int j = i; j < cols; j++) {
                    sum[hi + j] += xi * row[j];
                }
            }
        }
        count += n;
    }

    /** {@code 2/N sum x x^T}, {@code cols x cols} row-major (a fresh array). */
    public double[] matrix() {
        if (count == 0) {
            throw new IllegalStateException("no calibration inputs were seen");
        }
        double f = 2.0 / count;
        double[] h = new double[cols * cols];
        for (int i = 0; i < cols; i++) {
            for (int j = i; j < cols; j++) {
                double v = sum[i * cols + j] * f;
                h[i * cols + j] = v;
                h[j * cols + i] = v;
            }
        }
        return h;
    }
}
