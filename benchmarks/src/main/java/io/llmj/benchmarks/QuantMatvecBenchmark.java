package io.llmj.benchmarks;

import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.cpu.NativeCpu;
import io.llmj.ffm.cpu.NativeCpuBackend;
import io.llmj.ffm.cpu.NativeThreadPool;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormat;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.AuxCounters;
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
 * Batch-1 matrix-vector throughput per weight type, kernel level and thread count, as bytes of
 * weights read per second (the {@code bytes} counter, in bytes/s), next to {@code streamRead}: the
 * memory read bandwidth of the same threads in the same run (a plain streaming read of a buffer of
 * the same size). Weight copies are rotated so that at least 512 MiB is cycled through and the
 * caches do not hold the matrix. Run:
 * {@code java -jar benchmarks/target/llmj-benchmarks.jar QuantMatvec -p type=Q4_0,Q8_0 -p isa=avx512 -p threads=2}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 2)
@Fork(value = 1, jvmArgsAppend = "--enable-native-access=ALL-UNNAMED")
public class QuantMatvecBenchmark {

    @Param({"F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
            "IQ4_NL", "IQ4_XS"})
    public String type;

    @Param({"avx512", "avx2", "scalar"})
    public String isa;

    @Param({"1", "2"})
    public int threads;

    /** Rows x cols of each weight copy (llama-1b's ffn_up is 8192 x 2048). */
    @Param({"8192"})
    public int rows;

    @Param({"2048"})
    public int cols;

    private static final long CYCLE_BYTES = 512L << 20;

    private Arena arena;
    private NativeCpuBackend backend;
    private NativeThreadPool pool;
    private GgmlType ggml;
    private MemorySegment[] copies;
    private MemorySegment x;
    private MemorySegment y;
    private MemorySegment checksum;
    private long matrixBytes;
    private int next;

    /** Bytes of weights (or of the buffer, for streamRead) read; JMH reports it per second. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Bytes {
        public long bytes;
    }

    @Setup(Level.Trial)
    public void setUp() {
        NativeCpu.Isa level = NativeCpu.Isa.parse(isa);
        if (level.ordinal() > NativeCpu.bestIsa().ordinal()) {
            throw new IllegalStateException("this CPU has no " + isa);
        }
        NativeCpu.setIsa(level);
        ggml = GgmlType.valueOf(type);
        QuantFormat f = QuantFormats.require(ggml);
        arena = Arena.ofShared();
        long rowBytes = ggml.byteSize(cols);
        matrixBytes = rowBytes * rows;
        // one quantized random row, replicated: realistic block contents without quantizing 512 MiB in Java
        SplittableRandom rnd = new SplittableRandom(1);
        float[] src = new float[cols];
        for (int i = 0; i < cols; i++) {
            src[i] = (float) rnd.nextGaussian();
        }
        MemorySegment row = arena.allocate(rowBytes, 64);
        f.quantize(src, 0, cols, row, 0);
        int n = (int) Math.max(1, CYCLE_BYTES / matrixBytes);
        copies = new MemorySegment[n];
        for (int c = 0; c < n; c++) {
            copies[c] = arena.allocate(matrixBytes, 4096);
            for (int r = 0; r < rows; r++) {
                MemorySegment.copy(row, 0, copies[c], r * rowBytes, rowBytes);
            }
        }
        x = arena.allocate(4L * cols, 64);
        for (int i = 0; i < cols; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextGaussian());
        }
        y = arena.allocate(4L * rows, 64);
        checksum = arena.allocate(8);
        backend = new NativeCpuBackend(threads);
        pool = new NativeThreadPool(threads);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        backend.close();
        pool.close();
        arena.close();
        NativeCpu.setIsa(NativeCpu.Isa.AUTO);
    }

    @Benchmark
    public MemorySegment matvec(Bytes counter) {
        MemorySegment w = copies[next];
        next = next + 1 == copies.length ? 0 : next + 1;
        backend.matvec(ggml, w, ggml.byteSize(cols), x, y, rows, cols);
        counter.bytes += matrixBytes;
        return y;
    }

    @Benchmark
    public MemorySegment streamRead(Bytes counter) {
        MemorySegment w = copies[next];
        next = next + 1 == copies.length ? 0 : next + 1;
        NativeStatus.check(Llmj.llmj_memory_read(pool.handle(), w, matrixBytes, checksum), "llmj_memory_read");
        counter.bytes += matrixBytes;
        return checksum;
    }
}
