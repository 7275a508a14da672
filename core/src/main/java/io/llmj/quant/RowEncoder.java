package io.llmj.quant;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.WritableByteChannel;
import java.util.ArrayDeque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Future;
import java.util.function.LongConsumer;

/**
 * Encodes a tensor row by row into a ggml type on a thread pool and streams the blocks to a channel
 * in order: chunks of rows are computed in parallel, at most a few per thread in flight, so memory
 * stays bounded by the chunk size whatever the tensor's size.
 */
final class RowEncoder {
    /** Fills {@code n} rows starting at {@code first} with F32 values, row after row, into {@code dst}. */
    @FunctionalInterface
    interface RowSource {
        void rows(long first, int n, float[] dst);
    }

    private static final int CHUNK_ELEMENTS = 1 << 20;

    private final ExecutorService pool;
    private final int window;

    RowEncoder(ExecutorService pool, int threads) {
        this.pool = pool;
        this.window = Math.max(2, 2 * threads);
    }

    /**
     * Writes {@code rows} rows of {@code cols} values from {@code source} as {@code type} to {@code out},
     * reporting each chunk's byte count to {@code progress}.
     */
    void write(WritableByteChannel out, long rows, int cols, GgmlType type, RowSource source, LongConsumer progress)
            throws IOException {
        QuantFormat format = QuantFormats.require(type);
        long rowBytes = type.byteSize(cols);
        int perChunk = (int) Math.max(1, Math.min(rows, CHUNK_ELEMENTS / Math.max(1, cols)));
        ArrayDeque<Future<ByteBuffer>> inFlight = new ArrayDeque<>();
        long next = 0;
        while (next < rows || !inFlight.isEmpty()) {
            while (next < rows && inFlight.size() < window) {
                long first = next;
                int n = (int) Math.min(perChunk, rows - first);
                next += n;
                inFlight.add(pool.submit(() -> {
                    float[] f = new float[n * cols];
                    source.rows(first, n, f);
                    byte[] b = new byte[Math.toIntExact(n * rowBytes)];
                    MemorySegment seg = MemorySegment.ofArray(b);
                    for (int r = 0; r < n; r++) {
                        format.quantize(f, r * cols, cols, seg, r * rowBytes);
                    }
                    return ByteBuffer.wrap(b);
                }));
            }
            ByteBuffer bb;
            try {
                bb = inFlight.poll().get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                inFlight.forEach(fu -> fu.cancel(true));
                throw new IOException("interrupted", e);
            } catch (ExecutionException e) {
                inFlight.forEach(fu -> fu.cancel(true));
                if (e.getCause() instanceof RuntimeException re) {
                    throw re;
                }
                throw new IOException(e.getCause());
            }
            int len = bb.remaining();
            while (bb.hasRemaining()) {
                out.write(bb);
            }
            progress.accept(len);
        }
    }
}
