package io.llmj.sampling;

import java.util.random.RandomGenerator;

/** Token candidates (id, logit) being narrowed by sampler stages, kept sorted by logit once sorted. */
final class Candidates {
    private int[] ids;
    private float[] logits;
    private int size;
    private boolean sorted;

    private Candidates(int[] ids, float[] logits) {
        this.ids = ids;
        this.logits = logits;
        this.size = ids.length;
    }

    static Candidates of(float[] logits) {
        int[] ids = new int[logits.length];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = i;
        }
        return new Candidates(ids, logits.clone());
    }

    /**
     * Sort key of a candidate: ascending keys are descending logits ({@link Float#compare} order: NaN above
     * +inf, 0.0 above -0.0), equal logits by ascending id. The high half is the logit's bits made to compare as
     * signed integers, inverted; the low half the id.
     */
    static long key(float logit, int id) {
        int s = Float.floatToIntBits(logit);
        s ^= (s >> 31) & 0x7fffffff;
        return ((long) ~s << 32) | (id & 0xffffffffL);
    }

    private long[] keys() {
        long[] k = new long[size];
        for (int i = 0; i < size; i++) {
            k[i] = key(logits[i], ids[i]);
        }
        return k;
    }

    /** The logit of a key (NaN as the canonical NaN). */
    static float logitOf(long key) {
        int s = ~(int) (key >>> 32);
        s ^= (s >> 31) & 0x7fffffff;
        return Float.intBitsToFloat(s);
    }

    /** The first n candidates become those of keys[0..n), in that order. */
    private void unpack(long[] keys, int n) {
        int[] ni = new int[n];
        float[] nl = new float[n];
        for (int i = 0; i < n; i++) {
            ni[i] = (int) keys[i];
            nl[i] = logitOf(keys[i]);
        }
        ids = ni;
        logits = nl;
        size = n;
    }

    /** Sorts by descending logit (ties: lower id first): one primitive sort of the keys. */
    private void sort() {
        if (sorted) {
            return;
        }
        long[] k = keys();
        java.util.Arrays.sort(k);
        unpack(k, size);
        sorted = true;
    }

    /** Keeps the k best in sorted order: the k smallest keys selected in linear time, then only they are sorted. */
    void topK(int k) {
        if (!sorted && k < size) {
            long[] keys = keys();
            select(keys, k);
            java.util.Arrays.sort(keys, 0, k);
            unpack(keys, k);
            sorted = true;
            return;
        }
        sort();
        size = Math.min(size, k);
    }

    /** Rearranges a (distinct keys) so that a[0..k) are its k smallest, in any order (quickselect, median of 3). */
    static void select(long[] a, int k) {
        int lo = 0, hi = a.length - 1;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < a[lo]) swap(a, mid, lo);
            if (a[hi] < a[lo]) swap(a, hi, lo);
            if (a[hi] < a[mid]) swap(a, hi, mid);
            long pivot = a[mid];
            int i = lo, j = hi;
            while (i <= j) {                            // Hoare partition: a[lo..j] <= pivot <= a[i..hi]
                while (a[i] < pivot) i++;
                while (a[j] > pivot) j--;
                if (i <= j) {
                    swap(a, i++, j--);
                }
            }
            if (k - 1 <= j) {
                hi = j;
            } else if (k - 1 >= i) {
                lo = i;
            } else {
                return;                                 // a[j + 1 .. i - 1] == pivot holds position k - 1
            }
        }
    }

    private static void swap(long[] a, int i, int j) {
        long t = a[i];
        a[i] = a[j];
        a[j] = t;
    }

    /** Softmax probabilities of the current candidates (sorted). */
    private double[] probs() {
        sort();
        double max = logits[0];
        double[] p = new double[size];
        double sum = 0;
        for (int i = 0; i < size; i++) {
            p[i] = Math.exp(logits[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < size; i++) {
            p[i] /= sum;
        }
        return p;
    }

    void topP(float pThreshold) {
        double[] p = probs();
        double cum = 0;
        for (int i = 0; i < size; i++) {
            cum += p[i];
            if (cum >= pThreshold) {
                size = i + 1;
                return;
            }
        }
    }

    void minP(float pMin) {
        if (!sorted) {   // only the kept ones need sorting: those at or above the best logit + log(pMin), a prefix
            long best = Long.MAX_VALUE;
            for (int i = 0; i < size; i++) {
                best = Math.min(best, key(logits[i], ids[i]));
            }
            int bestId = (int) best;
            double threshold = logitOf(best) + Math.log(pMin);
            long[] keep = new long[size];
            int n = 0;
            keep[n++] = best;                           // the best always stays
            for (int i = 0; i < size; i++) {
                if (ids[i] != bestId && logits[i] >= threshold) {
                    keep[n++] = key(logits[i], ids[i]);
                }
            }
            java.util.Arrays.sort(keep, 0, n);
            unpack(keep, n);
            sorted = true;
            return;
        }
        double threshold = logits[0] + Math.log(pMin);
        int keep = 1;
        while (keep < size && logits[keep] >= threshold) {
            keep++;
        }
        size = keep;
    }

    int size() {
        return size;
    }

    int id(int i) {
        return ids[i];
    }

    float logit(int i) {
        return logits[i];
    }

    void temperature(float t) {
        for (int i = 0; i < size; i++) {
            logits[i] /= t;
        }
    }

    int draw(RandomGenerator rng) {
        double[] p = probs();
        double r = rng.nextDouble();
        double cum = 0;
        for (int i = 0; i < size; i++) {
            cum += p[i];
            if (r < cum) {
                return ids[i];
            }
        }
        return ids[size - 1];
    }
}
