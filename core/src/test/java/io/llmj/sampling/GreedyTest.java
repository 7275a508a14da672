package io.llmj.sampling;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link Greedy}'s four-lane scan against the plain one-chain scan it replaces: random rows of every length up to
 * 41 (around the lanes' multiples of four) and of a vocabulary's size, drawn from a few values so that ties are
 * common, with NaN and both infinities mixed in.
 */
class GreedyTest {
    private static int plainScan(float[] logits) {
        int best = 0;
        for (int i = 1; i < logits.length; i++) {
            if (logits[i] > logits[best]) {
                best = i;
            }
        }
        return best;
    }

    @Test
    void choosesWhatThePlainScanChooses() {
        SplittableRandom r = new SplittableRandom(11);
        float[] values = {Float.NaN, Float.NEGATIVE_INFINITY, Float.POSITIVE_INFINITY, -0f, 0f, -3f, 1.5f, 2f, 2f, 7f};
        for (int trial = 0; trial < 20000; trial++) {
            int n = trial % 10 == 0 ? 32000 : r.nextInt(1, 42);
            int spread = 1 + r.nextInt(values.length);      // how many of the values this row draws from
            int from = r.nextInt(values.length - spread + 1);
            float[] row = new float[n];
            for (int i = 0; i < n; i++) {
                row[i] = values[from + r.nextInt(spread)];
            }
            assertEquals(plainScan(row), Greedy.INSTANCE.sample(row, null), () -> Arrays.toString(row));
        }
    }

    @Test
    void emptyAndSingleRows() {
        assertEquals(0, Greedy.INSTANCE.sample(new float[0], null));
        assertEquals(0, Greedy.INSTANCE.sample(new float[] {Float.NaN}, null));
        assertEquals(0, Greedy.INSTANCE.sample(new float[] {Float.NaN, 5f, 6f}, null));
        assertEquals(2, Greedy.INSTANCE.sample(new float[] {Float.NEGATIVE_INFINITY, Float.NaN, 6f, 6f}, null));
    }
}
