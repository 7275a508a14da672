package io.llmj.samples.cli;

import io.llmj.quant.ModelQuantizer;
import java.io.PrintWriter;

/** A one-line progress bar on stderr: tensor i/N, bytes written of total, ETA; redrawn at most 10 times a second. */
final class ProgressBar implements ModelQuantizer.Progress {
    private final PrintWriter err;
    private final long start = System.nanoTime();
    private long lastDraw;
    private boolean drawn;

    ProgressBar(PrintWriter err) {
        this.err = err;
    }

    @Override
    public synchronized void update(int tensor, int tensors, String name, long done, long total) {
        long now = System.nanoTime();
        if (done < total && now - lastDraw < 100_000_000L) {
            return;
        }
        lastDraw = now;
        double frac = total == 0 ? 1 : (double) done / total;
        double elapsed = (now - start) / 1e9;
        double eta = frac > 0 ? elapsed * (1 - frac) / frac : 0;
        int width = 24;
        int fill = (int) Math.round(frac * width);
        String bar = "#".repeat(fill) + ".".repeat(width - fill);
        String n = name.length() > 28 ? name.substring(0, 28) : name;
        err.printf("\r[%s] %3.0f%% tensor %d/%d %-28s %s/%s ETA %.0fs ", bar, frac * 100, tensor, tensors, n,
                size(done), size(total), eta);
        err.flush();
        drawn = true;
    }

    /** Ends the bar's line. */
    synchronized void finish() {
        if (drawn) {
            err.println();
            err.flush();
        }
    }

    static String size(long bytes) {
        if (bytes >= 1L << 30) {
            return String.format("%.2f GiB", bytes / (double) (1L << 30));
        }
        return String.format("%.1f MiB", bytes / (double) (1L << 20));
    }
}
