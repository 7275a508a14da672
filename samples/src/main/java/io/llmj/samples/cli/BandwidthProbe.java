package io.llmj.samples.cli;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Measures read bandwidth from memory: {@code threads} threads each sum their slice of a buffer much
 * larger than the caches; the best of several passes, in bytes per second.
 */
final class BandwidthProbe {
    private BandwidthProbe() {}

    static double measure(int threads, long bytes) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buf = arena.allocate(bytes, 4096);
            buf.fill((byte) 1);
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                double best = 0;
                long slice = bytes / threads / 64 * 64;
                for (int pass = 0; pass < 5; pass++) {
                    List<Future<Long>> fs = new ArrayList<>();
                    long t0 = System.nanoTime();
                    for (int t = 0; t < threads; t++) {
                        MemorySegment part = buf.asSlice(t * slice, slice);
                        fs.add(pool.submit(() -> sum(part)));
                    }
                    long check = 0;
                    for (Future<Long> f : fs) {
                        check += f.get();
                    }
                    double secs = (System.nanoTime() - t0) / 1e9;
                    if (check == 42) {
                        System.out.print("");   // keeps the sums alive
                    }
                    best = Math.max(best, slice * threads / secs);
                }
                return best;
            } finally {
                pool.shutdownNow();
            }
        }
    }

    private static long sum(MemorySegment s) {
        long a = 0, b = 0, c = 0, d = 0;
        long n = s.byteSize() / 8;
        for (long i = 0; i + 4 <= n; i += 4) {
            a += s.getAtIndex(ValueLayout.JAVA_LONG, i);
            b += s.getAtIndex(ValueLayout.JAVA_LONG, i + 1);
            c += s.getAtIndex(ValueLayout.JAVA_LONG, i + 2);
            d += s.getAtIndex(ValueLayout.JAVA_LONG, i + 3);
        }
        return a + b + c + d;
    }
}
