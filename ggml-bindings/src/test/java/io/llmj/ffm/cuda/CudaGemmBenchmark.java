package io.llmj.ffm.cuda;

import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.cuda.CudaBackend.DeviceBuffer;
import io.llmj.ffm.cuda.CudaBackend.DeviceWeight;
import io.llmj.ffm.cuda.CudaBackend.Gemm;
import io.llmj.ffm.cuda.CudaBackend.GemmPath;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormat;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Prefill matmul timings on the device (run with {@code -Dllmj.bench=true}): the cuBLAS path at n = 512
 * for a 7B llama layer's shapes with F16 weights, in TFLOP/s (2·rows·cols·n per call, activation
 * conversion included), against the per-token kernels; and the batch size from which the GEMM wins
 * (4096 x 4096, per weight type), which {@link CudaBackend#GEMM_MIN_TOKENS} is chosen from.
 */
@EnabledIfSystemProperty(named = "llmj.bench", matches = "true")
class CudaGemmBenchmark {

    private static DeviceWeight weight(GgmlType type, int rows, int cols, long seed) {
        QuantFormat f = QuantFormats.require(type);
        long rowBytes = type.byteSize(cols);
        int chunkRows = (int) Math.max(1, Math.min(rows, (8L << 20) / rowBytes));
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[chunkRows * cols];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) (r.nextGaussian() * 0.02);
        }
        DeviceBuffer buf = new DeviceBuffer((long) rows * cols, rowBytes * rows, type);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment host = a.allocate(rowBytes * chunkRows, 64);
            for (int row = 0; row < chunkRows; row++) {
                f.quantize(v, row * cols, cols, host, row * rowBytes);
            }
            for (int row = 0; row < rows; row += chunkRows) {
                long bytes = rowBytes * Math.min(chunkRows, rows - row);
                Cuda.check(CudaRuntime.cudaMemcpy(buf.at(row * rowBytes), host, bytes, CudaRuntime.cudaMemcpyHostToDevice()),
                        "cudaMemcpy");
            }
        }
        return new DeviceWeight(type + "[" + rows + "x" + cols + "]", type, rows, cols, rowBytes, buf);
    }

    /** Seconds per call, best of 3 rounds of timed repetitions after a warm-up. */
    private static double time(Runnable call) {
        for (int i = 0; i < 3; i++) {
            call.run();
        }
        Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "sync");
        double best = Double.MAX_VALUE;
        for (int round = 0; round < 3; round++) {
            int reps = 0;
            long t0 = System.nanoTime();
            long t;
            do {
                call.run();
                reps++;
                if (reps % 5 == 0) {
                    Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "sync");
                }
                t = System.nanoTime();
            } while (reps < 10 || t - t0 < 50_000_000L);
            Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "sync");
            best = Math.min(best, (System.nanoTime() - t0) / 1e9 / reps);
        }
        return best;
    }

    @Test
    void prefillShapes() {
        Assumptions.assumeTrue(Cuda.unavailableReason() == null, Cuda::unavailableReason);
        System.out.println("[bench] device: " + Cuda.devices().get(0));
        int n = 512;
        int[][] shapes = {{4096, 4096}, {11008, 4096}, {4096, 11008}, {32000, 4096}};
        try (CudaBackend auto = new CudaBackend(0, Gemm.AUTO, 2); CudaBackend off = new CudaBackend(0, Gemm.OFF, 2)) {
            for (int[] s : shapes) {
                int rows = s[0];
                int cols = s[1];
                DeviceWeight w = weight(GgmlType.F16, rows, cols, rows * 31L + cols);
                try (var x = auto.allocate((long) n * cols); var y = auto.allocate((long) n * rows);
                     DeviceBuffer xh = new DeviceBuffer(2L * n * cols)) {
                    float[] xs = new float[n * cols];
                    SplittableRandom r = new SplittableRandom(7);
                    for (int i = 0; i < xs.length; i++) {
                        xs[i] = (float) r.nextGaussian();
                    }
                    auto.write(x, 0, xs, 0, xs.length);
                    if (auto.gemmPath(w, n) != GemmPath.F16) {
                        throw new AssertionError("expected the F16 GEMM path, got " + auto.gemmPath(w, n));
                    }
                    double flop = 2.0 * rows * cols * n;
                    double tg = time(() -> auto.matmul(w, x, n, y));
                    double tc = time(() -> NativeStatus.check(LlmjCuda.llmj_cuda_convert_f32(((DeviceBuffer) x).ptr, xh.ptr,
                            GgmlType.F16.id(), (long) n * cols, MemorySegment.NULL), "convert"));
                    String line = String.format("[bench] F16 %5dx%-5d n=%d  gemm %8.1f us  %6.1f TFLOP/s  (activation"
                            + " conversion %.1f us, GEMM alone %.1f TFLOP/s)", rows, cols, n, tg * 1e6, flop / tg / 1e12,
                            tc * 1e6, flop / (tg - tc) / 1e12);
                    if (rows == 4096 && cols == 4096) {
                        double te = time(() -> off.matmul(w, x, n, y));
                        line += String.format("; per-token kernels %.1f us, %.2f TFLOP/s, %.0fx slower", te * 1e6,
                                flop / te / 1e12, te / tg);
                    }
                    System.out.println(line);
                } finally {
                    w.data().close();
                }
            }
        }
    }

    @Test
    void crossover() {
        Assumptions.assumeTrue(Cuda.unavailableReason() == null, Cuda::unavailableReason);
        int rows = 4096;
        int cols = 4096;
        int[] ns = {1, 2, 4, 8, 16, 32, 64};
        try (CudaBackend auto = new CudaBackend(0, Gemm.AUTO, 1); CudaBackend off = new CudaBackend(0, Gemm.OFF, 1);
             var x = auto.allocate(64L * cols); var y = auto.allocate(64L * rows)) {
            float[] xs = new float[64 * cols];
            SplittableRandom r = new SplittableRandom(3);
            for (int i = 0; i < xs.length; i++) {
                xs[i] = (float) r.nextGaussian();
            }
            auto.write(x, 0, xs, 0, xs.length);
            for (GgmlType t : new GgmlType[] {GgmlType.F16, GgmlType.BF16, GgmlType.F32, GgmlType.Q8_0, GgmlType.Q4_0}) {
                DeviceWeight w = weight(t, rows, cols, t.id());
                try {
                    StringBuilder sb = new StringBuilder(String.format("[bench] crossover %-4s %dx%d, us per call (kernels / gemm):",
                            t, rows, cols));
                    for (int n : ns) {
                        double te = time(() -> off.matmul(w, x, n, y));
                        String g = "-";
                        if (auto.gemmPath(w, n) != GemmPath.EXACT) {
                            g = String.format("%.1f", time(() -> auto.matmul(w, x, n, y)) * 1e6);
                        }
                        sb.append(String.format("  n=%d %.1f/%s", n, te * 1e6, g));
                    }
                    System.out.println(sb);
                } finally {
                    w.data().close();
                }
            }
        }
    }
}
