package io.llmj.ffm.cuda;

import io.llmj.ffm.generated.cuda.CudaRuntime;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;

/**
 * Copies weights from host memory (the mapped model file) to the device through {@value #BUFFERS}
 * pinned staging buffers of {@value #CHUNK_MIB} MiB, so that reading the file and the DMA transfer
 * overlap: while the copy engine moves buffer i to the device (cudaMemcpyAsync on a copy stream), the
 * CPU fills buffer i+1 from the mapping; an event per buffer says when it may be refilled. Small
 * tensors share a buffer; large ones stream through them chunk by chunk. Big chunks are copied into
 * the staging buffer by several threads, which also spreads the page faults of a freshly mapped file.
 *
 * <p>The copy stream is a blocking stream, so work later enqueued on the legacy default stream waits
 * for the uploads anyway; {@link #finish} waits explicitly and is what the backend calls before any
 * op that reads a weight. Pageable {@code cudaMemcpy} from the mapping would instead stage through
 * the driver's own small buffer with the CPU and the DMA taking turns.
 *
 * <p>Not thread-safe: the backend calls it under its lock.
 */
final class PinnedUploader implements AutoCloseable {
    static final int CHUNK_MIB = 64;
    static final long CHUNK = (long) CHUNK_MIB << 20;
    static final int BUFFERS = 2;
    /** Host copies at least this large are split among threads. */
    private static final long PARALLEL_COPY = 4L << 20;

    private final MemorySegment stream;
    private final MemorySegment[] pinned = new MemorySegment[BUFFERS];
    private final MemorySegment[] events = new MemorySegment[BUFFERS];
    private final boolean[] inFlight = new boolean[BUFFERS];
    private int cur;
    private long used;
    private boolean pending;
    private boolean closed;

    /** The copy stream: work enqueued on it after {@link #upload} runs once that copy has landed. */
    MemorySegment stream() {
        return stream;
    }

    private PinnedUploader(MemorySegment stream) {
        this.stream = stream;
    }

    /** A stream, pinned buffers and events; null when any of them cannot be had (the caller copies synchronously). */
    static PinnedUploader tryCreate() {
        PinnedUploader u = null;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            if (CudaRuntime.cudaStreamCreateWithFlags(p, 0) != CudaRuntime.cudaSuccess()) {   // 0: cudaStreamDefault (blocking)
                CudaRuntime.cudaGetLastError();
                return null;
            }
            u = new PinnedUploader(p.get(ValueLayout.ADDRESS, 0));
            for (int i = 0; i < BUFFERS; i++) {
                if (CudaRuntime.cudaMallocHost(p, CHUNK) != CudaRuntime.cudaSuccess()) {
                    CudaRuntime.cudaGetLastError();
                    u.close();
                    return null;
                }
                u.pinned[i] = p.get(ValueLayout.ADDRESS, 0).reinterpret(CHUNK);
                if (CudaRuntime.cudaEventCreateWithFlags(p, CudaRuntime.cudaEventDisableTiming()) != CudaRuntime.cudaSuccess()) {
                    CudaRuntime.cudaGetLastError();
                    u.close();
                    return null;
                }
                u.events[i] = p.get(ValueLayout.ADDRESS, 0);
            }
            return u;
        } catch (RuntimeException e) {
            if (u != null) {
                u.close();
            }
            return null;
        }
    }

    /** Enqueues the copy of {@code host} to device address {@code dst}; returns when {@code host} may be released. */
    void upload(MemorySegment dst, MemorySegment host) {
        long size = host.byteSize();
        long off = 0;
        while (off < size) {
            if (used == CHUNK) {
                rotate();
            }
            long n = Math.min(CHUNK - used, size - off);
            copy(host, off, pinned[cur], used, n);
            Cuda.check(CudaRuntime.cudaMemcpyAsync(MemorySegment.ofAddress(dst.address() + off),
                    MemorySegment.ofAddress(pinned[cur].address() + used), n, CudaRuntime.cudaMemcpyHostToDevice(), stream),
                    "cudaMemcpyAsync host->device (" + n + " bytes)");
            pending = true;
            used += n;
            off += n;
        }
    }

    /** Closes the current buffer (its copies are enqueued), and waits until the next one is free. */
    private void rotate() {
        Cuda.check(CudaRuntime.cudaEventRecord(events[cur], stream), "cudaEventRecord");
        inFlight[cur] = true;
        cur = (cur + 1) % BUFFERS;
        if (inFlight[cur]) {
            Cuda.check(CudaRuntime.cudaEventSynchronize(events[cur]), "cudaEventSynchronize (upload buffer)");
            inFlight[cur] = false;
        }
        used = 0;
    }

    /** Whether copies may still be in flight. */
    boolean pending() {
        return pending;
    }

    /** Waits for every enqueued copy. */
    void finish() {
        if (pending) {
            Cuda.check(CudaRuntime.cudaStreamSynchronize(stream), "cudaStreamSynchronize (weight uploads)");
            pending = false;
            java.util.Arrays.fill(inFlight, false);
            used = 0;
        }
    }

    /** Waits for the copies (ignoring errors: this also runs after a failure) and frees everything. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        CudaRuntime.cudaStreamSynchronize(stream);
        for (int i = 0; i < BUFFERS; i++) {
            if (events[i] != null) {
                CudaRuntime.cudaEventDestroy(events[i]);
            }
            if (pinned[i] != null) {
                CudaRuntime.cudaFreeHost(pinned[i]);
            }
        }
        CudaRuntime.cudaStreamDestroy(stream);
        CudaRuntime.cudaGetLastError();
    }

    /** {@code n} bytes from {@code src[srcOff..]} to {@code dst[dstOff..]}, in parallel when large. */
    static void copy(MemorySegment src, long srcOff, MemorySegment dst, long dstOff, long n) {
        if (n < PARALLEL_COPY || !src.isNative()) {
            MemorySegment.copy(src, srcOff, dst, dstOff, n);
            return;
        }
        // Global-scope views so that pool threads may read a segment of a confined arena; both stay
        // alive until this method returns.
        MemorySegment s = MemorySegment.ofAddress(src.address() + srcOff).reinterpret(n);
        MemorySegment d = MemorySegment.ofAddress(dst.address() + dstOff).reinterpret(n);
        int parts = (int) Math.min(Math.max(1, Runtime.getRuntime().availableProcessors()), Math.min(8, n / (1 << 20)));
        long step = (n + parts - 1) / parts;
        IntStream.range(0, parts).parallel().forEach(i -> {
            long from = i * step;
            long len = Math.min(step, n - from);
            if (len > 0) {
                MemorySegment.copy(s, from, d, from, len);
            }
        });
    }
}
