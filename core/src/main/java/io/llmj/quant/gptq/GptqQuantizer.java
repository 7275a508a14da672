package io.llmj.quant.gptq;

import io.llmj.quant.Float16;
import java.util.Arrays;

/**
 * The GPTQ algorithm of Frantar et al., "GPTQ: Accurate Post-Training Quantization for Generative
 * Pre-trained Transformers" (2022), as its reference code ({@code gptq.py} of IST-DASLab/gptq, the
 * same in AutoGPTQ and GPTQModel) runs it, and a round-to-nearest baseline on the same grid.
 *
 * <p>A linear layer {@code y = W x} with {@code W} of {@code rows} (outputs) x {@code cols} (inputs)
 * is quantized to minimise {@code ||W X - Q X||^2} over calibration inputs {@code X}, whose Hessian
 * is {@code H = 2 X X^T} ({@link GptqHessian}). Columns are quantized one at a time; the error of
 * each is spread over the columns not yet quantized through the upper Cholesky factor {@code U} of
 * {@code H^-1} ({@code H^-1 = U^T U}):
 *
 * <pre>
 *   dead columns (H_ii = 0): H_ii = 1, W[:, i] = 0
 *   act-order: permute columns by decreasing H_ii
 *   H += damp * mean(diag H) * I;  U = chol(H^-1, upper)
 *   for each block of 128 columns [i1, i2):               lazy batch
 *     for i in [i1, i2):
 *       at a group boundary: scale, zero from the group's current columns
 *       q = clamp(round(w_i / scale) + zero, 0, maxq);  e = (w_i - scale (q - zero)) / U_ii
 *       w_j -= e U_ij  for j in (i, i2)                  inside the block
 *     w_j -= E U[i1:i2, j]  for j >= i2                  once per block
 * </pre>
 *
 * <p>Grid (AutoGPTQ's {@code Quantizer.find_params} with {@code perchannel}): per output row and
 * group, {@code xmin = min(0, min w)}, {@code xmax = max(0, max w)}; symmetric: {@code xmax =
 * max(|xmin|, xmax)}, {@code xmin = -xmax}, zero {@code (maxq + 1) / 2}; asymmetric: zero {@code
 * round(-xmin / scale)}; an all-zero group gets [-1, 1]; {@code scale = (xmax - xmin) / maxq}. Two
 * changes, both so that the written checkpoint dequantizes to exactly what was optimised: the scale
 * is rounded to float16 (the checkpoint stores it so) before the zero point is derived from it, and
 * an asymmetric zero point of 0 (a group with no negative value) becomes 1 with the scale widened
 * to {@code xmax / (maxq - 1)}, because checkpoint format {@code gptq} stores {@code zero - 1}.
 *
 * <p>One deliberate difference from the reference code: a group's scale and zero are found from its
 * columns' current values, with every pending update of the lazy batch applied; the reference reads
 * the batch-start values for groups that begin inside a batch (the same whenever the group size is a
 * multiple of 128 or the group starts a batch).
 *
 * <p>Act-order ({@code desc_act}): groups are consecutive {@code groupSize} columns of the permuted
 * order, so {@code gIdx[perm[t]] = t / groupSize} and the codes are returned in the original column
 * order, as AutoGPTQ writes them.
 */
public final class GptqQuantizer {
    private GptqQuantizer() {}

    /**
     * @param bits      bits per weight (2..8)
     * @param groupSize input columns sharing a scale and zero point; -1: one group per row
     * @param sym       symmetric grid (zero point fixed at the middle)
     * @param actOrder  quantize columns in order of decreasing Hessian diagonal
     * @param damp      dampening, a fraction of the mean Hessian diagonal added to the diagonal
     * @param blockSize columns per lazy batch (128 in the paper)
     */
    public record Params(int bits, int groupSize, boolean sym, boolean actOrder, double damp, int blockSize) {
        public Params {
            if (bits < 2 || bits > 8) {
                throw new IllegalArgumentException("bits " + bits + " (2..8 supported)");
            }
            if (groupSize != -1 && groupSize <= 0) {
                throw new IllegalArgumentException("group size " + groupSize + " (positive, or -1 for one group per row)");
            }
            if (!(damp >= 0) || damp > 1) {
                throw new IllegalArgumentException("damp " + damp + " (0..1, a fraction of the mean Hessian diagonal)");
            }
            if (blockSize <= 0) {
                throw new IllegalArgumentException("block size " + blockSize);
            }
        }

        /** bits, group size, symmetry, act-order; damp 0.01 and blocks of 128 as in the paper. */
        public static Params of(int bits, int groupSize, boolean sym, boolean actOrder) {
            return new Params(bits, groupSize, sym, actOrder, 0.01, 128);
        }

        public int maxq() {
            return (1 << bits) - 1;
        }

        /** Columns per group for a matrix of {@code cols} inputs. */
        public int groupColumns(int cols) {
            return groupSize == -1 ? cols : groupSize;
        }
    }

    /**
     * A quantized matrix: integer codes in the original column order, and per group and output row a
     * float16-representable scale and an integer zero point; {@code W'[r][c] = scale[g][r] * (code[r][c]
     * - zero[g][r])} with {@code g = gIdx[c]}.
     *
     * @param codes       {@code rows * cols}, row-major, each in {@code [0, 2^bits)}
     * @param scales      {@code groups * rows}, group-major: {@code scales[g * rows + r]}
     * @param zeros       as scales, each in {@code [0, 2^bits)} (in {@code [1, 2^bits)} when asymmetric)
     * @param gIdx        the group of each input column
     * @param dequantized {@code rows * cols}, row-major: the weights the codes stand for
     */
    public record Result(int rows, int cols, int bits, int groups, int[] codes, float[] scales, int[] zeros, int[] gIdx,
                         float[] dequantized) {}

    // ---- GPTQ --------------------------------------------------------------------------------------

    /**
     * Quantizes {@code w} ({@code rows x cols}, row-major) with GPTQ.
     *
     * @param hessian {@code cols x cols}, row-major (not modified), e.g. {@link GptqHessian#matrix()}
     * @throws IllegalArgumentException if the sizes disagree or the dampened Hessian is not positive definite
     */
    public static Result gptq(float[] w, int rows, int cols, double[] hessian, Params p) {
        checkSizes(w, rows, cols);
        if (hessian.length != (long) cols * cols) {
            throw new IllegalArgumentException("Hessian of " + hessian.length + " values for " + cols + " columns");
        }
        int maxq = p.maxq();
        int gs = p.groupColumns(cols);
        int groups = ceilDiv(cols, gs);
        double[] W = new double[rows * cols];
        for (int i = 0; i < W.length; i++) {
            W[i] = w[i];
        }
        float[] scales = new float[groups * rows];
        int[] zeros = new int[groups * rows];
        if (p.groupSize() == -1) {
            // the reference finds per-row parameters once, from W before dead columns are zeroed
            findParams(W, rows, cols, 0, cols, p, scales, zeros, 0);
        }
        double[] H = hessian.clone();
        for (int i = 0; i < cols; i++) {
            if (H[i * cols + i] == 0) {                       // a column no input ever reaches
                H[i * cols + i] = 1;
                for (int r = 0; r < rows; r++) {
                    W[r * cols + i] = 0;
                }
            }
        }
        int[] perm = identity(cols);
        if (p.actOrder()) {
            perm = argsortDescending(diagonal(H, cols));
            W = permuteColumns(W, rows, cols, perm);
            H = permuteSymmetric(H, cols, perm);
        }
        double damp = p.damp() * mean(diagonal(H, cols));
        for (int i = 0; i < cols; i++) {
            H[i * cols + i] += damp;
        }
        double[] U = upperCholeskyOfInverse(H, cols);

        int[] codes = new int[rows * cols];                   // in the permuted column order until the end
        int bs = p.blockSize();
        double[] err = new double[rows * bs];                 // E: the scaled errors of the current block
        double[] group = new double[rows * gs];
        for (int i1 = 0; i1 < cols; i1 += bs) {
            int i2 = Math.min(i1 + bs, cols);
            for (int i = i1; i < i2; i++) {
                int g = i / gs;
                if (p.groupSize() != -1 && i % gs == 0) {
                    int end = Math.min(i + gs, cols);
                    currentColumns(W, U, err, rows, cols, i1, i2, i, end, bs, group);
                    findParams(group, rows, end - i, 0, end - i, p, scales, zeros, g);
                }
                double d = U[i * cols + i];
                for (int r = 0; r < rows; r++) {
                    double scale = scales[g * rows + r];
                    int zero = zeros[g * rows + r];
                    double x = W[r * cols + i];
                    int q = quantize(x, scale, zero, maxq);
                    codes[r * cols + i] = q;
                    double e = (x - scale * (q - zero)) / d;
                    err[r * bs + (i - i1)] = e;
                    int base = r * cols;
                    for (int j = i + 1; j < i2; j++) {        // spread the error inside the block
                        W[base + j] -= e * U[i * cols + j];
                    }
                }
            }
            for (int r = 0; r < rows; r++) {                  // lazy batch update of the columns after the block
                int base = r * cols;
                for (int k = i1; k < i2; k++) {
                    double e = err[r * bs + (k - i1)];
                    if (e == 0) {
                        continue;
                    }
                    int uk = k * cols;
                    for (int j = i2; j < cols; j++) {
                        W[base + j] -= e * U[uk + j];
                    }
                }
            }
        }

        int[] gIdx = new int[cols];
        int[] outCodes = new int[rows * cols];
        for (int t = 0; t < cols; t++) {
            int c = perm[t];
            gIdx[c] = t / gs;
            for (int r = 0; r < rows; r++) {
                outCodes[r * cols + c] = codes[r * cols + t];
            }
        }
        return finish(rows, cols, p.bits(), groups, outCodes, scales, zeros, gIdx);
    }

    /**
     * The current values of columns {@code [start, end)} while block {@code [i1, i2)} is in progress:
     * columns inside the block are up to date in {@code W}; those after it still lack the block's
     * pending update {@code -E[:, i1..start) U[i1..start, j]}.
     */
    private static void currentColumns(double[] W, double[] U, double[] err, int rows, int cols, int i1, int i2,
                                       int start, int end, int bs, double[] out) {
        int n = end - start;
        for (int r = 0; r < rows; r++) {
            for (int j = start; j < end; j++) {
                double v = W[r * cols + j];
                if (j >= i2) {
                    for (int k = i1; k < start; k++) {
                        v -= err[r * bs + (k - i1)] * U[k * cols + j];
                    }
                }
                out[r * n + (j - start)] = v;
            }
        }
    }

    // ---- round to nearest ----------------------------------------------------------------------------

    /** Round-to-nearest on GPTQ's grid: the same groups (in column order), scales and zero points, no error feedback. */
    public static Result rtn(float[] w, int rows, int cols, Params p) {
        checkSizes(w, rows, cols);
        int gs = p.groupColumns(cols);
        int groups = ceilDiv(cols, gs);
        double[] W = new double[rows * cols];
        for (int i = 0; i < W.length; i++) {
            W[i] = w[i];
        }
        float[] scales = new float[groups * rows];
        int[] zeros = new int[groups * rows];
        int[] codes = new int[rows * cols];
        int[] gIdx = new int[cols];
        for (int g = 0; g < groups; g++) {
            int start = g * gs;
            int end = Math.min(start + gs, cols);
            findParams(W, rows, cols, start, end, p, scales, zeros, g);
            for (int c = start; c < end; c++) {
                gIdx[c] = g;
                for (int r = 0; r < rows; r++) {
                    codes[r * cols + c] = quantize(W[r * cols + c], scales[g * rows + r], zeros[g * rows + r], p.maxq());
                }
            }
        }
        return finish(rows, cols, p.bits(), groups, codes, scales, zeros, gIdx);
    }

    // ---- the grid ------------------------------------------------------------------------------------

    /**
     * Scale and zero point per row for columns {@code [start, end)} of {@code x} ({@code rows x stride}),
     * written at group {@code g}.
     */
    static void findParams(double[] x, int rows, int stride, int start, int end, Params p,
                           float[] scales, int[] zeros, int g) {
        int maxq = p.maxq();
        for (int r = 0; r < rows; r++) {
            double xmin = 0;
            double xmax = 0;
            for (int c = start; c < end; c++) {
                double v = x[r * stride + c];
                xmin = Math.min(xmin, v);
                xmax = Math.max(xmax, v);
            }
            if (p.sym()) {
                xmax = Math.max(-xmin, xmax);
                if (xmin < 0) {
                    xmin = -xmax;
                }
            }
            if (xmin == 0 && xmax == 0) {
                xmin = -1;
                xmax = 1;
            }
            float scale = f16Scale((xmax - xmin) / maxq);
            int zero;
            if (p.sym()) {
                zero = (maxq + 1) / 2;
            } else {
                zero = (int) Math.max(0, Math.min(maxq, Math.rint(-xmin / scale)));
                if (zero == 0) {
                    // checkpoint format "gptq" stores zero - 1: keep zero >= 1 and widen the scale to cover xmax
                    zero = 1;
                    scale = f16Scale(xmax / (maxq - 1));
                }
            }
            scales[g * rows + r] = scale;
            zeros[g * rows + r] = zero;
        }
    }

    /** The scale rounded to float16, never below float16's smallest positive value. */
    private static float f16Scale(double s) {
        float f = Float16.toFloat(Float16.fromFloat((float) s));
        if (f == 0) {
            return Float16.toFloat((short) 1);                // 2^-24
        }
        return Float.isInfinite(f) ? 65504f : f;
    }

    /** {@code clamp(round(x / scale) + zero, 0, maxq)}, rounding half to even as torch.round does. */
    static int quantize(double x, double scale, int zero, int maxq) {
        double q = Math.rint(x / scale) + zero;
        return (int) Math.max(0, Math.min(maxq, q));
    }

    private static Result finish(int rows, int cols, int bits, int groups, int[] codes, float[] scales, int[] zeros,
                                 int[] gIdx) {
        float[] deq = new float[rows * cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                int g = gIdx[c];
                deq[r * cols + c] = scales[g * rows + r] * (codes[r * cols + c] - zeros[g * rows + r]);
            }
        }
        return new Result(rows, cols, bits, groups, codes, scales, zeros, gIdx, deq);
    }

    // ---- error measure -------------------------------------------------------------------------------

    /**
     * {@code sum_r (w_r - w'_r)^T H (w_r - w'_r)}: with {@code H = 2 X X^T / N} this is {@code 2/N}
     * times the squared output error {@code ||X^T W^T - X^T W'^T||_F^2} over the N calibration inputs.
     */
    public static double outputError(float[] w, float[] wq, int rows, int cols, double[] hessian) {
        double total = 0;
        double[] d = new double[cols];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                d[c] = (double) w[r * cols + c] - wq[r * cols + c];
            }
            for (int i = 0; i < cols; i++) {
                if (d[i] == 0) {
                    continue;
                }
                double s = 0;
                int hi = i * cols;
                for (int j = 0; j < cols; j++) {
                    s += hessian[hi + j] * d[j];
                }
                total += d[i] * s;
            }
        }
        return total;
    }

    // ---- linear algebra ------------------------------------------------------------------------------

    /**
     * The upper triangular {@code U} with {@code H^-1 = U^T U} (torch: {@code cholesky(cholesky_inverse(
     * cholesky(H)), upper=True)}), in double.
     */
    static double[] upperCholeskyOfInverse(double[] H, int n) {
        double[] L = cholesky(H, n);                          // H = L L^T
        double[] Li = invertLower(L, n);                      // L^-1
        double[] inv = new double[n * n];                     // H^-1 = L^-T L^-1
        for (int i = 0; i < n; i++) {
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int k = i; k < n; k++) {                 // (L^-1)[k][i] nonzero for k >= i
                    s += Li[k * n + i] * Li[k * n + j];
                }
                inv[i * n + j] = s;
                inv[j * n + i] = s;
            }
        }
        double[] Lc = cholesky(inv, n);                       // H^-1 = Lc Lc^T, U = Lc^T
        double[] U = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = i; j < n; j++) {
                U[i * n + j] = Lc[j * n + i];
            }
        }
        return U;
    }

    /** Lower Cholesky factor of a symmetric positive definite matrix. */
    static double[] cholesky(double[] a, int n) {
        double[] L = new double[n * n];
        for (int j = 0; j < n; j++) {
            double s = a[j * n + j];
            for (int k = 0; k < j; k++) {
                s -= L[j * n + k] * L[j * n + k];
            }
            if (!(s > 0)) {
                throw new IllegalArgumentException("Hessian is not positive definite at column " + j
                        + " (pivot " + s + "); increase the dampening");
            }
            double d = Math.sqrt(s);
            L[j * n + j] = d;
            for (int i = j + 1; i < n; i++) {
                double t = a[i * n + j];
                for (int k = 0; k < j; k++) {
                    t -= L[i * n + k] * L[j * n + k];
                }
                L[i * n + j] = t / d;
            }
        }
        return L;
    }

    private static double[] invertLower(double[] L, int n) {
        double[] X = new double[n * n];
        for (int j = 0; j < n; j++) {                         // column j of L^-1 by forward substitution
            X[j * n + j] = 1 / L[j * n + j];
            for (int i = j + 1; i < n; i++) {
                double s = 0;
                for (int k = j; k < i; k++) {
                    s += L[i * n + k] * X[k * n + j];
                }
                X[i * n + j] = -s / L[i * n + i];
            }
        }
        return X;
    }

    // ---- helpers -------------------------------------------------------------------------------------

    private static void checkSizes(float[] w, int rows, int cols) {
        if (rows <= 0 || cols <= 0 || w.length != (long) rows * cols) {
            throw new IllegalArgumentException("weights of " + w.length + " values for " + rows + " x " + cols);
        }
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    private static int[] identity(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        return p;
    }

    private static double[] diagonal(double[] H, int n) {
        double[] d = new double[n];
        for (int i = 0; i < n; i++) {
            d[i] = H[i * n + i];
        }
        return d;
    }

    private static double mean(double[] v) {
        double s = 0;
        for (double x : v) {
            s += x;
        }
        return s / v.length;
    }

    /** Indices by decreasing value, ties in index order (a stable sort). */
    static int[] argsortDescending(double[] v) {
        Integer[] idx = new Integer[v.length];
        for (int i = 0; i < v.length; i++) {
            idx[i] = i;
        }
        Arrays.sort(idx, (a, b) -> Double.compare(v[b], v[a]));
        int[] out = new int[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = idx[i];
        }
        return out;
    }

    private static double[] permuteColumns(double[] W, int rows, int cols, int[] perm) {
        double[] out = new double[W.length];
        for (int r = 0; r < rows; r++) {
            for (int t = 0; t < cols; t++) {
                out[r * cols + t] = W[r * cols + perm[t]];
            }
        }
        return out;
    }

    private static double[] permuteSymmetric(double[] H, int n, int[] perm) {
        double[] out = new double[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                out[i * n + j] = H[perm[i] * n + perm[j]];
            }
        }
        return out;
    }
}
