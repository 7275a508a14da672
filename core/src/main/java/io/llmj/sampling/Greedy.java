package io.llmj.sampling;

import io.llmj.Sampler;

/**
 * The greedy sampler of {@link Sampler#greedy()}: the highest logit, the lowest id among equal ones (NaN never
 * chosen unless it is at id 0, as a plain {@code >} scan does). One instance, which a generator recognises
 * ({@link #is}) to make the choice on a GPU without copying the logits to the host.
 */
public final class Greedy implements Sampler {
    public static final Greedy INSTANCE = new Greedy();

    private Greedy() {}

    /**
     * The plain scan ({@code best = i} where {@code logits[i] > logits[best]}) as four independent scans over the
     * ids i mod 4, merged by value and then by id: the same choice, without the one chain of dependent compares
     * (a 32000-entry vocabulary took ~2 ns an entry on the development VM). Each lane starts below every value
     * ({@code -inf} with no id), so NaN never wins; when no lane finds a value above {@code -inf} (all are
     * {@code -inf} or NaN), or entry 0 is NaN (which the plain scan never leaves), the choice is id 0.
     */
    @Override
    public int sample(float[] logits, Context ctx) {
        int n = logits.length;
        if (n == 0 || Float.isNaN(logits[0])) {
            return 0;
        }
        float v0 = Float.NEGATIVE_INFINITY, v1 = v0, v2 = v0, v3 = v0;
        int i0 = -1, i1 = -1, i2 = -1, i3 = -1;
        int i = 0;
        for (; i + 4 <= n; i += 4) {
            float a = logits[i], b = logits[i + 1], c = logits[i + 2], d = logits[i + 3];
            if (a > v0) { v0 = a; i0 = i; }
            if (b > v1) { v1 = b; i1 = i + 1; }
            if (c > v2) { v2 = c; i2 = i + 2; }
            if (d > v3) { v3 = d; i3 = i + 3; }
        }
        for (; i < n; i++) {
            if (logits[i] > v0) { v0 = logits[i]; i0 = i; }
        }
        int best = i0;
        float bv = v0;
        if (i1 >= 0 && (best < 0 || v1 > bv || v1 == bv && i1 < best)) { best = i1; bv = v1; }
        if (i2 >= 0 && (best < 0 || v2 > bv || v2 == bv && i2 < best)) { best = i2; bv = v2; }
        if (i3 >= 0 && (best < 0 || v3 > bv || v3 == bv && i3 < best)) { best = i3; }
        return best < 0 ? 0 : best;
    }

    /** Whether {@code s} always makes the greedy choice: this sampler, or a chain at temperature 0 without penalties. */
    public static boolean is(Sampler s) {
        return s == INSTANCE || s instanceof SamplerChain c && c.isGreedy();
    }

    @Override
    public String toString() {
        return "greedy";
    }
}
