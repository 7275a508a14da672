package io.llmj.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@link Candidates}' primitive-key sort, top-k selection and min-p prefilter against the reference they replace: a
 * boxed sort with the comparator "descending {@link Float#compare}, then ascending id", truncated. Rows with many
 * equal logits, -0.0 and 0.0, infinities and NaN; the selected ids and logits must agree exactly (bit for bit), so
 * the stages after them (top-p, temperature, the draw: unchanged code) see the same candidates as before.
 */
class CandidatesTest {
    /** The reference order: ids of x by descending logit, ties by ascending id. */
    static Integer[] referenceOrder(float[] x) {
        Integer[] order = new Integer[x.length];
        for (int i = 0; i < x.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> {
            int c = Float.compare(x[b], x[a]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        return order;
    }

    static float[] row(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] special = {0f, -0f, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, 1.5f, -1.5f};
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            int kind = rnd.nextInt(10);
            x[i] = kind == 0 ? special[rnd.nextInt(special.length)]
                    : kind < 4 ? (float) rnd.nextInt(-3, 4)       // many exact ties
                    : (float) (rnd.nextGaussian() * 3);
        }
        return x;
    }

    static void assertSame(float[] x, Integer[] order, int n, Candidates c, String what) {
        assertEquals(n, c.size(), what + ": size");
        for (int i = 0; i < n; i++) {
            assertEquals((int) order[i], c.id(i), what + ": id at " + i);
            assertEquals(Float.floatToIntBits(x[order[i]]), Float.floatToIntBits(c.logit(i)), what + ": logit at " + i);
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 3, 17, 100, 4096, 32000})
    void sortAndTopKMatchTheReference(int n) {
        for (long seed = 0; seed < 4; seed++) {
            float[] x = row(n, seed * 1000 + n);
            Integer[] order = referenceOrder(x);
            Candidates all = Candidates.of(x);
            all.topK(Integer.MAX_VALUE);                 // full sort
            assertSame(x, order, n, all, "sort n=" + n);
            for (int k : new int[] {1, 2, 3, 40, n - 1, n, n + 5}) {
                if (k < 1) {
                    continue;
                }
                Candidates c = Candidates.of(x);
                c.topK(k);
                assertSame(x, order, Math.min(k, n), c, "top-" + k + " of " + n);
            }
        }
    }

    @Test
    void minPPrefilterMatchesTheSortedWalk() {
        for (int n : new int[] {1, 5, 300, 32000}) {
            for (float pMin : new float[] {1e-6f, 0.05f, 0.5f, 1f}) {
                float[] x = row(n, n + (long) (pMin * 1e6));
                Integer[] order = referenceOrder(x);
                double threshold = x[order[0]] + Math.log(pMin);
                int keep = 1;
                while (keep < n && x[order[keep]] >= threshold) {
                    keep++;
                }
                Candidates c = Candidates.of(x);
                c.minP(pMin);
                assertSame(x, order, keep, c, "min-p " + pMin + " of " + n);
            }
        }
        float[] nan = {1, Float.NaN, 3};                   // NaN sorts first: the threshold is NaN, only it stays
        Candidates c = Candidates.of(nan);
        c.minP(0.5f);
        assertEquals(1, c.size());
        assertEquals(1, c.id(0));
    }

    /** The key's logit half gives back every non-NaN float bit for bit, its low half the id. */
    @Test
    void keyRoundTripsEveryLogit() {
        SplittableRandom rnd = new SplittableRandom(3);
        for (int i = 0; i < 100000; i++) {
            float f = Float.intBitsToFloat(rnd.nextInt());
            if (Float.isNaN(f)) {
                continue;
            }
            int id = rnd.nextInt(0, Integer.MAX_VALUE);
            long k = Candidates.key(f, id);
            assertEquals(Float.floatToIntBits(f), Float.floatToIntBits(Candidates.logitOf(k)));
            assertEquals(id, (int) k);
        }
    }
}
