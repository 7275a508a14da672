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
 * One probe keeps its buffer, so that {@code llmj bench} can measure again next to each repetition.
 */
final class BandwidthProbe implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final MemorySegment buf;
    private final MemorySegment sum;
    private final int threads;

    BandwidthProbe(int threads, long bytes) {
        NativeCpu.init();
        this.threads = threads;
        this.buf = arena.allocate(bytes, 4096);
        buf.fill((byte) 1);
        this.sum = arena.allocate(8);
    }

    /** Best of five timed passes (after one untimed), bytes/s. */
    double measure() {
        try (NativeThreadPool pool = new NativeThreadPool(threads)) {
            double best = 0;
            for (int pass = 0; pass < 6; pass++) {
                long t0 = System.nanoTime();
                NativeStatus.check(Llmj.llmj_memory_read(pool.handle(), buf, buf.byteSize(), sum), "llmj_memory_read");
                double secs = (System.nanoTime() - t0) / 1e9;
                if (pass > 0) {
                    best = Math.max(best, buf.byteSize() / secs);
                }
            }
            return best;
        }
    }

    /**
     * One timed pass over the first {@code bytes} of the buffer on {@code pool} (the caller's, kept
     * open across passes), nanoseconds: the probe that {@code llmj bench} interleaves with decode steps.
     */
    long pass(NativeThreadPool pool, long bytes) {
        long t0 = System.nanoTime();
        NativeStatus.check(Llmj.llmj_memory_read(pool.handle(), buf.asSlice(0, bytes), bytes, sum), "llmj_memory_read");
        return System.nanoTime() - t0;
    }

    int threads() {
        return threads;
    }

    @Override
    public void close() {
        arena.close();
    }
}
