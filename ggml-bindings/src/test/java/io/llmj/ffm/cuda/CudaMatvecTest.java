package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llmj.backend.JavaBackend;
import io.llmj.ffm.MatvecCases;
import io.llmj.ffm.MatvecCases.Case;
import io.llmj.ffm.MatvecCases.Data;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormat;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
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

    static Stream<Arguments> kQuantCases() {
        List<Arguments> list = new ArrayList<>();
        for (GgmlType t : new GgmlType[] {GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
                GgmlType.IQ4_XS}) {
            for (int[] c : new int[][] {{1, 256, 0, 1}, {7, 768, 0, 3}, {33, 4096, 0, 1}, {33, 768, 6, 1}, {5, 512, 1, 5}}) {
                list.add(Arguments.of(t, c[0], c[1], c[2], c[3]));
            }
        }
        return list.stream();
    }

    /**
     * K-quant weights (Java reference quantizers) through llmj_cuda_matmul, n tokens, row stride padded by
     * {@code pad} bytes (odd pads take the unaligned load path), against {@link JavaBackend#matvec} per
     * token (the same Q8_K activations and exact block sums; only the float summation order differs).
     * Tolerance: {@code 1e-6 + 2e-5 * sum_c |W[r,c] x[c]|}; guard bands around y must stay untouched.
     */
    @ParameterizedTest(name = "{0} rows={1} cols={2} pad={3} n={4}")
    @MethodSource("kQuantCases")
    void kQuantsMatchJavaReference(GgmlType type, int rows, int cols, int pad, int n) {
        QuantFormat f = QuantFormats.require(type);
        SplittableRandom rnd = new SplittableRandom(type.id() * 1000003L + rows * 31L + cols + pad);
        long rowBytes = type.byteSize(cols) + pad;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate(rowBytes * rows, 64);
            float[] wf = new float[cols];
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < cols; i++) {
                    wf[i] = (float) (rnd.nextGaussian() * 0.5);
                }
                f.quantize(wf, 0, cols, w, r * rowBytes);
            }
            float[] x = new float[n * cols];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) rnd.nextDouble(-1, 1);
            }
            MemorySegment xs = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
            float[] ref = new float[n * rows];
            double[] tol = new double[n * rows];
            JavaBackend jb = new JavaBackend();
            MemorySegment yr = arena.allocate(4L * rows);
            float[] wrow = new float[cols];
            for (int t = 0; t < n; t++) {
                jb.matvec(type, w, rowBytes, xs.asSlice(4L * t * cols, 4L * cols), yr, rows, cols);
                for (int r = 0; r < rows; r++) {
                    ref[t * rows + r] = yr.getAtIndex(ValueLayout.JAVA_FLOAT, r);
                    f.dequantize(w, r * rowBytes, wrow, 0, cols);
                    double mag = 0;
                    for (int i = 0; i < cols; i++) {
                        mag += Math.abs((double) wrow[i] * x[t * cols + i]);
                    }
                    tol[t * rows + r] = 1e-6 + 2e-5 * mag;
                }
            }
            MemorySegment hostY = Data.guarded(arena, n * rows);
            long work = LlmjCuda.llmj_cuda_matmul_work_size(type.id(), cols, n);
            assertEquals(true, work > 0, "work size for " + type);
            try (CudaBackend.DeviceBuffer dw = new CudaBackend.DeviceBuffer(w.byteSize());
                 CudaBackend.DeviceBuffer dx = new CudaBackend.DeviceBuffer(xs.byteSize());
                 CudaBackend.DeviceBuffer dy = new CudaBackend.DeviceBuffer(hostY.byteSize());
                 CudaBackend.DeviceBuffer dwork = new CudaBackend.DeviceBuffer(work)) {
                dw.upload(w);
                dx.upload(xs);
                dy.upload(hostY);
                MemorySegment yAt = MemorySegment.ofAddress(dy.ptr.address() + 4L * MatvecCases.GUARD);
                NativeStatus.check(LlmjCuda.llmj_cuda_matmul(type.id(), dw.ptr, rowBytes, dx.ptr, yAt, rows, cols, n,
                        dwork.ptr, work, MemorySegment.NULL), "llmj_cuda_matmul");
                Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
                dy.download(hostY);
            }
            for (int i = 0; i < MatvecCases.GUARD; i++) {
                assertEquals(Float.floatToRawIntBits(MatvecCases.SENTINEL),
                        Float.floatToRawIntBits(hostY.getAtIndex(ValueLayout.JAVA_FLOAT, i)), "guard before y");
                assertEquals(Float.floatToRawIntBits(MatvecCases.SENTINEL), Float.floatToRawIntBits(
                        hostY.getAtIndex(ValueLayout.JAVA_FLOAT, MatvecCases.GUARD + n * rows + i)), "guard after y");
            }
            for (int i = 0; i < n * rows; i++) {
                float got = hostY.getAtIndex(ValueLayout.JAVA_FLOAT, MatvecCases.GUARD + i);
                int row = i % rows;
                int tok = i / rows;
                assertEquals(true, Math.abs(got - ref[i]) <= tol[i],
                        "token " + tok + " row " + row + ": got " + got + ", reference " + ref[i] + ", tolerance " + tol[i]);
            }
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
