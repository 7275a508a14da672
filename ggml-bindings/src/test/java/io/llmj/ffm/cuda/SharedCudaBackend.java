package io.llmj.ffm.cuda;

import java.util.function.Supplier;
import org.junit.jupiter.api.Assumptions;

/**
 * One CUDA backend shared by a test class's tests: built by {@code factory} at the first {@link #get()} (which skips the
 * test where CUDA is unusable) and closed by {@link #close()}, which the class calls from its {@code @AfterAll}.
 */
final class SharedCudaBackend {
    private final Supplier<CudaBackend> factory;
    private CudaBackend backend;

    SharedCudaBackend(Supplier<CudaBackend> factory) {
        this.factory = factory;
    }

    /** The backend, built on first use; the calling test is skipped (not failed) where CUDA is unusable. */
    synchronized CudaBackend get() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
        if (backend == null) {
            backend = factory.get();
        }
        return backend;
    }

    /** Closes the backend if one was built; a later {@link #get()} builds a new one. */
    synchronized void close() {
        if (backend != null) {
            backend.close();
            backend = null;
        }
    }
}
