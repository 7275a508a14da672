package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.GenerationOptions;
import io.llmj.GpuOutOfMemoryException;
import io.llmj.LoadProgress;
import io.llmj.Model;
import io.llmj.ModelOptions;
import io.llmj.arch.Forward;
import io.llmj.arch.Forwards;
import io.llmj.arch.HfTinyReference;
import io.llmj.arch.ModelConfig;
import io.llmj.arch.Placement;
import io.llmj.arch.StoriesReference;
import io.llmj.arch.TensorSource;
import io.llmj.backend.Backend;
import io.llmj.ffm.cpu.NativeCpuBackend;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.testing.TestData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Nested;
import org.junit.jupiter.api.Test;

/**
 * The GPU/CPU split for real: the reference tests with the first layers on CUDA and the rest on the
 * native CPU backend (split after layer 1 and before the last), {@code withGpuLayers} through the
 * public API, and a device that runs out of memory. Skipped where CUDA is unusable.
 */
class CudaSplitTest {
    private static CudaBackend cuda;
    private static final NativeCpuBackend CPU = new NativeCpuBackend(2);

    static synchronized CudaBackend cuda() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
        if (cuda == null) {
            // the exact per-token kernels: the reference tolerances are float32 ones (CudaGemmModelsTest covers the GEMM)
            cuda = new CudaBackend(0, CudaBackend.Gemm.OFF);
        }
        return cuda;
    }

    static Forward split(ModelConfig c, TensorSource src, int nFirst) {
        assertTrue(nFirst > 0 && nFirst < c.nLayers());
        return Forwards.create(c, src, Placement.split(cuda(), nFirst, CPU, c.nLayers()));
    }

    @AfterAll
    static void close() {
        if (cuda != null) {
            cuda.close();
        }
        CPU.close();
    }

    @Nested
    class StoriesAfterLayer1 extends StoriesReference {
        @Override
        protected Backend backend() {
            return cuda();
        }

        @Override
        protected Forward forward(ModelConfig c, TensorSource src) {
            return split(c, src, 1);
        }
    }

    @Nested
    class StoriesBeforeLastLayer extends StoriesReference {
        @Override
        protected Backend backend() {
            return cuda();
        }

        @Override
        protected Forward forward(ModelConfig c, TensorSource src) {
            return split(c, src, c.nLayers() - 1);
        }
    }

    @Nested
    class HfTinyAfterLayer1 extends HfTinyReference {
        @Override
        protected Backend backend() {
            return cuda();
        }

        @Override
        protected Forward forward(ModelConfig c, TensorSource src) {
            return split(c, src, 1);
        }
    }

    @Nested
    class HfTinyBeforeLastLayer extends HfTinyReference {
        @Override
        protected Backend backend() {
            return cuda();
        }

        @Override
        protected Forward forward(ModelConfig c, TensorSource src) {
            return split(c, src, c.nLayers() - 1);
        }
    }

    @Test
    void gpuLayersThroughThePublicApi() {
        cuda();
        var path = TestData.require("models/stories260K.gguf");
        String want;
        try (Model m = Model.load(path, ModelOptions.defaults().withBackend("cpu").withThreads(2))) {
            want = m.generator(GenerationOptions.builder().maxTokens(24).build()).generate("Once upon a time");
        }
        List<LoadProgress> progress = new ArrayList<>();
        try (Model m = Model.load(path, ModelOptions.defaults().withBackend("cuda").withGpuLayers(2).withProgress(progress::add))) {
            assertEquals("cuda+cpu", m.backendName());
            assertEquals(2, m.gpuLayers());
            assertEquals(want, m.generator(GenerationOptions.builder().maxTokens(24).build()).generate("Once upon a time"));
        }
        assertTrue(progress.get(progress.size() - 1).done());
        try (Model m = Model.load(path, ModelOptions.defaults().withBackend("cuda:0"))) {
            assertEquals("cuda", m.backendName());
            assertEquals(m.layerCount(), m.gpuLayers());
        }
        try (Model m = Model.load(path, ModelOptions.defaults().withBackend("cuda").withGpuLayers(0))) {
            assertEquals("cpu", m.backendName());
        }
        assertThrows(io.llmj.BackendUnavailableException.class,
                () -> Model.load(path, ModelOptions.defaults().withBackend("cuda").withDevice(Cuda.devices().size())));
    }

    /**
     * Fills the device until a model no longer fits, then asks for every layer: the explicit backend
     * throws {@link GpuOutOfMemoryException} with the sizes, frees what it took (free memory is back to
     * where it was), "auto" falls back to the CPU, and fewer GPU layers load.
     */
    @Test
    void outOfMemoryIsTypedAndCleanedUp() {
        cuda();
        var path = TestData.require("models/stories260K.gguf");   // ~1.2 MB of weights
        List<MemorySegment> hogs = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            // leave less than the model's weights free (allocate in 64 MiB, then 256 KiB steps)
            for (long step : new long[] {64L << 20, 256L << 10}) {
                while (CudaRuntime.cudaMalloc(p, step) == CudaRuntime.cudaSuccess()) {
                    hogs.add(p.get(ValueLayout.ADDRESS, 0));
                }
                CudaRuntime.cudaGetLastError();
            }
            // give back ~512 KiB: room for some layers, not all
            for (int i = 0; i < 2 && !hogs.isEmpty(); i++) {
                CudaRuntime.cudaFree(hogs.remove(hogs.size() - 1));
            }
            long before = free(a);
            GpuOutOfMemoryException e = assertThrows(GpuOutOfMemoryException.class,
                    () -> Model.load(path, ModelOptions.defaults().withBackend("cuda")));
            // a buffer of known size, or (requestedBytes 0) the backend's stream, whose size the driver decides
            assertTrue((e.requestedBytes() > 0 || e.getMessage().contains("the backend's stream")) && e.totalBytes() > 0
                    && e.getMessage().contains("--gpu-layers"), e.getMessage());
            assertEquals(before, free(a), "everything the failed load allocated is freed");
            try (Model m = Model.load(path)) {
                assertEquals("cpu", m.backendName(), "auto falls back to the CPU");
            }
            assertEquals(before, free(a));
            // with a little more room (a CUDA stream of its own needs some: seen on the H100, 512 KiB was not
            // enough for it), the same JVM loads the model again, one layer on the GPU
            for (int i = 0; i < 32 && !hogs.isEmpty(); i++) {
                CudaRuntime.cudaFree(hogs.remove(hogs.size() - 1));     // 32 x 256 KiB
            }
            try (Model m = Model.load(path, ModelOptions.defaults().withBackend("cuda").withGpuLayers(1))) {
                assertEquals("cuda+cpu", m.backendName());
                assertTrue(m.generator(GenerationOptions.builder().maxTokens(4).contextLength(32).build())
                        .generate("Once upon a time").length() > 0);
            }
        } finally {
            hogs.forEach(CudaRuntime::cudaFree);
        }
    }

    private static long free(Arena a) {
        MemorySegment f = a.allocate(ValueLayout.JAVA_LONG);
        MemorySegment t = a.allocate(ValueLayout.JAVA_LONG);
        Cuda.check(CudaRuntime.cudaMemGetInfo(f, t), "cudaMemGetInfo");
        return f.get(ValueLayout.JAVA_LONG, 0);
    }

    @Test
    void uploadOfLargeTensorsCrossesStagingBuffers() {
        CudaBackend b = cuda();
        // 3.5 staging chunks of F32 with an awkward tail: every chunk boundary must land right
        int cols = 1000;
        int rows = (int) ((PinnedUploader.CHUNK * 7 / 2) / (4L * cols)) + 3;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(4L * cols * rows, 64);
            for (long i = 0; i < (long) cols * rows; i++) {
                host.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (i % 9973));
            }
            var w = b.weight("big", io.llmj.quant.GgmlType.F32, new long[] {cols, rows}, host);
            var small = b.weight("small", io.llmj.quant.GgmlType.F32, new long[] {cols}, host.asSlice(4, 4L * cols));
            b.finishLoading();
            int[] ids = {0, rows / 2, rows - 1};
            var out = b.allocate((long) ids.length * cols);
            b.embed(w, ids, 1f, out);
            float[] got = new float[ids.length * cols];
            b.read(out, 0, got, 0, got.length);
            float[] want = new float[got.length];
            for (int t = 0; t < ids.length; t++) {
                for (int c = 0; c < cols; c++) {
                    want[t * cols + c] = (float) (((long) ids[t] * cols + c) % 9973);
                }
            }
            assertArrayEquals(want, got);
            out.close();
            assertEquals(1, small.rows());
        }
    }
}
