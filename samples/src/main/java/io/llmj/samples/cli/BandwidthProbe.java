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
 * One probe keeps its buffer and its thread pool, so that {@code llmj bench} can measure again next to
 * each repetition and after each decode step.
 */
final class BandwidthProbe implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final NativeThreadPool pool;
    private final MemorySegment buf;
    private final MemorySegment sum;

    BandwidthProbe(int threads, long bytes) {
        NativeCpu.init();
        this.buf = arena.allocate(bytes, 4096);
        buf.fill((byte) 1);
        this.sum = arena.allocate(8);
        this.pool = new NativeThreadPool(threads);
    }

    /** Best of five timed passes over the whole buffer (after one untimed), bytes/s. */
    double measure() {
        double best = 0;
        for (int i = 0; i < 6; i++) {
            long ns = pass(buf.byteSize());
            if (i > 0) {
                best = Math.max(best, buf.byteSize() / (ns / 1e9));
            }
        }
        return best;
    }

    /** One timed pass over the first {@code bytes} of the buffer, nanoseconds. */
    long pass(long bytes) {
        long t0 = System.nanoTime();
        NativeStatus.check(Llmj.llmj_memory_read(pool.handle(), buf.asSlice(0, bytes), bytes, sum), "llmj_memory_read");
        return System.nanoTime() - t0;
    }

    @Override
    public void close() {
        pool.close();
        arena.close();
    }
}
