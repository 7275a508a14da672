package io.llmj.ffm.cuda;

import io.llmj.BackendUnavailableException;
import io.llmj.backend.AttentionParams;
import io.llmj.backend.Backend;
import io.llmj.backend.BackendProvider;
import io.llmj.backend.Buffer;
import io.llmj.backend.Op;
import io.llmj.backend.RopeConfig;
import io.llmj.backend.Weight;
import io.llmj.ffm.NativeException;
import io.llmj.ffm.NativeLibraries;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.cublas.Cublas;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The CUDA backend: weights, activations and the KV cache live in device memory; every op is a
 * hand-written kernel in libllmj_cuda.so enqueued on the default stream through the generated
 * bindings; only {@link #read} brings results back. Weight types with kernels: F32, F16, BF16,
 * Q8_0 and Q4_0 ({@link #supports}); a model with other types runs on another backend.
 * Methods are synchronized: generators sharing one model take turns on the device.
 *
 * <p>Prefill: {@link #matmul} over {@value #GEMM_MIN_TOKENS} or more tokens is one cuBLAS GEMM
 * ({@code out = x · Wᵀ}, float32 accumulation and output) on the same stream as the kernels, as
 * {@link Gemm} describes; fewer tokens (decode) run the per-token kernels. {@code -Dllmj.cuda.gemm=off}
 * keeps the exact per-token kernels for every batch. Precision of the tensor-core path: F16 weights
 * (and quant types dequantized to F16) times activations rounded to F16, i.e. relative rounding of
 * at most 2⁻¹¹ per activation (2⁻⁸ for BF16 weights, whose activations are rounded to BF16), so
 * {@code |out − exact| ≤ (u_x + u_w + cols·2⁻²⁴) · Σ_c |W[r,c]·x[c]|} with u_x = 2⁻¹¹ (BF16: 2⁻⁸), u_w = 0
 * for F16/BF16 weights and 2⁻¹¹ for dequantized ones (a Q8_0/Q4_0 value d·q needs up to 18/14
 * significant bits, F16 keeps 11). CudaGemmTest checks that bound on awkward shapes.
 */
public final class CudaBackend implements Backend {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final Set<GgmlType> TYPES = EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0,
            GgmlType.Q4_0);

    private static final System.Logger LOG = System.getLogger("io.llmj.ffm.cuda");

    /** System property choosing the prefill path: {@code auto} (default), {@code off} or {@code f16}; see {@link Gemm}. */
    public static final String GEMM_PROPERTY = "llmj.cuda.gemm";
    /** System property overriding {@link #GEMM_MIN_TOKENS} (tuning and benchmarks). */
    public static final String GEMM_MIN_TOKENS_PROPERTY = "llmj.cuda.gemm.minTokens";
    /**
     * Batches of this many tokens or more take the cuBLAS path. Measured on an H100 (CudaGemmBenchmark,
     * 4096x4096, µs per call, per-token kernels / GEMM): F16 n=1 13.0/20.1, n=2 25.8/18.5, n=4 49.9/18.4;
     * BF16 n=2 23.4/18.1; F32 n=2 56.5/34.6. The GEMM reads the weights once where the kernels read them n
     * times, so it wins from 2 tokens for the plain types; quantized weights add a dequantization pass
     * (about 51 MB of traffic for Q8_0 4096x4096, ~18 µs) against kernels of 37 µs (Q8_0) / 28 µs (Q4_0) at
     * n=2 and 70 / 52 µs at n=4, hence 4: a winner for every type.
     */
    public static final int GEMM_MIN_TOKENS = 4;
    /** The stream every op is enqueued on (NULL: the legacy default stream); cuBLAS is bound to it too. */
    private static final MemorySegment STREAM = MemorySegment.NULL;
    private static final MemorySegment ONE = Arena.ofAuto().allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
    private static final MemorySegment ZERO = Arena.ofAuto().allocateFrom(ValueLayout.JAVA_FLOAT, 0f);
    private static volatile Boolean dequantizeEntry;

    /** How {@link #matmul} multiplies a batch of at least {@link #GEMM_MIN_TOKENS} tokens (prefill). */
    public enum Gemm {
        /**
         * Always the per-token kernels of llmj_cuda_matmul: float32 activations for F32/F16/BF16 weights,
         * Q8_0-converted activations with integer block dots for Q8_0/Q4_0 (ggml's definition).
         */
        OFF,
        /**
         * cuBLAS {@code cublasGemmEx} with float32 accumulation and output: F32 weights in float32 (no TF32:
         * as precise as the kernels), F16 and BF16 weights in place on tensor cores with the activations
         * rounded to F16 / BF16, other types dequantized into a reusable F16 scratch by
         * {@code llmj_cuda_dequantize_f16} (where libllmj_cuda lacks it, or it lacks the type: per-token kernels);
         * that scratch grows to the largest such weight in F16 (262 MB for a 7B model's 32000 x 4096 output).
         */
        AUTO,
        /** As {@link #AUTO}, but F32 weights are rounded to F16 (per call) as well: tensor cores at F16 precision. */
        F16;

        /** The mode named by {@link #GEMM_PROPERTY}: {@code auto}/{@code true} (default), {@code off}/{@code false}, {@code f16}. */
        public static Gemm fromProperty() {
            String v = System.getProperty(GEMM_PROPERTY, "auto").trim().toLowerCase(Locale.ROOT);
            return switch (v) {
                case "auto", "true", "on", "" -> AUTO;
                case "off", "false" -> OFF;
                case "f16" -> F16;
                default -> throw new IllegalArgumentException("-D" + GEMM_PROPERTY + "=" + v + ": expected auto, off or f16");
            };
        }
    }

    /** The operands a batch is multiplied with; {@link #EXACT}: the per-token kernels. */
    enum GemmPath { EXACT, F32, F16, BF16 }

    private final int device;
    private final Gemm gemm;
    private final int gemmMinTokens;
    private final List<DeviceBuffer> weights = new ArrayList<>();
    private final Map<RopeConfig, DeviceBuffer> ropeTables = new HashMap<>();
    private final Set<GgmlType> noDequantize = EnumSet.noneOf(GgmlType.class);
    private DeviceBuffer scratch;     // matmul activations / embedding ids
    private DeviceBuffer gemmWeights; // weights dequantized / converted to F16 for the GEMM
    private DeviceBuffer gemmInput;   // activations rounded to F16 / BF16 for the GEMM
    private MemorySegment cublas;     // cuBLAS handle, created on the first GEMM
    private String cublasUnavailable; // why the GEMM path is off, once cuBLAS failed to start
    private boolean closed;

    /** Uses device 0. @throws io.llmj.BackendUnavailableException if CUDA is unusable here */
    public CudaBackend() {
        this(0);
    }

    /** Uses the given device index, prefill path from {@link #GEMM_PROPERTY}. */
    public CudaBackend(int device) {
        this(device, Gemm.fromProperty());
    }

    /** Uses the given device index and prefill path. */
    public CudaBackend(int device, Gemm gemm) {
        this(device, gemm, Integer.getInteger(GEMM_MIN_TOKENS_PROPERTY, GEMM_MIN_TOKENS));
    }

    /** As {@link #CudaBackend(int, Gemm)} with the batch size from which {@code gemm} applies (tests, benchmarks). */
    CudaBackend(int device, Gemm gemm, int gemmMinTokens) {
        Cuda.require();
        if (device < 0 || device >= Cuda.devices().size()) {
            throw new IllegalArgumentException("no CUDA device #" + device + "; devices: " + Cuda.devices());
        }
        if (gemmMinTokens < 1) {
            throw new IllegalArgumentException("gemmMinTokens " + gemmMinTokens + " < 1");
        }
        this.device = Cuda.devices().get(device).index();
        this.gemm = gemm;
        this.gemmMinTokens = gemmMinTokens;
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
        if (dev(x).bytes < 4L * n * m.cols() || dev(out).bytes < 4L * n * m.rows()) {
            throw new IllegalArgumentException(m.name() + ": matmul of " + n + " tokens needs " + n * (long) m.cols()
                    + " input and " + n * (long) m.rows() + " output floats, buffers hold " + dev(x).bytes / 4 + " and "
                    + dev(out).bytes / 4);
        }
        GemmPath path = gemmPath(m, n);
        if (path != GemmPath.EXACT && gemm(m, dev(x), n, dev(out), path)) {
            return;
        }
        long work = LlmjCuda.llmj_cuda_matmul_work_size(m.type().id(), m.cols(), n);
        MemorySegment wp = work > 0 ? scratch(work).ptr : MemorySegment.NULL;
        NativeStatus.check(LlmjCuda.llmj_cuda_matmul(m.type().id(), m.data().ptr, m.rowBytes(), dev(x).ptr, dev(out).ptr,
                m.rows(), m.cols(), n, wp, work, MemorySegment.NULL), "llmj_cuda_matmul(" + m.name() + ")");
    }

    // ---- prefill GEMM (cuBLAS) -----------------------------------------------------------------

    /** The path {@link #matmul} takes for {@code w} at {@code n} tokens (tests assert it). */
    synchronized GemmPath gemmPath(Weight w, int n) {
        DeviceWeight m = dw(w);
        if (gemm == Gemm.OFF || n < gemmMinTokens || !cublasReady()) {
            return GemmPath.EXACT;
        }
        return switch (m.type()) {
            case F32 -> gemm == Gemm.F16 ? GemmPath.F16 : GemmPath.F32;
            case F16 -> GemmPath.F16;
            case BF16 -> GemmPath.BF16;
            default -> dequantizeAvailable() && !noDequantize.contains(m.type()) ? GemmPath.F16 : GemmPath.EXACT;
        };
    }

    /** Whether libllmj_cuda has {@code llmj_cuda_dequantize_f16} (quantized weights' GEMM input). */
    static boolean dequantizeAvailable() {
        Boolean b = dequantizeEntry;
        if (b == null) {
            Cuda.require();                                    // libllmj_cuda is loaded from here on
            b = SymbolLookup.loaderLookup().find("llmj_cuda_dequantize_f16").isPresent();
            dequantizeEntry = b;
        }
        return b;
    }

    /** Creates the cuBLAS handle on first use; false (logged once) if cuBLAS cannot be used here. */
    private boolean cublasReady() {
        if (cublas != null) {
            return true;
        }
        if (cublasUnavailable != null) {
            return false;
        }
        try {
            NativeLibraries.loadCublas();
            Cuda.check(CudaRuntime.cudaSetDevice(device), "cudaSetDevice");
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                checkCublas(Cublas.cublasCreate_v2(p), "cublasCreate");
                MemorySegment h = p.get(ValueLayout.ADDRESS, 0);
                int st = Cublas.cublasSetStream_v2(h, STREAM);
                if (st == Cublas.CUBLAS_STATUS_SUCCESS()) {
                    st = Cublas.cublasSetMathMode(h, Cublas.CUBLAS_DEFAULT_MATH());    // no TF32 for F32 weights
                }
                if (st != Cublas.CUBLAS_STATUS_SUCCESS()) {
                    Cublas.cublasDestroy_v2(h);
                    checkCublas(st, "cublasSetStream/cublasSetMathMode");
                }
                cublas = h;
            }
            return true;
        } catch (BackendUnavailableException | NativeException e) {
            cublasUnavailable = e.getMessage();
            LOG.log(System.Logger.Level.WARNING, "cuda backend: prefill runs the per-token kernels, cuBLAS is unusable: {0}",
                    cublasUnavailable);
            return false;
        }
    }

    private static void checkCublas(int status, String call) {
        if (status != Cublas.CUBLAS_STATUS_SUCCESS()) {
            String text = Cublas.cublasGetStatusString(status).reinterpret(256).getString(0);
            throw new NativeException(4, call + " failed: " + text + " (cublasStatus_t " + status + ")");
        }
    }

    private DeviceBuffer gemmWeights(long bytes) {
        if (gemmWeights == null || gemmWeights.bytes < bytes) {
            if (gemmWeights != null) {
                gemmWeights.close();
            }
            gemmWeights = new DeviceBuffer(bytes);
        }
        return gemmWeights;
    }

    private DeviceBuffer gemmInput(long bytes) {
        if (gemmInput == null || gemmInput.bytes < bytes) {
            if (gemmInput != null) {
                gemmInput.close();
            }
            gemmInput = new DeviceBuffer(bytes);
        }
        return gemmInput;
    }

    /**
     * out (n x rows, row-major) = x (n x cols) · Wᵀ as one column-major cuBLAS product
     * {@code C[rows x n] = op_T(W)[rows x cols] · X[cols x n]}, W's rows being columns of leading dimension
     * row_bytes / element size. False if the weights cannot be brought into GEMM form (dequantization
     * unsupported for the type): the caller runs the per-token kernels.
     */
    private boolean gemm(DeviceWeight m, DeviceBuffer x, int n, DeviceBuffer out, GemmPath path) {
        int rows = m.rows();
        int cols = m.cols();
        MemorySegment a = m.data().ptr;
        MemorySegment b = x.ptr;
        int cudaType;
        int lda;
        if (path == GemmPath.F32) {
            cudaType = Cublas.CUDA_R_32F();
            lda = (int) (m.rowBytes() / 4);
        } else {
            GgmlType half = path == GemmPath.BF16 ? GgmlType.BF16 : GgmlType.F16;
            cudaType = path == GemmPath.BF16 ? Cublas.CUDA_R_16BF() : Cublas.CUDA_R_16F();
            if (m.type() == half) {                                        // F16 / BF16 weights in place
                lda = (int) (m.rowBytes() / 2);
            } else {
                DeviceBuffer wh = gemmWeights(2L * rows * cols);
                if (m.type() == GgmlType.F32) {                            // Gemm.F16: F32 rows are dense
                    NativeStatus.check(LlmjCuda.llmj_cuda_convert_f32(a, wh.ptr, GgmlType.F16.id(), (long) rows * cols,
                            STREAM), "llmj_cuda_convert_f32(" + m.name() + ")");
                } else {
                    int st = LlmjCuda.llmj_cuda_dequantize_f16(m.type().id(), a, m.rowBytes(), rows, cols, wh.ptr, STREAM);
                    if (st == Llmj.LLMJ_ERR_UNSUPPORTED()) {
                        noDequantize.add(m.type());
                        LOG.log(System.Logger.Level.INFO, "cuda backend: no F16 dequantization for {0} weights; their "
                                + "prefill runs the per-token kernels", m.type());
                        return false;
                    }
                    NativeStatus.check(st, "llmj_cuda_dequantize_f16(" + m.name() + ")");
                }
                a = wh.ptr;
                lda = cols;
            }
            DeviceBuffer xh = gemmInput(2L * n * cols);
            NativeStatus.check(LlmjCuda.llmj_cuda_convert_f32(x.ptr, xh.ptr, half.id(), (long) n * cols, STREAM),
                    "llmj_cuda_convert_f32(activations of " + m.name() + ")");
            b = xh.ptr;
        }
        checkCublas(Cublas.cublasGemmEx(cublas, Cublas.CUBLAS_OP_T(), Cublas.CUBLAS_OP_N(), rows, n, cols, ONE, a, cudaType,
                lda, b, cudaType, cols, ZERO, out.ptr, Cublas.CUDA_R_32F(), rows, Cublas.CUBLAS_COMPUTE_32F(),
                Cublas.CUBLAS_GEMM_DEFAULT()), "cublasGemmEx(" + m.name() + ", " + path + ", n=" + n + ")");
        return true;
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
        if (gemmWeights != null) {
            gemmWeights.close();
        }
        if (gemmInput != null) {
            gemmInput.close();
        }
        if (cublas != null) {
            Cublas.cublasDestroy_v2(cublas);
            cublas = null;
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
