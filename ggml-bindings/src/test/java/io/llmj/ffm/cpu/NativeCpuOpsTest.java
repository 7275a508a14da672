package io.llmj.ffm.cpu;

import io.llmj.backend.Backend;
import io.llmj.backend.BackendOps;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * Every op of the native CPU backend (3 threads, the best ISA) against the Java reference; the subclasses
 * run them again at the AVX2 and scalar levels.
 */
class NativeCpuOpsTest extends BackendOps {
    private static NativeCpuBackend backend;   // one per test class (the classes run one after another)

    @BeforeAll
    static void openBackend() {
        backend = new NativeCpuBackend(3);
    }

    @Override
    protected Backend backend() {
        return backend;
    }

    @AfterAll
    static void closeBackend() {
        backend.close();
    }
}
