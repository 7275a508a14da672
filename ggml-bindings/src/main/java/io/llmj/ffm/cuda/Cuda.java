package io.llmj.ffm.cuda;

import io.llmj.BackendUnavailableException;
import io.llmj.GpuOutOfMemoryException;
import io.llmj.ffm.NativeException;
import io.llmj.ffm.NativeLibraries;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.cuda.cudaDeviceProp;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/**
 * The CUDA runtime as llmj sees it: whether it is usable here, and if not exactly why (no
 * libcudart.so.13, no driver, no device, a GPU too old), the devices, and error checking.
 * The generated CUDA binding classes are only touched after {@link NativeLibraries#loadCuda()} succeeded.
 */
public final class Cuda {
    /** Oldest compute capability the shipped kernels run on (sm_80). */
    public static final int MIN_COMPUTE_CAPABILITY = 80;

    /** One CUDA device. */
    public record Device(int index, String name, long totalMemory, int major, int minor, int multiprocessors) {
        public int computeCapability() {
            return major * 10 + minor;
        }

        @Override
        public String toString() {
            return String.format("#%d %s, %.1f GiB, compute capability %d.%d, %d SMs", index, name,
                    totalMemory / (double) (1L << 30), major, minor, multiprocessors);
        }
    }

    private static final Object LOCK = new Object();
    private static String unavailable;     // null: not probed yet or available
    private static boolean probed;
    private static List<Device> devices = List.of();

    private Cuda() {}

    /** Null if CUDA can run llmj's kernels here, else a sentence saying why not. */
    public static String unavailableReason() {
        probe();
        return unavailable;
    }

    /** The usable devices (empty when CUDA is unavailable). */
    public static List<Device> devices() {
        probe();
        return devices;
    }

    /** @throws BackendUnavailableException with the reason if CUDA is not usable */
    public static void require() {
        String why = unavailableReason();
        if (why != null) {
            throw new BackendUnavailableException("CUDA is unavailable: " + why);
        }
    }

    /** cudart's version as "13.0", or null when the runtime is not loaded. */
    public static String runtimeVersion() {
        if (!NativeLibraries.cudartStatus().ok()) {
            return null;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
            if (CudaRuntime.cudaRuntimeGetVersion(v) != CudaRuntime.cudaSuccess()) {
                return null;
            }
            int n = v.get(ValueLayout.JAVA_INT, 0);
            return n / 1000 + "." + (n % 1000) / 10;
        }
    }

    private static void probe() {
        synchronized (LOCK) {
            if (probed) {
                return;
            }
            probed = true;
            try {
                NativeLibraries.loadCuda();
            } catch (BackendUnavailableException e) {
                unavailable = e.getMessage();
                return;
            }
            try (Arena a = Arena.ofConfined()) {
                MemorySegment count = a.allocate(ValueLayout.JAVA_INT);
                int err = CudaRuntime.cudaGetDeviceCount(count);
                if (err != CudaRuntime.cudaSuccess()) {
                    String hint = err == CudaRuntime.cudaErrorInsufficientDriver()
                            ? " (no NVIDIA driver, libcuda.so.1, or one older than the CUDA 13 runtime)"
                            : err == CudaRuntime.cudaErrorNoDevice() ? " (no NVIDIA GPU is visible)" : "";
                    unavailable = "cudaGetDeviceCount failed: " + errorText(err) + hint;
                    return;
                }
                int n = count.get(ValueLayout.JAVA_INT, 0);
                if (n == 0) {
                    unavailable = "the CUDA runtime found no device";
                    return;
                }
                List<Device> list = new ArrayList<>();
                MemorySegment prop = cudaDeviceProp.allocate(a);
                StringBuilder tooOld = new StringBuilder();
                for (int i = 0; i < n; i++) {
                    check(CudaRuntime.cudaGetDeviceProperties(prop, i), "cudaGetDeviceProperties(" + i + ")");
                    Device d = new Device(i, cudaDeviceProp.name(prop).getString(0), cudaDeviceProp.totalGlobalMem(prop),
                            cudaDeviceProp.major(prop), cudaDeviceProp.minor(prop), cudaDeviceProp.multiProcessorCount(prop));
                    if (d.computeCapability() < MIN_COMPUTE_CAPABILITY) {
                        tooOld.append(tooOld.isEmpty() ? "" : "; ").append(d);
                    } else {
                        list.add(d);
                    }
                }
                devices = List.copyOf(list);
                if (list.isEmpty()) {
                    unavailable = "no device has compute capability 8.0 or newer, which llmj's kernels need: " + tooOld;
                }
            } catch (RuntimeException e) {
                unavailable = "probing CUDA devices failed: " + e.getMessage();
            }
        }
    }

    /**
     * Device memory bandwidth of the first device in bytes per second, measured as METHOD.md suggests: a
     * large device-to-device copy timed with events, counting bytes read plus bytes written; best of 5.
     */
    public static double copyBandwidth(long bytes) {
        require();
        try (Arena a = Arena.ofConfined(); CudaBackend.DeviceBuffer src = new CudaBackend.DeviceBuffer(bytes);
             CudaBackend.DeviceBuffer dst = new CudaBackend.DeviceBuffer(bytes)) {
            MemorySegment ev = a.allocate(ValueLayout.ADDRESS, 2);
            check(CudaRuntime.cudaEventCreateWithFlags(ev, CudaRuntime.cudaEventDefault()), "cudaEventCreate");
            check(CudaRuntime.cudaEventCreateWithFlags(ev.asSlice(8), CudaRuntime.cudaEventDefault()), "cudaEventCreate");
            MemorySegment start = ev.getAtIndex(ValueLayout.ADDRESS, 0);
            MemorySegment stop = ev.getAtIndex(ValueLayout.ADDRESS, 1);
            MemorySegment ms = a.allocate(ValueLayout.JAVA_FLOAT);
            double best = 0;
            try {
                for (int i = 0; i < 6; i++) {
                    check(CudaRuntime.cudaEventRecord(start, MemorySegment.NULL), "cudaEventRecord");
                    check(CudaRuntime.cudaMemcpyAsync(dst.ptr, src.ptr, bytes, CudaRuntime.cudaMemcpyDeviceToDevice(),
                            MemorySegment.NULL), "cudaMemcpyAsync");
                    check(CudaRuntime.cudaEventRecord(stop, MemorySegment.NULL), "cudaEventRecord");
                    check(CudaRuntime.cudaEventSynchronize(stop), "cudaEventSynchronize");
                    check(CudaRuntime.cudaEventElapsedTime(ms, start, stop), "cudaEventElapsedTime");
                    if (i > 0) {                      // the first copy is a warm-up
                        best = Math.max(best, 2.0 * bytes / (ms.get(ValueLayout.JAVA_FLOAT, 0) / 1e3));
                    }
                }
            } finally {
                CudaRuntime.cudaEventDestroy(start);
                CudaRuntime.cudaEventDestroy(stop);
            }
            return best;
        }
    }

    /**
     * The exception for a failed allocation of {@code bytes} for {@code what} on the current device,
     * with the device's free and total memory (cudaMemGetInfo).
     */
    static GpuOutOfMemoryException outOfMemory(String what, long bytes) {
        long free = -1;
        long total = -1;
        String name = "CUDA device";
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(ValueLayout.JAVA_LONG);
            MemorySegment t = a.allocate(ValueLayout.JAVA_LONG);
            if (CudaRuntime.cudaMemGetInfo(f, t) == CudaRuntime.cudaSuccess()) {
                free = f.get(ValueLayout.JAVA_LONG, 0);
                total = t.get(ValueLayout.JAVA_LONG, 0);
            } else {
                CudaRuntime.cudaGetLastError();
            }
            MemorySegment d = a.allocate(ValueLayout.JAVA_INT);
            if (CudaRuntime.cudaGetDevice(d) == CudaRuntime.cudaSuccess()) {
                int index = d.get(ValueLayout.JAVA_INT, 0);
                name = devices().stream().filter(x -> x.index() == index).findFirst()
                        .map(x -> "CUDA device #" + x.index() + " (" + x.name() + ")").orElse("CUDA device #" + index);
            }
        } catch (RuntimeException e) {
            // the exception below is what matters
        }
        return new GpuOutOfMemoryException(name, what, bytes, free, total);
    }

    /** "cudaErrorX: description". */
    public static String errorText(int err) {
        String name = CudaRuntime.cudaGetErrorName(err).reinterpret(256).getString(0);
        String text = CudaRuntime.cudaGetErrorString(err).reinterpret(1024).getString(0);
        return name + ": " + text;
    }

    /** Throws a {@link NativeException} naming the call unless {@code err} is cudaSuccess. */
    public static void check(int err, String call) {
        if (err != CudaRuntime.cudaSuccess()) {
            throw new NativeException(4, call + " failed: " + errorText(err));
        }
    }
}
