package io.llmj.ffm.cuda;

import io.llmj.backend.AttentionParams;
import io.llmj.backend.Backend;
import io.llmj.backend.BackendProvider;
import io.llmj.backend.Buffer;
import io.llmj.backend.Op;
import io.llmj.backend.RopeConfig;
import io.llmj.backend.Weight;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The CUDA backend: weights, activations and the KV cache live in device memory; every op is a
 * hand-written kernel in libllmj_cuda.so enqueued on the default stream through the generated
 * bindings; only {@link #read} brings results back. Weight types with kernels: F32, F16, BF16,
 * Q8_0 and Q4_0 ({@link #supports}); a model with other types runs on another backend.
 * Methods are synchronized: generators sharing one model take turns on the device.
 */
public final class CudaBackend implements Backend {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Set<GgmlType> TYPES = EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS);

    private final int device;
    private final List<DeviceBuffer> weights = new ArrayList<>();
    private final Map<RopeConfig, DeviceBuffer> ropeTables = new HashMap<>();
    private DeviceBuffer scratch;     // matmul activations / embedding ids
    private boolean closed;

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
        Cuda.check(CudaRuntime.cudaSetDevice(this.device), "cudaSetDevice");
    }

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public boolean supports(Op op, GgmlType type) {
        return TYPES.contains(type);
    }

    // ---- memory ------------------------------------------------------------------------------

    /** A device buffer of {@code size} elements of {@code type}, zero-filled. */
    static final class DeviceBuffer implements Buffer {
        final MemorySegment ptr;
        final long bytes;
        final long size;
        final GgmlType type;
        private boolean freed;

        DeviceBuffer(long bytes) {
            this(bytes, bytes, GgmlType.I8);
        }

        DeviceBuffer(long size, long bytes, GgmlType type) {
            this.size = size;
            this.bytes = bytes;
            this.type = type;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                Cuda.check(CudaRuntime.cudaMalloc(p, Math.max(bytes, 1)), "cudaMalloc(" + bytes + " bytes)");
                ptr = p.get(ValueLayout.ADDRESS, 0);
            }
            Cuda.check(CudaRuntime.cudaMemsetAsync(ptr, 0, Math.max(bytes, 1), MemorySegment.NULL), "cudaMemsetAsync");
        }

        MemorySegment at(long byteOffset) {
            return MemorySegment.ofAddress(ptr.address() + byteOffset);
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
        public long size() {
            return size;
        }

        @Override
        public synchronized void close() {
            if (!freed) {
                freed = true;
                CudaRuntime.cudaFree(ptr);
            }
        }
    }

    /** A weight matrix (or vector) in device memory. */
    record DeviceWeight(String name, GgmlType type, int rows, int cols, long rowBytes, DeviceBuffer data) implements Weight {}

    private static DeviceBuffer dev(Buffer b) {
        return (DeviceBuffer) b;
    }

    private static DeviceWeight dw(Weight w) {
        return (DeviceWeight) w;
    }

    @Override
    public synchronized Buffer allocate(long n) {
        return new DeviceBuffer(n, 4 * n, GgmlType.F32);
    }

    @Override
    public synchronized Buffer allocateCache(long n, GgmlType type) {
        if (type != GgmlType.F32 && type != GgmlType.F16) {
            throw new UnsupportedOperationException("KV cache type " + type + " (F32 and F16 are supported)");
        }
        return new DeviceBuffer(n, type.byteSize(n), type);
    }

    @Override
    public synchronized Weight weight(String name, GgmlType type, long[] shape, MemorySegment data) {
        long cols = shape[0];
        long rows = shape.length == 2 ? shape[1] : 1;
        if (shape.length > 2 || cols <= 0 || rows <= 0 || cols > Integer.MAX_VALUE || rows > Integer.MAX_VALUE) {
            throw new IllegalArgumentException(name + ": unsupported shape");
        }
        MemorySegment src = data;
        GgmlType t = type;
        if (shape.length == 1 && type != GgmlType.F32) {       // norm gains and biases: float32 on the device
            float[] v = QuantFormats.require(type).dequantizeRow(data, 0, (int) cols);
            src = Arena.ofAuto().allocateFrom(ValueLayout.JAVA_FLOAT, v);
            t = GgmlType.F32;
        } else if (!TYPES.contains(type)) {
            throw new UnsupportedOperationException("cuda backend: no kernels for " + type + " weights (" + name + ")");
        }
        long rowBytes = t.byteSize(cols);
        long bytes = rowBytes * rows;
        if (src.byteSize() < bytes) {
            throw new IllegalArgumentException(name + ": " + src.byteSize() + " bytes of data, need " + bytes);
        }
        DeviceBuffer buf = new DeviceBuffer(cols * rows, bytes, t);
        weights.add(buf);
        MemorySegment host = src.asSlice(0, bytes);
        if (!host.isNative()) {
            host = Arena.ofAuto().allocate(bytes, 64).copyFrom(host);
        }
        buf.upload(host);
        return new DeviceWeight(name, t, (int) rows, (int) cols, rowBytes, buf);
    }

    @Override
    public synchronized void write(Buffer dst, long offset, float[] src, int srcOff, int n) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(4L * n, 64);
            MemorySegment.copy(src, srcOff, h, F32, 0, n);
            Cuda.check(CudaRuntime.cudaMemcpy(dev(dst).at(4 * offset), h, 4L * n, CudaRuntime.cudaMemcpyHostToDevice()),
                    "cudaMemcpy host->device");
        }
    }

    @Override
    public synchronized void read(Buffer src, long offset, float[] dst, int dstOff, int n) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(4L * n, 64);
            Cuda.check(CudaRuntime.cudaMemcpy(h, dev(src).at(4 * offset), 4L * n, CudaRuntime.cudaMemcpyDeviceToHost()),
                    "cudaMemcpy device->host");
            MemorySegment.copy(h, F32, 0, dst, dstOff, n);
        }
    }

    @Override
    public synchronized void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) {
        Cuda.check(CudaRuntime.cudaMemcpy(dev(dst).at(4 * dstOff), dev(src).at(4 * srcOff), 4 * n,
                CudaRuntime.cudaMemcpyDeviceToDevice()), "cudaMemcpy device->device");
    }

    private DeviceBuffer scratch(long bytes) {
        if (scratch == null || scratch.bytes < bytes) {
            if (scratch != null) {
                scratch.close();
            }
            scratch = new DeviceBuffer(Math.max(bytes, 1 << 16));
        }
        return scratch;
    }

    // ---- ops ---------------------------------------------------------------------------------

    @Override
    public synchronized void embed(Weight table, int[] ids, float scale, Buffer out) {
        DeviceWeight w = dw(table);
        for (int id : ids) {
            if (id < 0 || id >= w.rows()) {
                throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + w.rows());
            }
        }
        DeviceBuffer s = scratch(4L * ids.length);
        try (Arena a = Arena.ofConfined()) {
            s.upload(a.allocateFrom(ValueLayout.JAVA_INT, ids));
        }
        NativeStatus.check(LlmjCuda.llmj_cuda_get_rows(w.type().id(), w.data().ptr, w.rowBytes(), s.ptr, ids.length,
                w.cols(), scale, dev(out).ptr, MemorySegment.NULL), "llmj_cuda_get_rows(" + w.name() + ")");
    }

    @Override
    public synchronized void rmsNorm(Buffer x, Weight gain, float eps, float gainOffset, int dim, int n, Buffer out) {
        NativeStatus.check(LlmjCuda.llmj_cuda_rms_norm(dev(x).ptr, dw(gain).data().ptr, gainOffset, dev(out).ptr, dim, n, eps,
                MemorySegment.NULL), "llmj_cuda_rms_norm");
    }

    @Override
    public synchronized void matmul(Weight w, Buffer x, int n, Buffer out) {
        DeviceWeight m = dw(w);
        long work = LlmjCuda.llmj_cuda_matmul_work_size(m.type().id(), m.cols(), n);
        MemorySegment wp = work > 0 ? scratch(work).ptr : MemorySegment.NULL;
        NativeStatus.check(LlmjCuda.llmj_cuda_matmul(m.type().id(), m.data().ptr, m.rowBytes(), dev(x).ptr, dev(out).ptr,
                m.rows(), m.cols(), n, wp, work, MemorySegment.NULL), "llmj_cuda_matmul(" + m.name() + ")");
    }

    @Override
    public synchronized void addBias(Buffer x, Weight bias, int n) {
        DeviceWeight b = dw(bias);
        NativeStatus.check(LlmjCuda.llmj_cuda_add_rows(dev(x).ptr, b.data().ptr, b.cols(), n, MemorySegment.NULL),
                "llmj_cuda_add_rows");
    }

    @Override
    public synchronized void rope(Buffer x, int nHeads, int headDim, int n, int startPos, RopeConfig rope) {
        DeviceBuffer table = ropeTables.computeIfAbsent(rope, r -> {
            float[] f = r.invFreq();
            DeviceBuffer b = new DeviceBuffer(f.length, 4L * f.length, GgmlType.F32);
            try (Arena a = Arena.ofConfined()) {
                b.upload(a.allocateFrom(ValueLayout.JAVA_FLOAT, f));
            }
            return b;
        });
        NativeStatus.check(LlmjCuda.llmj_cuda_rope(dev(x).ptr, n, nHeads, headDim, rope.dims(), startPos, table.ptr,
                rope.positionScale(), rope.neox() ? 1 : 0, MemorySegment.NULL), "llmj_cuda_rope");
    }

    @Override
    public synchronized void storeKv(Buffer src, Buffer cache, int kvDim, int n, int startPos) {
        DeviceBuffer c = dev(cache);
        if ((long) (startPos + n) * kvDim > c.size()) {
            throw new IllegalArgumentException("KV cache of " + c.size() / kvDim + " positions cannot take positions up to "
                    + (startPos + n));
        }
        NativeStatus.check(LlmjCuda.llmj_cuda_store_kv(dev(src).ptr, c.ptr, c.type.id(), kvDim, n, startPos,
                MemorySegment.NULL), "llmj_cuda_store_kv");
    }

    @Override
    public synchronized void attention(Buffer q, Buffer kCache, Buffer vCache, int n, int startPos, AttentionParams p,
                                       Buffer out) {
        NativeStatus.check(LlmjCuda.llmj_cuda_attention(dev(q).ptr, dev(kCache).ptr, dev(vCache).ptr, dev(kCache).type.id(),
                dev(out).ptr, n, startPos, p.nHeads(), p.nKvHeads(), p.headDim(), p.scale(), p.softcap(), p.slidingWindow(),
                MemorySegment.NULL), "llmj_cuda_attention");
    }

    @Override
    public synchronized void swiglu(Buffer gate, Buffer up, long count, Buffer out) {
        NativeStatus.check(LlmjCuda.llmj_cuda_glu(dev(gate).ptr, dev(up).ptr, dev(out).ptr, count, 0, MemorySegment.NULL),
                "llmj_cuda_glu");
    }

    @Override
    public synchronized void geglu(Buffer gate, Buffer up, long count, Buffer out) {
        NativeStatus.check(LlmjCuda.llmj_cuda_glu(dev(gate).ptr, dev(up).ptr, dev(out).ptr, count, 1, MemorySegment.NULL),
                "llmj_cuda_glu");
    }

    @Override
    public synchronized void add(Buffer x, Buffer y, long count) {
        NativeStatus.check(LlmjCuda.llmj_cuda_add(dev(x).ptr, dev(y).ptr, count, MemorySegment.NULL), "llmj_cuda_add");
    }

    @Override
    public synchronized void softcap(Buffer x, float cap, long count) {
        NativeStatus.check(LlmjCuda.llmj_cuda_softcap(dev(x).ptr, cap, count, MemorySegment.NULL), "llmj_cuda_softcap");
    }

    /** Host segments are staged through device memory per call. */
    @Override
    public synchronized void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y,
                                    int rows, int cols) {
        if (!supports(Op.MATVEC, type)) {
            throw new UnsupportedOperationException("cuda backend: matvec for " + type + " is not implemented");
        }
        Backend.checkMatvec(type, w, rowBytes, x, y, rows, cols);
        if (rows == 0) {
            return;
        }
        long wBytes = (rows - 1) * rowBytes + type.byteSize(cols);
        long work = LlmjCuda.llmj_cuda_matmul_work_size(type.id(), cols, 1);
        try (Arena arena = Arena.ofConfined(); DeviceBuffer dwb = new DeviceBuffer(wBytes);
             DeviceBuffer dx = new DeviceBuffer(4L * cols); DeviceBuffer dy = new DeviceBuffer(4L * rows);
             DeviceBuffer dwork = new DeviceBuffer(Math.max(work, 1))) {
            dwb.upload(stage(arena, w, wBytes));
            dx.upload(stage(arena, x, 4L * cols));
            NativeStatus.check(LlmjCuda.llmj_cuda_matmul(type.id(), dwb.ptr, rowBytes, dx.ptr, dy.ptr, rows, cols, 1,
                    dwork.ptr, work, MemorySegment.NULL), "llmj_cuda_matmul");
            MemorySegment out = y.isNative() ? y : arena.allocate(4L * rows);
            dy.download(out);
            Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "cudaDeviceSynchronize after llmj_cuda_matmul");
            if (out != y) {
                MemorySegment.copy(out, 0, y, 0, 4L * rows);
            }
        }
    }

    private static MemorySegment stage(Arena arena, MemorySegment s, long bytes) {
        MemorySegment src = s.asSlice(0, bytes);
        return src.isNative() ? src : arena.allocate(bytes, 64).copyFrom(src);
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        weights.forEach(DeviceBuffer::close);
        weights.clear();
        ropeTables.values().forEach(DeviceBuffer::close);
        ropeTables.clear();
        if (scratch != null) {
            scratch.close();
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
