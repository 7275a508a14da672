package io.llmj.ffm.cuda;

import io.llmj.backend.Backend;
import io.llmj.backend.BackendProvider;
import io.llmj.backend.HostBackend;
import io.llmj.backend.Op;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The CUDA backend: hand-written kernels in libllmj_cuda.so, device memory managed through the
 * generated CUDA runtime bindings. So far only the matrix-vector product runs on the GPU, staging its
 * host operands through device memory per call; the other ops run in {@link HostBackend}'s Java code
 * until the device-resident forward pass (the CUDA backend issue) replaces this.
 */
public final class CudaBackend extends HostBackend {
    private final int device;

    /** Uses device 0. @throws io.llmj.BackendUnavailableException if CUDA is unusable here */
    public CudaBackend() {
        this(0);
    }

    /** Uses the given device index. */
    public CudaBackend(int device) {
        Cuda.require();
        if (device < 0 || device >= Cuda.devices().size()) {
            throw new IllegalArgumentException("no CUDA device #" + device + "; devices: " + Cuda.devices());
        }
        this.device = Cuda.devices().get(device).index();
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public boolean supports(Op op, GgmlType type) {
        return op == Op.MATVEC && (type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16);
    }

    @Override
    public void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y, int rows, int cols) {
        if (!supports(Op.MATVEC, type)) {
            throw new UnsupportedOperationException("cuda backend: matvec for " + type + " is not implemented");
        }
        Backend.checkMatvec(type, w, rowBytes, x, y, rows, cols);
        if (rows == 0) {
            return;
        }
        long wBytes = (rows - 1) * rowBytes + type.byteSize(cols);
        Cuda.check(CudaRuntime.cudaSetDevice(device), "cudaSetDevice");
        try (Arena arena = Arena.ofConfined(); DeviceBuffer dw = new DeviceBuffer(wBytes);
             DeviceBuffer dx = new DeviceBuffer(4L * cols); DeviceBuffer dy = new DeviceBuffer(4L * rows)) {
            dw.upload(stage(arena, w, wBytes));
            dx.upload(stage(arena, x, 4L * cols));
            NativeStatus.check(LlmjCuda.llmj_cuda_matvec(type.id(), dw.ptr, rowBytes, dx.ptr, dy.ptr, rows, cols,
                    MemorySegment.NULL), "llmj_cuda_matvec");
            MemorySegment out = y.isNative() ? y : arena.allocate(4L * rows);
            dy.download(out);
            Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "cudaDeviceSynchronize after llmj_cuda_matvec");
            if (out != y) {
                MemorySegment.copy(out, 0, y, 0, 4L * rows);
            }
        }
    }

    private static MemorySegment stage(Arena arena, MemorySegment s, long bytes) {
        MemorySegment src = s.asSlice(0, bytes);
        return src.isNative() ? src : arena.allocate(bytes, 64).copyFrom(src);
    }

    /** A cudaMalloc'ed buffer freed on close. */
    static final class DeviceBuffer implements AutoCloseable {
        final MemorySegment ptr;
        final long bytes;

        DeviceBuffer(long bytes) {
            this.bytes = bytes;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                Cuda.check(CudaRuntime.cudaMalloc(p, Math.max(bytes, 1)), "cudaMalloc(" + bytes + " bytes)");
                ptr = p.get(ValueLayout.ADDRESS, 0);
            }
        }

        void upload(MemorySegment host) {
            Cuda.check(CudaRuntime.cudaMemcpy(ptr, host, host.byteSize(), CudaRuntime.cudaMemcpyHostToDevice()),
                    "cudaMemcpy host->device");
        }

        void download(MemorySegment host) {
            Cuda.check(CudaRuntime.cudaMemcpy(host, ptr, Math.min(bytes, host.byteSize()),
                    CudaRuntime.cudaMemcpyDeviceToHost()), "cudaMemcpy device->host");
        }

        @Override
        public void close() {
            CudaRuntime.cudaFree(ptr);
        }
    }

    /** Registers the backend with {@link java.util.ServiceLoader}. */
    public static final class Provider implements BackendProvider {
        @Override
        public String name() {
            return "cuda";
        }

        @Override
        public int priority() {
            return 20;
        }

        @Override
        public String unavailableReason() {
            return Cuda.unavailableReason();
        }

        @Override
        public Backend create() {
            return new CudaBackend();
        }
    }
}
