package io.llmj.ffm.cpu;

import io.llmj.backend.Backend;
import io.llmj.backend.BackendProvider;
import io.llmj.backend.Buffer;
import io.llmj.backend.HostBackend;
import io.llmj.backend.Op;
import io.llmj.backend.Weight;
import io.llmj.ffm.NativeLibraries;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.Set;

/**
 * The native CPU backend: C kernels in libllmj.so (scalar / AVX2 / AVX-512, chosen at run time) for the
 * matrix products; ops without a native kernel yet run in {@link HostBackend}'s Java code.
 *
 * <p>F32, F16 and BF16 weights use {@code llmj_matvec} (float32 activations, as transformers computes a
 * bfloat16 checkpoint in float32). The quantized types use {@code llmj_matvec_q} / {@code llmj_matmul_q},
 * which convert the activations to the weight type's {@code vec_dot_type} as ggml does (Q8_0, Q8_1 or
 * Q8_K), on a native thread pool of {@code llmj.cpu.threads} threads (default: available processors).
 */
public final class NativeCpuBackend extends HostBackend {
    /** System property: threads of the backend's native pool. */
    public static final String THREADS_PROPERTY = "llmj.cpu.threads";

    private static final Set<GgmlType> QUANTIZED = EnumSet.of(GgmlType.Q4_0, GgmlType.Q4_1,
            GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K,
            GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS);

    private final int threads;
    private NativeThreadPool pool;

    public NativeCpuBackend() {
        this(Integer.getInteger(THREADS_PROPERTY, Runtime.getRuntime().availableProcessors()));
    }

    /** A backend whose native pool has {@code threads} threads. */
    public NativeCpuBackend(int threads) {
        NativeCpu.init();
        if (threads <= 0) {
            throw new IllegalArgumentException("threads must be positive: " + threads);
        }
        this.threads = Math.min(256, threads);
    }

    private synchronized NativeThreadPool pool() {
        if (pool == null) {
            pool = new NativeThreadPool(threads);
        }
        return pool;
    }

    @Override
    public synchronized void close() {
        if (pool != null) {
            pool.close();
            pool = null;
        }
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public boolean supports(Op op, GgmlType type) {
        return type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16 || QUANTIZED.contains(type);
    }

    @Override
    public void matmul(Weight w, Buffer x, int n, Buffer out) {
        HostWeight hw = (HostWeight) w;
        if (!QUANTIZED.contains(hw.type())) {
            super.matmul(w, x, n, out);          // row by row through llmj_matvec
            return;
        }
        long workBytes = Llmj.llmj_matmul_work_size(hw.type().id(), hw.cols(), n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment work = arena.allocate(Math.max(1, workBytes), 64);
            synchronized (this) {
                NativeStatus.check(Llmj.llmj_matmul_q(pool().handle(), hw.type().id(), hw.data(), hw.rowBytes(),
                        seg(x), hw.cols(), seg(out), hw.rows(), hw.rows(), hw.cols(), n, work, workBytes),
                        "llmj_matmul_q(" + hw.name() + ")");
            }
        }
    }

    @Override
    public void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y, int rows, int cols) {
        if (!supports(Op.MATVEC, type)) {
            throw new UnsupportedOperationException("cpu backend: matvec for " + type + " is not implemented");
        }
        Backend.checkMatvec(type, w, rowBytes, x, y, rows, cols);
        // heap segments cannot be passed to native code: stage them off-heap
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment wn = w.isNative() ? w : arena.allocate(w.byteSize(), 64).copyFrom(w);
            MemorySegment xn = x.isNative() ? x : arena.allocate(x.byteSize(), 64).copyFrom(x);
            MemorySegment yn = y.isNative() ? y : arena.allocate(4L * rows, 64);
            if (QUANTIZED.contains(type)) {
                long workBytes = Llmj.llmj_matvec_work_size(type.id(), cols);
                MemorySegment work = arena.allocate(Math.max(1, workBytes), 64);
                synchronized (this) {
                    NativeStatus.check(Llmj.llmj_matvec_q(pool().handle(), type.id(), wn, rowBytes, xn, yn, rows, cols,
                            work, workBytes), "llmj_matvec_q");
                }
            } else {
                NativeStatus.check(Llmj.llmj_matvec(type.id(), wn, rowBytes, xn, yn, rows, cols), "llmj_matvec");
            }
            if (yn != y) {
                MemorySegment.copy(yn, 0, y, 0, 4L * rows);
            }
        }
    }

    /** Registers the backend with {@link java.util.ServiceLoader}. */
    public static final class Provider implements BackendProvider {
        @Override
        public String name() {
            return "cpu";
        }

        @Override
        public int priority() {
            return 10;
        }

        @Override
        public String unavailableReason() {
            NativeLibraries.Result r = NativeLibraries.cpuStatus();
            return r.ok() ? null : r.failure();
        }

        @Override
        public Backend create() {
            return new NativeCpuBackend();
        }
    }
}
