package io.llmj.ffm.cpu;

import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.llmj.Llmj;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A native worker pool ({@code llmj_threadpool}) for the CPU kernels. The calling thread takes part
 * as worker 0, so a pool of n threads starts n-1 OS threads; idle workers spin briefly, then sleep.
 * One kernel at a time per pool: callers that share a pool must not call kernels concurrently.
 */
public final class NativeThreadPool implements AutoCloseable {
    private MemorySegment handle;
    private final int size;

    /** Starts a pool of {@code threads} threads (1..256). */
    public NativeThreadPool(int threads) {
        NativeCpu.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ValueLayout.ADDRESS);
            NativeStatus.check(Llmj.llmj_threadpool_create(threads, out), "llmj_threadpool_create(" + threads + ")");
            handle = out.get(ValueLayout.ADDRESS, 0);
        }
        size = Llmj.llmj_threadpool_size(handle);
    }

    /** Threads including the caller. */
    public int size() {
        return size;
    }

    /** The {@code llmj_threadpool *} to pass to kernels. @throws IllegalStateException after close */
    public MemorySegment handle() {
        if (handle == null) {
            throw new IllegalStateException("thread pool is closed");
        }
        return handle;
    }

    @Override
    public void close() {
        if (handle != null) {
            Llmj.llmj_threadpool_free(handle);
            handle = null;
        }
    }
}
