package io.llmj;

/**
 * How far a model load has come, as told to {@link ModelOptions#withProgress}: bytes of weights prepared
 * on the backends out of the model's tensor bytes. Host backends map weights in place, so the load
 * races through; the CUDA backend copies every byte to the device, which is what this measures there.
 *
 * @param bytesDone  bytes of weights prepared so far (at most {@code bytesTotal})
 * @param bytesTotal bytes of tensor data in the model's files
 * @param tensor     the tensor just prepared, or null for the final report
 * @param nanos      time since the load began
 */
public record LoadProgress(long bytesDone, long bytesTotal, String tensor, long nanos) {
    /** Fraction done, 0 to 1. */
    public double fraction() {
        return bytesTotal <= 0 ? 1 : Math.min(1.0, (double) bytesDone / bytesTotal);
    }

    /** Whether this is the final report of a load that succeeded. */
    public boolean done() {
        return tensor == null;
    }
}
