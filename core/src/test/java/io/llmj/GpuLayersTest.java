package io.llmj;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.testing.FakeGpuBackend;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link ModelOptions#withGpuLayers}, load progress and out-of-memory handling through the public API,
 * on {@link FakeGpuBackend} (the Java reference arithmetic posing as a GPU with a set memory size):
 * a split model computes exactly what the unsplit one does (the hidden state crosses as float32), a
 * load that runs out of device memory throws (explicit backend) or falls back with a logged warning
 * ("auto"), and either way frees what it had taken.
 */
class GpuLayersTest {
    static final long BIG = 1L << 40;

    /**
     * The placement checks name the backends they expect: "fakegpu" and the Java reference as the CPU side.
     * Where the native backends are on the class path too (the GPU machine runs every module's tests in
     * one JVM), "auto" rightly picks those instead, so the tests only run with core's own backends.
     */
    @BeforeEach
    void onlyCoreBackends() {
        List<String> names = io.llmj.backend.Backends.providers().stream().map(io.llmj.backend.BackendProvider::name).toList();
        Assumptions.assumeTrue(names.stream().allMatch(n -> n.equals("java") || n.equals("fakegpu")),
                () -> "backends beside java and fakegpu are present: " + names);
    }

    @AfterEach
    void off() {
        FakeGpuBackend.disable();
    }

    static Path stories() {
        return TestData.require("models/stories260K.gguf");
    }

    static float[][] logits(Model m) {
        int[] ids = m.tokenizer().encode("Once upon a time, there was a little", true, false);
        return m.logits(ids, true);
    }

    @Test
    void splitModelComputesWhatTheWholeOneDoes() {
        float[][] want;
        try (Model m = Model.load(stories(), ModelOptions.defaults().withBackend("java"))) {
            want = logits(m);
        }
        FakeGpuBackend.enable(BIG);
        for (int layers : new int[] {-1, 0, 1, 3, 4, 5, 99}) {
            try (Model m = Model.load(stories(), ModelOptions.defaults().withBackend("fakegpu").withGpuLayers(layers))) {
                int n = m.layerCount();
                assertEquals(5, n);
                int onGpu = layers < 0 || layers > n ? n : layers;
                assertEquals(onGpu, m.gpuLayers(), "layers on the GPU for gpuLayers " + layers);
                assertEquals(onGpu == n ? "fakegpu" : onGpu == 0 ? "java" : "fakegpu+java", m.backendName());
                if (onGpu > 0) {                                   // the right weights went to the "GPU"
                    List<String> names = FakeGpuBackend.created().get(FakeGpuBackend.created().size() - 1).weightNames();
                    for (int l = 0; l < n; l++) {
                        String prefix = "blk." + l + ".";
                        assertEquals(l < onGpu ? 9 : 0, names.stream().filter(x -> x.startsWith(prefix)).count(),
                                "weights of layer " + l + " on the GPU with gpuLayers " + layers);
                    }
                    assertEquals(onGpu == n, names.contains("token_embd.weight"), "embedding on the GPU only when all is");
                    assertEquals(onGpu == n, names.contains("output_norm.weight"), "output on the GPU only when all is");
                }
                float[][] got = logits(m);
                for (int r = 0; r < want.length; r++) {
                    assertArrayEquals(want[r], got[r], "gpuLayers " + layers + ", row " + r);
                }
                // decode steps with a KV cache on both sides: the greedy continuation of the Java-only model
                Generator g = m.generator(GenerationOptions.builder().maxTokens(20).build());
                assertEquals(javaContinuation(), g.generate("Once upon a time"), "gpuLayers " + layers);
            }
        }
    }

    private static String javaContinuation;

    private static synchronized String javaContinuation() {
        if (javaContinuation == null) {
            try (Model m = Model.load(stories(), ModelOptions.defaults().withBackend("java"))) {
                javaContinuation = m.generator(GenerationOptions.builder().maxTokens(20).build()).generate("Once upon a time");
            }
        }
        return javaContinuation;
    }

    @Test
    void autoPrefersTheGpuAndHonoursGpuLayersZero() {
        FakeGpuBackend.enable(BIG);
        try (Model m = Model.load(stories())) {
            assertEquals("fakegpu", m.backendName());
        }
        try (Model m = Model.load(stories(), ModelOptions.defaults().withGpuLayers(2))) {
            assertEquals("fakegpu+java", m.backendName());
            assertTrue(m.backendDescription().contains("layers 0-1 (2 of 5)"), m.backendDescription());
        }
        try (Model m = Model.load(stories(), ModelOptions.defaults().withGpuLayers(0))) {
            assertEquals("java", m.backendName());
        }
    }

    @Test
    void outOfMemoryWithAnExplicitBackendThrowsAndFreesEverything() {
        FakeGpuBackend.enable(400_000);            // stories260K's weights are ~1 MB
        GpuOutOfMemoryException e = assertThrows(GpuOutOfMemoryException.class,
                () -> Model.load(stories(), ModelOptions.defaults().withBackend("fakegpu")));
        assertTrue(e.requestedBytes() > 0 && e.freeBytes() >= 0 && e.totalBytes() == 400_000, e.getMessage());
        assertTrue(e.getMessage().contains("--gpu-layers"), e.getMessage());
        assertCleanedUp();
        // the same model loads with fewer layers on the GPU, and the JVM's backends still work
        try (Model m = Model.load(stories(), ModelOptions.defaults().withBackend("fakegpu").withGpuLayers(1))) {
            assertEquals("fakegpu+java", m.backendName());
            assertEquals(javaContinuation(), m.generator(GenerationOptions.builder().maxTokens(20).contextLength(64).build())
                    .generate("Once upon a time"));
        }
    }

    @Test
    void outOfMemoryWithAutoFallsBackAndSaysWhy() {
        FakeGpuBackend.enable(400_000);
        List<LogRecord> records = new ArrayList<>();
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                records.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        Logger log = Logger.getLogger("io.llmj");
        log.addHandler(h);
        try (Model m = Model.load(stories())) {
            assertEquals("java", m.backendName());
        } finally {
            log.removeHandler(h);
        }
        assertCleanedUp();
        assertTrue(records.stream().anyMatch(r -> r.getLevel() == java.util.logging.Level.WARNING
                && r.getMessage().contains("failed") && String.valueOf(List.of(r.getParameters())).contains("out of memory")),
                "a warning saying the GPU ran out of memory: " + records.stream().map(LogRecord::getMessage).toList());
        assertTrue(records.stream().anyMatch(r -> r.getLevel() == java.util.logging.Level.INFO
                && String.valueOf(List.of(r.getParameters())).contains("'fakegpu' passed over")),
                "the choice logged with the reason the GPU was passed over");
    }

    @Test
    void outOfMemoryForTheKvCacheLeavesTheModelUsable() {
        FakeGpuBackend.enable(1_400_000);          // the weights fit, a 256-position cache does not
        try (Model m = Model.load(stories(), ModelOptions.defaults().withBackend("fakegpu"))) {
            FakeGpuBackend gpu = FakeGpuBackend.created().get(0);
            long weights = gpu.bytesInUse();
            assertThrows(GpuOutOfMemoryException.class,
                    () -> m.generator(GenerationOptions.builder().contextLength(256).maxTokens(4).build()).generate("Once"));
            assertEquals(weights, gpu.bytesInUse(), "the failed state's buffers are freed");
            assertNotNull(m.logits(new int[] {1, 2, 3}, false));
            assertEquals(weights, gpu.bytesInUse());
        }
    }

    @Test
    void progressIsReportedUpToTheTotal() {
        List<LoadProgress> seen = new ArrayList<>();
        try (Model m = Model.load(stories(), ModelOptions.defaults().withBackend("java").withProgress(seen::add))) {
            assertEquals("java", m.backendName());
        }
        assertTrue(seen.size() > 10, "one report per tensor: " + seen.size());
        for (int i = 1; i < seen.size(); i++) {
            assertTrue(seen.get(i).bytesDone() >= seen.get(i - 1).bytesDone(), "bytes done never decrease");
        }
        LoadProgress last = seen.get(seen.size() - 1);
        assertTrue(last.done() && last.bytesDone() == last.bytesTotal() && last.bytesTotal() > 900_000, last.toString());
        assertEquals(1, seen.stream().filter(LoadProgress::done).count());
    }

    private static void assertCleanedUp() {
        List<FakeGpuBackend> made = FakeGpuBackend.created();
        assertTrue(!made.isEmpty(), "the fake GPU was tried");
        for (FakeGpuBackend b : made) {
            assertTrue(b.isClosed(), "backend closed after the failed load");
            assertEquals(0, b.bytesInUse(), "nothing left allocated");
        }
    }
}
