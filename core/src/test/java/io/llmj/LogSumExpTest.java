package io.llmj;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.eval.Perplexity;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

/**
 * {@link LogSumExp} against the double-precision sum of {@link Math#exp} ({@link Perplexity#logSoftmax}): sizes
 * around the four-way unrolled sum (1, 3, 4, 5, 31), vocabulary sizes (32000, 151936 after a smaller row, so the
 * scratch grows), logit scales from near-flat to very peaked. Tolerance 1e-6 absolute on the log-sum-exp (the
 * polynomial's relative error is ~1e-7).
 */
class LogSumExpTest {
    @ParameterizedTest
    @CsvSource({"1, 1", "3, 0.5", "4, 3", "5, 10", "31, 3", "32000, 3", "32000, 0.01", "32000, 30", "151936, 5"})
    void matchesTheDoubleSum(int n, double scale) {
        SplittableRandom rnd = new SplittableRandom(n * 31L + (long) (scale * 100));
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (rnd.nextGaussian() * scale + 4);
        }
        LogSumExp l = new LogSumExp();
        l.of(new float[] {1, 2}, 2);                   // scratch sized for a smaller row first
        double want = LogSumExp.reference(x, n);
        double got = l.of(x, n);
        assertEquals(want, got, 1e-6, "n=" + n + " scale=" + scale);
        int id = rnd.nextInt(n);
        assertEquals(Perplexity.logSoftmax(x, id), x[id] - got, 1e-6, "log-probability of " + id);
    }

    /**
     * Each term on its own: rows {0, d} for d from -30 to 0 in steps of 1/512 put every fraction of the range
     * reduction (|f| <= 0.5) into a term that weighs up to half the sum, where a sum of many random terms would
     * average a coefficient error away. Tolerance 2.5e-7 on the log-sum-exp.
     */
    @Test
    void everyTermIsAccurate() {
        LogSumExp l = new LogSumExp();
        double worst = 0;
        for (int i = 0; i <= 30 * 512; i++) {
            float d = -i / 512f;
            float[] x = {0, d};
            double err = Math.abs(l.of(x, 2) - LogSumExp.reference(x, 2));
            assertTrue(err <= 2.5e-7, "d=" + d + ": error " + err);
            worst = Math.max(worst, err);
        }
        System.out.printf("LogSumExp: worst error over rows {0, d}: %.2e%n", worst);
    }

    @Test
    void extremeEntries() {
        LogSumExp l = new LogSumExp();
        float ninf = Float.NEGATIVE_INFINITY;
        assertEquals(Math.log(2) + 1, l.of(new float[] {1, ninf, 1, ninf, ninf}, 5), 1e-6, "-inf entries count as 0");
        assertEquals(ninf, l.of(new float[] {ninf, ninf}, 2), "all -inf");
        assertEquals(Float.POSITIVE_INFINITY, l.of(new float[] {0, Float.POSITIVE_INFINITY}, 2), "+inf");
        assertTrue(Double.isNaN(l.of(new float[] {0, Float.NaN, 1, 2, 3}, 5)), "NaN");
        assertEquals(1e4, l.of(new float[] {1e4f, -1e4f, 0}, 3), 1e-6, "terms far below the largest");
        assertEquals(5.0, l.of(new float[] {5, 5 - 200, 5 - 90}, 3), 1e-6, "below 2^-126 of the largest");
    }
}
