package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llmj.ffm.MatvecCases;
import io.llmj.ffm.MatvecCases.Case;
import io.llmj.ffm.MatvecCases.Data;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The CUDA matvec kernel through the generated bindings (cudart + llmj_cuda_matvec) against the
 * Java reference, with guard bands in device memory. Skipped, with the reason, where CUDA is unusable.
 */
class CudaMatvecTest {

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        System.out.println("[cuda] " + (why == null ? "devices: " + Cuda.devices() : "skipping GPU tests: " + why));
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    static List<Case> cases() {
        return MatvecCases.all();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void matchesJavaReference(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            Data d = new Data(arena, c, 42);
            MemorySegment hostY = Data.guarded(arena, c.rows());
            long wBytes = c.rowBytes() * c.rows();
            try (CudaBackend.DeviceBuffer dw = new CudaBackend.DeviceBuffer(wBytes);
                 CudaBackend.DeviceBuffer dx = new CudaBackend.DeviceBuffer(4L * c.cols());
                 CudaBackend.DeviceBuffer dy = new CudaBackend.DeviceBuffer(hostY.byteSize())) {
                dw.upload(d.w);
                dx.upload(d.x);
                dy.upload(hostY);   // sentinels into the device guard bands
                MemorySegment yAt = MemorySegment.ofAddress(dy.ptr.address() + 4L * MatvecCases.GUARD);
                NativeStatus.check(LlmjCuda.llmj_cuda_matvec(c.type().id(), dw.ptr, c.rowBytes(), dx.ptr, yAt,
                        c.rows(), c.cols(), MemorySegment.NULL), "llmj_cuda_matvec");
                Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
                dy.download(hostY);
            }
            assertNull(d.compare(hostY, c.rows()), c::toString);
        }
    }

    @Test
    void backendMatchesReference() {
        try (Arena arena = Arena.ofConfined(); CudaBackend b = new CudaBackend()) {
            Case c = new Case(GgmlType.F16, 7, 1000);
            Data d = new Data(arena, c, 3);
            MemorySegment y = Data.guarded(arena, c.rows());
            b.matvec(c.type(), d.w, c.rowBytes(), d.x, y.asSlice(4L * MatvecCases.GUARD, 4L * c.rows()), c.rows(), c.cols());
            assertNull(d.compare(y, c.rows()));
        }
    }

    @Test
    void invalidArgumentsAreReportedNotCrashed() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NativeStatus.check(
                LlmjCuda.llmj_cuda_matvec(GgmlType.F32.id(), MemorySegment.NULL, 4, MemorySegment.NULL,
                        MemorySegment.NULL, 1, 1, MemorySegment.NULL), "llmj_cuda_matvec"));
        assertEquals(true, e.getMessage().contains("null device pointer"), e.getMessage());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
            Cuda.check(CudaRuntime.cudaRuntimeGetVersion(v), "cudaRuntimeGetVersion");
            assertEquals(13, v.get(ValueLayout.JAVA_INT, 0) / 1000);
        }
    }
}
