package io.llmj.ffm.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.GenerationOptions;
import io.llmj.Model;
import io.llmj.ModelOptions;
import io.llmj.backend.Backend;
import io.llmj.backend.Backends;
import io.llmj.testing.TestData;
import org.junit.jupiter.api.Test;

/** The thread count and backend name asked for reach the backend. */
class BackendSelectionTest {
    @Test
    void threadsReachTheNativePool() {
        try (Backend b = Backends.create("cpu", 3)) {
            assertEquals(3, ((NativeCpuBackend) b).threads());
        }
    }

    @Test
    void modelOptionsChooseTheBackend() {
        var path = TestData.require("models/stories260K.gguf");
        try (Model m = Model.load(path, ModelOptions.defaults().withBackend("cpu").withThreads(1))) {
            assertEquals("cpu", m.backendName());
            assertTrue(m.generator(GenerationOptions.builder().maxTokens(3).build()).generate("Once upon a time").startsWith(","));
        }
        try (Model m = Model.load(path, ModelOptions.defaults().withBackend("java"))) {
            assertEquals("java", m.backendName());
        }
    }
}
