package io.llmj.samples.cli;

import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.cpu.NativeCpu;
import io.llmj.ffm.cpu.NativeThreadPool;
import io.llmj.ffm.generated.llmj.Llmj;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Measures memory read bandwidth with llmj's native streaming read ({@code llmj_memory_read}) on
 * {@code threads} threads over a buffer much larger than the caches: best of several passes, bytes/s.
 */
final class BandwidthProbe {
    private BandwidthProbe() {}

    static double measure(int threads, long bytes) {
        NativeCpu.init();
        try (Arena arena = Arena.ofShared(); NativeThreadPool pool = new NativeThreadPool(threads)) {
            MemorySegment buf = arena.allocate(bytes, 4096);
            buf.fill((byte) 1);
            MemorySegment sum = arena.allocate(8);
            double best = 0;
            for (int pass = 0; pass < 6; pass++) {
                long t0 = System.nanoTime();
                NativeStatus.check(Llmj.llmj_memory_read(pool.handle(), buf, bytes, sum), "llmj_memory_read");
                double secs = (System.nanoTime() - t0) / 1e9;
                if (pass > 0) {
                    best = Math.max(best, bytes / secs);
                }
            }
            return best;
        }
    }
}
