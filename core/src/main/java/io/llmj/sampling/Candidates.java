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

    /** Sorts by descending logit (ties: lower id first). */
    private void sort() {
        if (sorted) {
            return;
        }
        Integer[] order = new Integer[size];
        for (int i = 0; i < size; i++) {
            order[i] = i;
        }
        final int[] id0 = ids;
        final float[] l0 = logits;
        java.util.Arrays.sort(order, (a, b) -> {
            int c = Float.compare(l0[b], l0[a]);
            return c != 0 ? c : Integer.compare(id0[a], id0[b]);
        });
        int[] ni = new int[size];
        float[] nl = new float[size];
        for (int i = 0; i < size; i++) {
            ni[i] = id0[order[i]];
            nl[i] = l0[order[i]];
        }
        ids = ni;
        logits = nl;
        sorted = true;
    }

    void topK(int k) {
        sort();
        size = Math.min(size, k);
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
        sort();
        double threshold = logits[0] + Math.log(pMin);
        int keep = 1;
        while (keep < size && logits[keep] >= threshold) {
            keep++;
        }
        size = keep;
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
