package io.llmj.backend;

/**
 * An activation buffer owned by a {@link Backend}: {@code size()} elements of float32 (or of the
 * cache type for KV caches), in host or device memory. The forward pass never reads it directly;
 * it asks the backend to {@link Backend#read read} results back.
 */
public interface Buffer extends AutoCloseable {
    /** Number of elements. */
    long size();

    /** Releases the memory. Idempotent. */
    @Override
    void close();
}
