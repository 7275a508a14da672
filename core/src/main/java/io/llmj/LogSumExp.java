package io.llmj;

/**
 * {@code log(sum_i exp(x[i]))} over a row of logits, for each generated token's log-probability
 * ({@code x[id] - logSumExp(x)}). The double-precision reference ({@link io.llmj.eval.Perplexity#logSoftmax})
 * calls {@link Math#exp} once per vocabulary entry: about 150 µs per token for a 32000-entry vocabulary on the
 * development VM, host time that a GPU decode step waits for. Here {@code exp(x - max)} is {@code 2^t} with
 * {@code t = k + f}, {@code k} an integer and {@code |f| <= 0.5}: a degree-6 polynomial for {@code 2^f} and the
 * exponent bits for {@code 2^k}, written as two plain array loops that the JIT compiles to vector code (the bit
 * reinterpretation sits in a loop of its own, which keeps the polynomial loop vectorisable). Terms are summed in
 * double. Relative error of the sum below 1e-6 (the polynomial's ~1e-7 and float rounding), so the result is within
 * 1e-6 of the reference; differences below {@code 2^-126} of the largest term count as {@code 2^-126}.
 * Not thread-safe: one instance per generation.
 */
final class LogSumExp {
    private static final float LOG2E = 1.44269504f;
    // 2^f = e^(f ln 2) = sum_n (f ln 2)^n / n!, n <= 6; |f| <= 0.5 leaves a truncation error ~1.2e-7
    private static final float C1 = 0.69314718f, C2 = 0.24022651f, C3 = 0.055504109f, C4 = 0.0096181291f,
            C5 = 0.0013333558f, C6 = 1.5403530e-4f;

    private float[] terms = new float[0];
    private int[] scales = new int[0];

    /** {@code log(sum_i exp(x[i]))} over {@code x[0..n)}, n >= 1; NaN if any entry is NaN. */
    double of(float[] x, int n) {
        float m0 = Float.NEGATIVE_INFINITY, m1 = m0, m2 = m0, m3 = m0;   // four chains of compares, not one
        int j = 0;
        for (; j + 4 <= n; j += 4) {
            m0 = x[j] > m0 ? x[j] : m0;
            m1 = x[j + 1] > m1 ? x[j + 1] : m1;
            m2 = x[j + 2] > m2 ? x[j + 2] : m2;
            m3 = x[j + 3] > m3 ? x[j + 3] : m3;
        }
        for (; j < n; j++) {
            m0 = x[j] > m0 ? x[j] : m0;
        }
        float m = Math.max(Math.max(m0, m1), Math.max(m2, m3));   // NaN-free: NaN entries never enter a chain
        if (m == Float.POSITIVE_INFINITY || m == Float.NEGATIVE_INFINITY) {
            return reference(x, n);                   // all -inf, or an +inf entry: the exact rules of exp
        }
        if (terms.length < n) {
            terms = new float[n];
            scales = new int[n];
        }
        float[] p = terms;
        int[] e = scales;
        for (int i = 0; i < n; i++) {
            float t = Math.max((x[i] - m) * LOG2E, -126f);   // <= 0 (NaN stays NaN)
            int k = (int) (t - 0.5f);                  // round to nearest for t <= 0 (truncation toward zero)
            float f = t - k;                           // [-0.5, 0.5]
            float q = C6;
            q = q * f + C5;
            q = q * f + C4;
            q = q * f + C3;
            q = q * f + C2;
            q = q * f + C1;
            p[i] = q * f + 1f;
            e[i] = (k + 127) << 23;                    // 2^k, k in [-126, 0]
        }
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            s0 += p[i] * Float.intBitsToFloat(e[i]);
            s1 += p[i + 1] * Float.intBitsToFloat(e[i + 1]);
            s2 += p[i + 2] * Float.intBitsToFloat(e[i + 2]);
            s3 += p[i + 3] * Float.intBitsToFloat(e[i + 3]);
        }
        for (; i < n; i++) {
            s0 += p[i] * Float.intBitsToFloat(e[i]);
        }
        return m + Math.log((s0 + s1) + (s2 + s3));
    }

    /** The plain double-precision sum, as {@link io.llmj.eval.Perplexity#logSoftmax}. */
    static double reference(float[] x, int n) {
        double m = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < n; i++) {
            m = Math.max(m, x[i]);
        }
        if (Double.isInfinite(m)) {
            return m;                                   // log sum of exp: -inf if all are -inf, +inf if any is
        }
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += Math.exp(x[i] - m);
        }
        return m + Math.log(s);
    }
}
