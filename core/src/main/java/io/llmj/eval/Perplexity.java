package io.llmj.eval;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.quant.GgmlType;
import java.util.Arrays;

/**
 * Perplexity as llama.cpp's {@code llama-perplexity} defines it: the text is tokenized once (with BOS
 * when the model adds one), cut into non-overlapping windows of {@code ctx} tokens whose first token
 * is set to BOS, and in each window only the predictions of the second half are scored.
 */
public final class Perplexity {
    private Perplexity() {}

    /** Logits for every position of a window ({@code window.length} rows of the vocabulary). */
    public interface Logits {
        float[][] all(int[] window);
    }

    /** Called after each window with the perplexity so far. */
    public interface Listener {
        void window(int index, int windows, double perplexity);
    }

    public record Result(double perplexity, int windows, int windowLength, long scored, double seconds) {}

    /**
     * @param tokens     the tokenized text
     * @param bos        the BOS id to put first in every window, or -1 to leave windows as they are
     * @param ctx        window length
     * @param maxWindows score at most this many windows (0: all)
     * @throws IllegalArgumentException if the text is shorter than one window
     */
    public static Result compute(int[] tokens, int bos, int ctx, int maxWindows, Logits logits, Listener listener) {
        if (ctx < 4) {
            throw new IllegalArgumentException("window of " + ctx + " tokens (at least 4)");
        }
        int windows = tokens.length / ctx;
        if (maxWindows > 0) {
            windows = Math.min(windows, maxWindows);
        }
        if (windows == 0) {
            throw new IllegalArgumentException(tokens.length + " tokens, fewer than one window of " + ctx);
        }
        int first = ctx / 2;
        double nll = 0;
        long count = 0;
        long t0 = System.nanoTime();
        for (int c = 0; c < windows; c++) {
            int[] window = Arrays.copyOfRange(tokens, c * ctx, (c + 1) * ctx);
            if (bos >= 0) {
                window[0] = bos;
            }
            float[][] rows = logits.all(window);
            for (int j = first; j < ctx - 1; j++) {
                nll += -logSoftmax(rows[j], tokens[c * ctx + j + 1]);
                count++;
            }
            if (listener != null) {
                listener.window(c, windows, Math.exp(nll / count));
            }
        }
        return new Result(Math.exp(nll / count), windows, ctx, count, (System.nanoTime() - t0) / 1e9);
    }

    /** Logits of a forward pass, each window run from position 0 in one batch. */
    public static Logits of(Forward forward) {
        return window -> {
            int n = window.length;
            int v = forward.config().vocabSize();
            try (ForwardState s = forward.newState(n, n, n, GgmlType.F32)) {
                float[] out = new float[n * v];
                forward.forward(s, window, 0, true, out);
                float[][] rows = new float[n][];
                for (int r = 0; r < n; r++) {
                    rows[r] = Arrays.copyOfRange(out, r * v, (r + 1) * v);
                }
                return rows;
            }
        };
    }

    /** {@code log softmax(logits)[id]}, in double. */
    public static double logSoftmax(float[] logits, int id) {
        double max = Double.NEGATIVE_INFINITY;
        for (float l : logits) {
            max = Math.max(max, l);
        }
        double sum = 0;
        for (float l : logits) {
            sum += Math.exp(l - max);
        }
        return logits[id] - max - Math.log(sum);
    }
}
