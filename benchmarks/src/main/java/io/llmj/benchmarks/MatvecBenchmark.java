package io.llmj.benchmarks;

import io.llmj.backend.Backend;
import io.llmj.backend.JavaBackend;
import io.llmj.ffm.cpu.NativeCpu;
import io.llmj.ffm.cpu.NativeCpuBackend;
import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Single-threaded matrix-vector product, per weight type and kernel: the native kernels at each ISA
 * level and the Java reference. Divide the weight bytes (rows x cols x element size) by the time per
 * operation for GB/s. Run: {@code java -jar benchmarks/target/llmj-benchmarks.jar Matvec}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class MatvecBenchmark {

    @Param({"F32", "F16"})
    public String type;

    @Param({"avx512", "avx2", "scalar", "java"})
    public String kernel;

    @Param({"2048"})
    public int rows;

    @Param({"2048"})
    public int cols;

    private Arena arena;
    private Backend backend;
    private GgmlType ggmlType;
    private MemorySegment w;
    private MemorySegment x;
    private MemorySegment y;
    private long rowBytes;

    @Setup(Level.Trial)
    public void setUp() {
        ggmlType = GgmlType.valueOf(type);
        arena = Arena.ofShared();
        rowBytes = ggmlType.byteSize(cols);
        w = arena.allocate(rowBytes * rows, 64);
        x = arena.allocate(4L * cols, 64);
        y = arena.allocate(4L * rows, 64);
        SplittableRandom rnd = new SplittableRandom(1);
        for (long i = 0; i < (long) rows * cols; i++) {
            float v = (float) rnd.nextDouble(-1, 1);
            if (ggmlType == GgmlType.F32) {
                w.setAtIndex(ValueLayout.JAVA_FLOAT, i, v);
            } else {
                w.setAtIndex(ValueLayout.JAVA_SHORT, i, Float16.fromFloat(v));
            }
        }
        for (int i = 0; i < cols; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble(-1, 1));
        }
        if (kernel.equals("java")) {
            backend = new JavaBackend();
        } else {
            NativeCpu.Isa isa = NativeCpu.Isa.parse(kernel);
            if (isa.ordinal() > NativeCpu.bestIsa().ordinal()) {
                throw new IllegalStateException("this CPU has no " + kernel + " (best: " + NativeCpu.bestIsa() + ")");
            }
            NativeCpu.setIsa(isa);
            backend = new NativeCpuBackend();
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public MemorySegment matvec() {
        backend.matvec(ggmlType, w, rowBytes, x, y, rows, cols);
        return y;
    }
}
