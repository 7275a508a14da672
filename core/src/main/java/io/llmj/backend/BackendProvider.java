package io.llmj.backend;

import io.llmj.BackendUnavailableException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Service-provider interface for backends, found with {@link java.util.ServiceLoader}.
 * Each provider can say why it cannot run here without creating anything.
 */
public interface BackendProvider {

    /** The backend's name, as {@link Backend#name()} and the {@code llmj.backend} property use it. */
    String name();

    /** Preference when choosing automatically: higher wins. The Java reference backend is 0. */
    int priority();

    /** Null if the backend can be created here, else a sentence saying why not. Cheap and side-effect free. */
    String unavailableReason();

    /** Creates the backend. @throws BackendUnavailableException saying why it cannot run here */
    Backend create();

    /** Creates the backend with {@code threads} CPU threads where that applies (0: its default). */
    default Backend create(int threads) {
        return create();
    }

    /**
     * Creates the backend on device {@code device} (an index among the backend's devices), with
     * {@code threads} CPU threads where that applies. Backends without devices accept only device 0.
     *
     * @throws BackendUnavailableException if there is no such device
     */
    default Backend create(int threads, int device) {
        if (device != 0) {
            throw new BackendUnavailableException("backend '" + name() + "' has no device #" + device + " (only #0)");
        }
        return create(threads);
    }

    /** Whether the backend runs on an accelerator with its own memory ({@link Backend#accelerator()}). */
    default boolean accelerator() {
        return false;
    }

    /**
     * Host memory for large data prepared at load (a repacked GPTQ layer): {@code bytes} zero-filled bytes,
     * page aligned, freed with {@code owner} (for an automatic arena: once it is unreachable); or null where
     * this provider has none or cannot give it now, and the caller allocates from {@code owner} itself.
     * {@link Backends#hostAllocator} asks the providers in priority order.
     */
    default MemorySegment allocateHost(long bytes, Arena owner) {
        return null;
    }
}
