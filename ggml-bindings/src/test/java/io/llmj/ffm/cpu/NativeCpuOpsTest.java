package io.llmj.ffm.cpu;

import io.llmj.backend.Backend;
import io.llmj.backend.BackendOps;
import org.junit.jupiter.api.AfterAll;

/** Every op of the native CPU backend (3 threads, the best ISA) against the Java reference. */
class NativeCpuOpsTest extends BackendOps {
    private static final NativeCpuBackend BACKEND = new NativeCpuBackend(3);

    @Override
    protected Backend backend() {
        return BACKEND;
    }

    @AfterAll
    static void closeBackend() {
        BACKEND.close();
    }
}
