package io.llmj.ffm.cuda;

import io.llmj.BackendUnavailableException;
import io.llmj.GpuOutOfMemoryException;
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
 * bindings; only {@link #read} brings results back. Weights are uploaded asynchronously through
 * pinned staging buffers ({@link PinnedUploader}); ops that read a weight wait for the uploads first,
 * and {@link #finishLoading} waits and frees the staging memory. A device allocation that fails
 * throws {@link GpuOutOfMemoryException} saying what was asked for and what the device had free.
 * Weight types with kernels: F32, F16, BF16, Q8_0 and Q4_0 ({@link #supports}); a model with other
 * types runs on another backend.
 * Methods are synchronized: generators sharing one model take turns on the device.
 */
public final class CudaBackend implements Backend {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Set<GgmlType> TYPES = EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0);

    private final int device;
    private final Cuda.Device info;
    private final List<DeviceBuffer> weights = new ArrayList<>();
    private PinnedUploader uploader;  // null until the first weight; dropped by finishLoading
    private boolean syncUploads;      // pinned staging unavailable: plain cudaMemcpy
    private final Map<RopeConfig, DeviceBuffer> ropeTables = new HashMap<>();
    private DeviceBuffer scratch;     // matmul activations / embedding ids
    /** Scratch buffers replaced by bigger ones; kept until close() because captured graphs may point into them. */
    private final List<DeviceBuffer> retired = new ArrayList<>();
    /** The stream every op is enqueued on (blocking: ordered with the legacy-stream copies of write/read). */
    private final MemorySegment stream;
    /** Decode-step graphs, one per generation state ({@link #decodeStep}). */
    private final Map<Object, StepGraph> graphs = new HashMap<>();
    /** The graph being recorded, or null: ops then read the token and position from its device slot. */
    private StepGraph capturing;
    private boolean closed;

    /** Uses device 0. @throws io.llmj.BackendUnavailableException if CUDA is unusable here */
    public CudaBackend() {
        this(0);
    }

    /**
     * Uses usable device number {@code device} (an index into {@link Cuda#devices()}).
     *
     * @throws BackendUnavailableException if CUDA is unusable here or there is no such device
     */
    public CudaBackend(int device) {
        Cuda.require();
        if (device < 0 || device >= Cuda.devices().size()) {
            throw new BackendUnavailableException("no CUDA device #" + device + "; usable devices: " + Cuda.devices());
        }
        this.info = Cuda.devices().get(device);
        this.device = info.index();
        int err = CudaRuntime.cudaSetDevice(this.device);
        if (err != CudaRuntime.cudaSuccess()) {
            CudaRuntime.cudaGetLastError();
            throw new BackendUnavailableException("cudaSetDevice(" + this.device + ") failed: " + Cuda.errorText(err));
        }
        THREAD_DEVICE.get()[0] = this.device;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            Cuda.check(CudaRuntime.cudaStreamCreateWithFlags(p, 0), "cudaStreamCreateWithFlags");
            stream = p.get(ValueLayout.ADDRESS, 0);
        }
    }

    @Override
    public String name() {
        return "cuda";
    }

    /** "cuda #0 (NVIDIA H100 80GB HBM3, 79.1 GiB, compute capability 9.0, 132 SMs)". */
    @Override
    public String describe() {
        return "cuda " + info;
    }

    @Override
    public boolean accelerator() {
        return true;
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
            this(size, bytes, type, "a buffer of " + size + " " + type + " values", true);
        }

        /**
         * @param what what the memory is for, named in the out-of-memory exception
         * @param zero whether to zero-fill it (not for weights, which are overwritten)
         * @throws GpuOutOfMemoryException if the device has no room
         */
        DeviceBuffer(long size, long bytes, GgmlType type, String what, boolean zero) {
            this.size = size;
            this.bytes = bytes;
            this.type = type;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                int err = CudaRuntime.cudaMalloc(p, Math.max(bytes, 1));
                if (err == CudaRuntime.cudaErrorMemoryAllocation()) {
                    CudaRuntime.cudaGetLastError();           // not sticky: clear it so later checks do not see it
                    throw Cuda.outOfMemory(what, bytes);
                }
                Cuda.check(err, "cudaMalloc(" + bytes + " bytes for " + what + ")");
                ptr = p.get(ValueLayout.ADDRESS, 0);
            }
            if (zero) {
                int err = CudaRuntime.cudaMemsetAsync(ptr, 0, Math.max(bytes, 1), MemorySegment.NULL);
                if (err != CudaRuntime.cudaSuccess()) {
                    CudaRuntime.cudaFree(ptr);
                    Cuda.check(err, "cudaMemsetAsync");
                }
            }
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

    /** The device buffer; makes the calling thread use this backend's device. */
    private DeviceBuffer dev(Buffer b) {
        onDevice();
        return (DeviceBuffer) b;
    }

    /** The device weight; waits first for weight uploads still in flight. */
    private DeviceWeight dw(Weight w) {
        onDevice();
        if (uploader != null && uploader.pending()) {
            uploader.finish();
        }
        return (DeviceWeight) w;
    }

    /** The device each thread last set through a CudaBackend (cudaSetDevice is per thread; a new thread starts on 0). */
    private static final ThreadLocal<int[]> THREAD_DEVICE = ThreadLocal.withInitial(() -> new int[] {0});

    /** Makes this backend's device current on the calling thread. */
    private void onDevice() {
        int[] current = THREAD_DEVICE.get();
        if (current[0] != device) {
            Cuda.check(CudaRuntime.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
            current[0] = device;
        }
    }

    @Override
    public synchronized Buffer allocate(long n) {
        onDevice();
        return new DeviceBuffer(n, 4 * n, GgmlType.F32, "activations (" + n + " floats)", true);
    }

    @Override
    public synchronized Buffer allocateCache(long n, GgmlType type) {
        if (type != GgmlType.F32 && type != GgmlType.F16) {
            throw new UnsupportedOperationException("KV cache type " + type + " (F32 and F16 are supported)");
        }
        onDevice();
        return new DeviceBuffer(n, type.byteSize(n), type, "a KV cache layer (" + n + " " + type + " values)", true);
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
        onDevice();
        DeviceBuffer buf = new DeviceBuffer(cols * rows, bytes, t, name, false);
        weights.add(buf);
        upload(buf, src.asSlice(0, bytes));
        return new DeviceWeight(name, t, (int) rows, (int) cols, rowBytes, buf);
    }

    /** Enqueues the copy through pinned staging, or copies synchronously where pinned memory is not to be had. */
    private void upload(DeviceBuffer dst, MemorySegment host) {
        if (uploader == null && !syncUploads) {
            uploader = PinnedUploader.tryCreate();
            syncUploads = uploader == null;
        }
        if (uploader != null) {
            uploader.upload(dst.ptr, host);
        } else {
            dst.upload(host.isNative() ? host : Arena.ofAuto().allocate(host.byteSize(), 64).copyFrom(host));
        }
    }

    /** Waits for the weight uploads and frees the pinned staging buffers (a later weight makes new ones). */
    @Override
    public synchronized void finishLoading() {
        if (uploader != null) {
            try {
                uploader.finish();
            } finally {
                uploader.close();
                uploader = null;
            }
        }
        syncUploads = false;
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
            if (capturing != null) {
                throw new IllegalStateException("scratch must not grow while a graph is recorded");
            }
            if (scratch != null) {
                retired.add(scratch);         // a recorded graph may still point into it: freed at close()
                scratch = null;               // not left pointing at the old buffer if the next allocation fails
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
        MemorySegment idsDev;
        if (capturing != null && ids.length == 1) {
            idsDev = capturing.slot.at(0);                     // the token of the step being replayed
        } else {
            DeviceBuffer s = scratch(4L * ids.length);
            try (Arena a = Arena.ofConfined()) {
                s.upload(a.allocateFrom(ValueLayout.JAVA_INT, ids));
            }
            idsDev = s.ptr;
        }
        NativeStatus.check(LlmjCuda.llmj_cuda_get_rows(w.type().id(), w.data().ptr, w.rowBytes(), idsDev, ids.length,
                w.cols(), scale, dev(out).ptr, stream), "llmj_cuda_get_rows(" + w.name() + ")");
    }

    @Override
    public synchronized void rmsNorm(Buffer x, Weight gain, float eps, float gainOffset, int dim, int n, Buffer out) {
        NativeStatus.check(LlmjCuda.llmj_cuda_rms_norm(dev(x).ptr, dw(gain).data().ptr, gainOffset, dev(out).ptr, dim, n, eps,
                stream), "llmj_cuda_rms_norm");
    }

    @Override
    public synchronized void matmul(Weight w, Buffer x, int n, Buffer out) {
        DeviceWeight m = dw(w);
        long work = LlmjCuda.llmj_cuda_matmul_work_size(m.type().id(), m.cols(), n);
        MemorySegment wp = work > 0 ? scratch(work).ptr : MemorySegment.NULL;
        NativeStatus.check(LlmjCuda.llmj_cuda_matmul(m.type().id(), m.data().ptr, m.rowBytes(), dev(x).ptr, dev(out).ptr,
                m.rows(), m.cols(), n, wp, work, stream), "llmj_cuda_matmul(" + m.name() + ")");
    }

    @Override
    public synchronized void addBias(Buffer x, Weight bias, int n) {
        DeviceWeight b = dw(bias);
        NativeStatus.check(LlmjCuda.llmj_cuda_add_rows(dev(x).ptr, b.data().ptr, b.cols(), n, stream),
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
                rope.positionScale(), rope.neox() ? 1 : 0, devPos(), stream), "llmj_cuda_rope");
    }

    @Override
    public synchronized void storeKv(Buffer src, Buffer cache, int kvDim, int n, int startPos) {
        DeviceBuffer c = dev(cache);
        if ((long) (startPos + n) * kvDim > c.size()) {
            throw new IllegalArgumentException("KV cache of " + c.size() / kvDim + " positions cannot take positions up to "
                    + (startPos + n));
        }
        NativeStatus.check(LlmjCuda.llmj_cuda_store_kv(dev(src).ptr, c.ptr, c.type.id(), kvDim, n, startPos, devPos(),
                stream), "llmj_cuda_store_kv");
    }

    @Override
    public synchronized void attention(Buffer q, Buffer kCache, Buffer vCache, int n, int startPos, AttentionParams p,
                                       Buffer out) {
        NativeStatus.check(LlmjCuda.llmj_cuda_attention(dev(q).ptr, dev(kCache).ptr, dev(vCache).ptr, dev(kCache).type.id(),
                dev(out).ptr, n, startPos, p.nHeads(), p.nKvHeads(), p.headDim(), p.scale(), p.softcap(), p.slidingWindow(),
                devPos(), stream), "llmj_cuda_attention");
    }

    @Override
    public synchronized void swiglu(Buffer gate, Buffer up, long count, Buffer out) {
        NativeStatus.check(LlmjCuda.llmj_cuda_glu(dev(gate).ptr, dev(up).ptr, dev(out).ptr, count, 0, stream),
                "llmj_cuda_glu");
    }

    @Override
    public synchronized void geglu(Buffer gate, Buffer up, long count, Buffer out) {
        NativeStatus.check(LlmjCuda.llmj_cuda_glu(dev(gate).ptr, dev(up).ptr, dev(out).ptr, count, 1, stream),
                "llmj_cuda_glu");
    }

    @Override
    public synchronized void add(Buffer x, Buffer y, long count) {
        NativeStatus.check(LlmjCuda.llmj_cuda_add(dev(x).ptr, dev(y).ptr, count, stream), "llmj_cuda_add");
    }

    @Override
    public synchronized void softcap(Buffer x, float cap, long count) {
        NativeStatus.check(LlmjCuda.llmj_cuda_softcap(dev(x).ptr, cap, count, stream), "llmj_cuda_softcap");
    }

    // ---- decode-step graphs -------------------------------------------------------------------

    /**
     * One generation state's decode step as a CUDA graph: the token and the position live in a small
     * device slot that a pinned host slot is copied into before each replay, so a token costs one copy,
     * one graph launch and the read of the logits.
     */
    private final class StepGraph implements AutoCloseable {
        final DeviceBuffer slot = new DeviceBuffer(8);          // int32 token, int32 position
        final MemorySegment host;                              // pinned: the async copy reads it when it runs
        final int maxPos;
        MemorySegment exec;                                    // cudaGraphExec_t, null until recorded
        int uncapturedRuns;

        StepGraph(int maxPos) {
            this.maxPos = maxPos;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                Cuda.check(CudaRuntime.cudaMallocHost(p, 8), "cudaMallocHost(8)");
                host = p.get(ValueLayout.ADDRESS, 0).reinterpret(8);
            }
        }

        void setSlot(int token, int pos) {
            host.set(ValueLayout.JAVA_INT, 0, token);
            host.set(ValueLayout.JAVA_INT, 4, pos);
            Cuda.check(CudaRuntime.cudaMemcpyAsync(slot.ptr, host, 8, CudaRuntime.cudaMemcpyHostToDevice(), stream),
                    "cudaMemcpyAsync(step slot)");
        }

        @Override
        public void close() {
            if (exec != null) {
                CudaRuntime.cudaGraphExecDestroy(exec);
                exec = null;
            }
            CudaRuntime.cudaFreeHost(host);
            slot.close();
        }
    }

    /** Whether decode steps are recorded as graphs (-Dllmj.cuda.graphs=false turns it off). */
    private static final boolean GRAPHS = !"false".equalsIgnoreCase(System.getProperty("llmj.cuda.graphs"));

    /**
     * Runs a one-token decode step: the first two times as plain launches (the second sizes nothing new),
     * then records {@code step} once as a CUDA graph for {@code owner} and from then on only replays it,
     * with {@code token} and {@code pos} delivered through the owner's device slot.
     */
    @Override
    public synchronized void decodeStep(Object owner, int token, int pos, int maxPos, Runnable step) {
        if (!GRAPHS) {
            step.run();
            return;
        }
        StepGraph g = graphs.get(owner);
        if (g == null || g.maxPos != maxPos) {
            if (g != null) {
                g.close();
            }
            g = new StepGraph(maxPos);
            graphs.put(owner, g);
        }
        g.setSlot(token, pos);
        if (g.exec == null && g.uncapturedRuns < 1) {
            g.uncapturedRuns++;                                // warm-up: scratch, RoPE tables, modules
            step.run();
            return;
        }
        if (g.exec == null) {
            record(g, step);
        }
        Cuda.check(CudaRuntime.cudaGraphLaunch(g.exec, stream), "cudaGraphLaunch");
    }

    private void record(StepGraph g, Runnable step) {
        try (Arena a = Arena.ofConfined()) {
            Cuda.check(CudaRuntime.cudaStreamBeginCapture(stream, CudaRuntime.cudaStreamCaptureModeThreadLocal()),
                    "cudaStreamBeginCapture");
            capturing = g;
            MemorySegment graph = a.allocate(ValueLayout.ADDRESS);
            try {
                step.run();
            } finally {
                capturing = null;
                int end = CudaRuntime.cudaStreamEndCapture(stream, graph);
                Cuda.check(end, "cudaStreamEndCapture");
            }
            MemorySegment gr = graph.get(ValueLayout.ADDRESS, 0);
            MemorySegment exec = a.allocate(ValueLayout.ADDRESS);
            try {
                Cuda.check(CudaRuntime.cudaGraphInstantiate(exec, gr, 0), "cudaGraphInstantiate");
            } finally {
                CudaRuntime.cudaGraphDestroy(gr);
            }
            g.exec = exec.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Frees the decode-step graph of {@code owner}. */
    @Override
    public synchronized void release(Object owner) {
        StepGraph g = graphs.remove(owner);
        if (g != null) {
            g.close();
        }
    }

    /** The device position slot while a step is recorded, else NULL. */
    private MemorySegment devPos() {
        return capturing != null ? capturing.slot.at(4) : MemorySegment.NULL;
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
        try {
            onDevice();
        } catch (RuntimeException e) {
            // free what can be freed regardless
        }
        if (uploader != null) {
            uploader.close();                 // waits for copies still in flight before their memory goes
            uploader = null;
        }
        graphs.values().forEach(StepGraph::close);
        graphs.clear();
        weights.forEach(DeviceBuffer::close);
        weights.clear();
        retired.forEach(DeviceBuffer::close);
        retired.clear();
        ropeTables.values().forEach(DeviceBuffer::close);
        ropeTables.clear();
        if (scratch != null) {
            scratch.close();
        }
        CudaRuntime.cudaStreamDestroy(stream);
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
        public boolean accelerator() {
            return true;
        }

        @Override
        public Backend create() {
            return new CudaBackend();
        }

        @Override
        public Backend create(int threads, int device) {
            return new CudaBackend(device);
        }
    }
}
