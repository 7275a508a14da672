package io.llmj;

/**
 * A GPU has no room for an allocation: the weights of the layers asked for, a KV cache or the
 * activations do not fit. Says what was requested and what the device had free; put fewer layers on
 * the GPU ({@link ModelOptions#withGpuLayers}, {@code --gpu-layers}) or use a shorter context. By the
 * time it is thrown, whatever the failed load or allocation had taken is freed again.
 */
public class GpuOutOfMemoryException extends BackendUnavailableException {
    private final long requestedBytes;
    private final long freeBytes;
    private final long totalBytes;

    /**
     * @param device    the device, e.g. "CUDA device #0 (NVIDIA H100 80GB HBM3)"
     * @param what      what the memory was for, e.g. a tensor name or "KV cache"
     * @param requested bytes requested
     * @param free      bytes free on the device when the allocation failed (-1 if unknown)
     * @param total     the device's memory (-1 if unknown)
     */
    public GpuOutOfMemoryException(String device, String what, long requested, long free, long total) {
        super(device + " is out of memory: " + gib(requested) + " for " + what + " could not be allocated"
                + (free >= 0 ? " with " + gib(free) + " free of " + gib(total) : "")
                + ". Put fewer layers on the GPU (--gpu-layers N, ModelOptions.withGpuLayers(N)) or use a shorter context.");
        this.requestedBytes = requested;
        this.freeBytes = free;
        this.totalBytes = total;
    }

    /** Bytes of the allocation that failed. */
    public long requestedBytes() {
        return requestedBytes;
    }

    /** Bytes free on the device when it failed, or -1 if unknown. */
    public long freeBytes() {
        return freeBytes;
    }

    /** The device's memory in bytes, or -1 if unknown. */
    public long totalBytes() {
        return totalBytes;
    }

    static String gib(long bytes) {
        return bytes >= 1L << 30 ? String.format("%.2f GiB", bytes / (double) (1L << 30))
                : bytes >= 1L << 20 ? String.format("%.1f MiB", bytes / (double) (1L << 20))
                : String.format("%.1f KiB", bytes / 1024.0);
    }
}
