package io.llmj.ffm.cpu;

import io.llmj.backend.Backend;
import io.llmj.backend.BackendProvider;
import io.llmj.backend.HostBackend;
import io.llmj.backend.Op;
import io.llmj.ffm.NativeLibraries;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The native CPU backend: C kernels in libllmj.so (scalar / AVX2 / AVX-512, chosen at run time) for the
 * products; ops without a native kernel yet run in {@link HostBackend}'s Java code.
 */
public final class NativeCpuBackend extends HostBackend {

    public NativeCpuBackend() {
        NativeCpu.init();
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public boolean supports(Op op, GgmlType type) {
        return type == GgmlType.F32 || type == GgmlType.F16 || (op == Op.EMBED && type == GgmlType.BF16);
    }

    @Override
    public void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y, int rows, int cols) {
        if (!supports(Op.MATVEC, type)) {
            throw new UnsupportedOperationException("cpu backend: matvec for " + type + " is not implemented");
        }
        Backend.checkMatvec(type, w, rowBytes, x, y, rows, cols);
        if (w.isNative() && x.isNative() && y.isNative()) {
            NativeStatus.check(Llmj.llmj_matvec(type.id(), w, rowBytes, x, y, rows, cols), "llmj_matvec");
            return;
        }
        // heap segments cannot be passed to native code: stage them off-heap
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment wn = w.isNative() ? w : arena.allocate(w.byteSize(), 64).copyFrom(w);
            MemorySegment xn = x.isNative() ? x : arena.allocate(x.byteSize(), 64).copyFrom(x);
            MemorySegment yn = y.isNative() ? y : arena.allocate(4L * rows, 64);
            NativeStatus.check(Llmj.llmj_matvec(type.id(), wn, rowBytes, xn, yn, rows, cols), "llmj_matvec");
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
