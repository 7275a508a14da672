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
import io.llmj.ffm.NativeException;
import io.llmj.ffm.NativeLibraries;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.cublas.Cublas;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.ffm.generated.llmj.llmj_gptq_matrix;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormats;
import io.llmj.quant.gptq.GptqMatrix;
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
import java.util.stream.IntStream;

/**
 * The CUDA backend: weights, activations and the KV cache live in device memory; every op is a
 * hand-written kernel in libllmj_cuda.so enqueued on the backend's own stream through the generated
 * bindings; only {@link #read} brings results back. Weights are uploaded asynchronously through
 * pinned staging buffers ({@link PinnedUploader}); ops that read a weight wait for the uploads first,
 * and {@link #finishLoading} waits and frees the staging memory. A device allocation that fails
 * throws {@link GpuOutOfMemoryException} saying what was asked for and what the device had free.
 * Weight types with kernels: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and IQ4_NL, the K-quants, and
 * GPTQ layers of 4 and 8 bits (matmul only: {@code llmj_cuda_gptq_matmul} on the uploaded {@link GptqMatrix}
 * segment; prefill dequantizes them to F16 for the GEMM) ({@link #supports}); a model with other types runs on
 * another backend.
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
    private static final Set<GgmlType> TYPES = EnumSet.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0,
            GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.IQ4_NL, GgmlType.Q2_K, GgmlType.Q3_K,
            GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS);

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

    /**
     * {@code -Dllmj.cuda.repack=false} keeps Q4_0 / Q8_0 matrices in ggml's block layout (llmj_cuda_matmul's
     * kernels). By default they are repacked at load into the GPTQ layout with symmetric zero points
     * ({@code llmj_cuda_gptq_repack_q}: scales apart, 16-byte aligned quants), whose kernels compute the same
     * block dots from coalesced loads, and whose products for q/k/v and gate/up run as one kernel
     * ({@link #matmulShared}).
     */
    public static final String REPACK_PROPERTY = "llmj.cuda.repack";

    /**
     * {@code -Dllmj.cuda.repackKquants=false} keeps Q4_K / Q5_K / Q6_K matrices in ggml's block layout (llmj_cuda_matmul's
     * K-quant kernels, Q8_K activations: the CPU's arithmetic). By default, unless {@link #REPACK_PROPERTY} is false,
     * they are repacked at load into the GPTQ layout ({@code llmj_cuda_kquant_repack}): 16-byte aligned quants with
     * the scales apart, read by the GPTQ-layout kernels (coalesced loads; q/k/v and gate/up as one kernel in
     * {@link #matmulShared}) from the same Q8_K activations and exact integer block dots as the block layout's,
     * so the products agree with it up to the order of the float additions.
     */
    public static final String REPACK_KQUANTS_PROPERTY = "llmj.cuda.repackKquants";

    /**
     * {@code -Dllmj.cuda.kquantQ8K=true}: repacked K-quant products read Q8_K activations (one scale per 256 columns: the
     * CPU's and the block layout's arithmetic, which they then match up to the order of the float additions). By
     * default they read the Q8_0 blocks (one scale per 32 columns) that the Q4_0 / Q8_0 / GPTQ products read
     * ({@code llmj_gptq_matrix.act32}), so a layer's norms, GLU and attention convert their outputs for them as for
     * Q4_0, the attention included (a Q8_K block would span two heads): one kernel a layer fewer. The products then
     * differ from the CPU's by the activation's rounding, which is finer.
     */
    public static final String KQUANT_Q8K_PROPERTY = "llmj.cuda.kquantQ8K";

    /**
     * {@code -Dllmj.cuda.gptqGroupScales=false} uploads a GPTQ layer's scales and zero points per 32-column block, as
     * {@link GptqMatrix} holds them. By default, where the checkpoint's group spans a power of two of blocks (64, 128,
     * ... columns) and every block repeats its group's values, they go to the device once per group
     * ({@code llmj_gptq_matrix.group_blocks}): 4.19 instead of 4.75 bits per weight at 4 bits, group 128.
     */
    public static final String GPTQ_GROUP_SCALES_PROPERTY = "llmj.cuda.gptqGroupScales";

    /**
     * {@code -Dllmj.cuda.fuse=false} runs every op as its own kernel. By default {@link #ropeStoreKv} and
     * {@link #addRmsNorm} are one kernel each; a norm, GLU or attention whose output feeds a per-token
     * product of GPTQ-layout weights also writes that product's Q8 activation (so the product skips its
     * conversion), and {@link #matmulAdd} of such a product adds into the residual in the product's kernel;
     * the results are the same bit for bit.
     */
    public static final String FUSE_PROPERTY = "llmj.cuda.fuse";

    /**
     * {@code -Dllmj.cuda.fuse.norm=false} (with {@link #FUSE_PROPERTY} on) keeps every RMS norm a kernel of its own.
     * By default a one-token {@link #matmulAddNorm} of a GPTQ-layout product reading Q8_0 blocks (Q4_0, Q8_0, GPTQ, and
     * the repacked K-quants unless {@link #KQUANT_Q8K_PROPERTY}) folds the norm
     * into that product and the products reading its output: equal to the separate kernels up to rounding (the norm's
     * scale multiplies the products' sums instead of the activation before its Q8 conversion, whose scale stays in
     * float32), not bit for bit.
     */
    public static final String FUSE_NORM_PROPERTY = "llmj.cuda.fuse.norm";

    /**
     * {@code -Dllmj.cuda.fuse.glu=false} (with {@link #FUSE_NORM_PROPERTY} on) keeps the GLU a kernel of its own. By
     * default a one-token {@link #matmulGlu} whose input is a folded norm's output ({@link #FUSE_NORM_PROPERTY}) runs the
     * gate and up products and the activation as one kernel ({@code llmj_cuda_gptq_matmul_norm_glu}), which also converts
     * the output for the down projection: equal to the separate kernels up to the order of the float additions.
     */
    public static final String FUSE_GLU_PROPERTY = "llmj.cuda.fuse.glu";

    /** The operands a batch is multiplied with; {@link #EXACT}: the per-token kernels. */
    enum GemmPath { EXACT, F32, F16, BF16 }

    private final int device;
    private final Cuda.Device info;
    private final Gemm gemm;
    private final int gemmMinTokens;
    private final List<DeviceBuffer> weights = new ArrayList<>();
    private PinnedUploader uploader;  // null until the first weight; dropped by finishLoading
    private boolean syncUploads;      // pinned staging unavailable: plain cudaMemcpy
    private final Map<RopeConfig, DeviceBuffer> ropeTables = new HashMap<>();
    private final Set<GgmlType> noDequantize = EnumSet.noneOf(GgmlType.class);
    /** Where the llmj_gptq_matrix descriptors of GPTQ-layout weights live (host memory, device pointers). */
    private final Arena descriptors = Arena.ofShared();
    /** Whether Q4_0 / Q8_0 matrices are repacked into the GPTQ layout at load ({@link #REPACK_PROPERTY}). */
    private final boolean repack = Boolean.parseBoolean(System.getProperty(REPACK_PROPERTY, "true"));
    /** Whether Q4_K / Q5_K / Q6_K matrices are repacked into the GPTQ layout at load ({@link #REPACK_KQUANTS_PROPERTY}). */
    private final boolean repackKquants = repack && Boolean.parseBoolean(System.getProperty(REPACK_KQUANTS_PROPERTY, "true"));
    /** Whether repacked K-quant products read Q8_K activations ({@link #KQUANT_Q8K_PROPERTY}), else Q8_0 blocks. */
    private final boolean kquantQ8k = Boolean.parseBoolean(System.getProperty(KQUANT_Q8K_PROPERTY, "false"));
    /** Whether GPTQ scales and zero points go to the device per group where they can ({@link #GPTQ_GROUP_SCALES_PROPERTY}). */
    private final boolean gptqGroupScales = Boolean.parseBoolean(System.getProperty(GPTQ_GROUP_SCALES_PROPERTY, "true"));
    private DeviceBuffer repackStaging; // raw Q4_0 / Q8_0 rows on their way to the repacked layout
    private final boolean fuse = Boolean.parseBoolean(System.getProperty(FUSE_PROPERTY, "true"));
    /** {@link #ropeAttention}'s folded kernel ({@code -Dllmj.cuda.fuse.rope=false} turns only it off: a measurement knob). */
    private final boolean fuseRope = fuse && Boolean.parseBoolean(System.getProperty("llmj.cuda.fuse.rope", "true"));
    /** Q8 activation blocks written by the last fused norm / GLU ({@link #FUSE_PROPERTY}). */
    private DeviceBuffer act8;
    /** Zeroed split counters of llmj_cuda_attention_q8 ({@link #attentionCounters}). */
    private DeviceBuffer attnCounters;
    /**
     * Whether a weight that reads Q8_0 activation blocks was loaded (GPTQ layout: format 0, or a K-quant with
     * {@code act32}): only then do norms, GLUs and attention convert their outputs (to Q8_0 blocks).
     */
    private volatile boolean gptqLayout;
    /**
     * Whether a repacked K-quant weight reading Q8_K was loaded ({@link #KQUANT_Q8K_PROPERTY}; and no weight reading Q8_0
     * blocks): then norms and GLUs convert their outputs to Q8_K, those products' input.
     */
    private volatile boolean kquantLayout;
    /** The buffer whose current contents {@link #act8} converts ({@link #act8Count} floats), or null. */
    private Buffer act8Of;
    private long act8Count;
    /** Whether {@link #act8} holds Q8_K arrays (else Q8_0 blocks). */
    private boolean act8Q8k;
    /**
     * {@link #matmulAddNorm}'s folded norm ({@link #FUSE_NORM_PROPERTY}): the product writes the next norm's input
     * unnormalized to {@link #normAct} and the products reading it apply the norm's scale.
     */
    private final boolean fuseNorm = fuse && Boolean.parseBoolean(System.getProperty(FUSE_NORM_PROPERTY, "true"));
    /** {@link #matmulGlu}'s folded GLU ({@link #FUSE_GLU_PROPERTY}). */
    private final boolean fuseGlu = fuseNorm && Boolean.parseBoolean(System.getProperty(FUSE_GLU_PROPERTY, "true"));
    private long gluFolds;
    /** The folded norm's conversion and block sums of squares (llmj_cuda_gptq_matmul_act_add_norm). */
    private DeviceBuffer normAct;
    /** The folded norm whose output buffer is not written yet, or null ({@link #materialize}). */
    private DeferredNorm deferred;
    private long normFolds;

    /** A norm folded into the product before it: {@code out = rmsNorm(acc)} is in {@link #normAct}, not in {@code out}. */
    private record DeferredNorm(Buffer acc, Buffer out, DeviceWeight gain, float gainOffset, float eps, int dim, int n) {
    }

    /** Tokens of the last norm: whether the layer's products run per token (so a GLU's conversion is used). */
    private int layerTokens = Integer.MAX_VALUE;
    private DeviceBuffer scratch;     // matmul activations / embedding ids
    private MemorySegment readPinned; // pinned host staging of read() ({@link #pinnedRead}), null until the first read
    /** cudaMallocHost failed once, or -Dllmj.cuda.pinnedRead=false (a measurement knob): reads stage through pageable memory. */
    private boolean noPinnedRead = "false".equalsIgnoreCase(System.getProperty("llmj.cuda.pinnedRead"));
    /** Scratch buffers replaced by bigger ones; kept until close() because captured graphs may point into them. */
    private final List<DeviceBuffer> retired = new ArrayList<>();
    /** The stream every op is enqueued on (blocking: ordered with the legacy-stream copies of write/read). */
    private final MemorySegment stream;
    /** Decode-step graphs, one per generation state ({@link #decodeStep}). */
    private final Map<Object, StepGraph> graphs = new HashMap<>();
    /** Decode-step graphs that end in the greedy choice ({@link #decodeGreedy}), one per generation state. */
    private final Map<Object, StepGraph> greedyGraphs = new HashMap<>();
    /** The graph being recorded, or null: ops then read the token and position from its device slot. */
    private StepGraph capturing;
    private int capturingBound;                                // the largest position the graph recorded is replayed at
    private DeviceBuffer gemmWeights; // weights dequantized / converted to F16 for the GEMM
    private DeviceBuffer gemmInput;   // activations rounded to F16 / BF16 for the GEMM
    private MemorySegment cublas;     // cuBLAS handle, created on the first GEMM
    private String cublasUnavailable; // why the GEMM path is off, once cuBLAS failed to start
    private boolean closed;

    /** Uses device 0. @throws io.llmj.BackendUnavailableException if CUDA is unusable here */
    public CudaBackend() {
        this(0);
    }

    /**
     * Uses usable device number {@code device} (an index into {@link Cuda#devices()}), prefill path from
     * {@link #GEMM_PROPERTY}.
     *
     * @throws BackendUnavailableException if CUDA is unusable here or there is no such device
     */
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
            int st = CudaRuntime.cudaStreamCreateWithFlags(p, 0);
            if (st == CudaRuntime.cudaErrorMemoryAllocation()) {   // a full device fails here first
                CudaRuntime.cudaGetLastError();
                throw Cuda.outOfMemory("the backend's stream", 0);
            }
            Cuda.check(st, "cudaStreamCreateWithFlags");
            stream = p.get(ValueLayout.ADDRESS, 0);
        }
        if (gemmMinTokens < 1) {
            throw new IllegalArgumentException("gemmMinTokens " + gemmMinTokens + " < 1");
        }
        this.gemm = gemm;
        this.gemmMinTokens = gemmMinTokens;
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
        if (type.isGptq()) {        // GPTQ layers: matmul only (llmj_cuda_gptq_matmul), 4 and 8 bits
            return op == Op.MATMUL && (type == GgmlType.GPTQ4 || type == GgmlType.GPTQ8);
        }
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
    /**
     * A weight on the device. {@code gptq}: its llmj_gptq_matrix descriptor where the data is in the GPTQ layout
     * (GPTQ checkpoints, repacked Q4_0 / Q8_0), else null.
     */
    record DeviceWeight(String name, GgmlType type, int rows, int cols, long rowBytes, DeviceBuffer data, MemorySegment gptq)
            implements Weight {
        DeviceWeight(String name, GgmlType type, int rows, int cols, long rowBytes, DeviceBuffer data) {
            this(name, type, rows, cols, rowBytes, data, null);
        }
    }

    /** The device buffer; makes the calling thread use this backend's device. */
    private DeviceBuffer dev(Buffer b) {
        onDevice();
        if (deferred != null && b == deferred.out()) {
            materialize();
        }
        return (DeviceBuffer) b;
    }

    /** Writes a folded norm's output buffer (llmj_cuda_rms_norm of the accumulator, which nothing has changed since). */
    private void materialize() {
        DeferredNorm d = deferred;
        deferred = null;
        NativeStatus.check(LlmjCuda.llmj_cuda_rms_norm(dev(d.acc()).ptr, d.gain().data().ptr, d.gainOffset(), dev(d.out()).ptr,
                d.dim(), d.n(), d.eps(), stream), "llmj_cuda_rms_norm");
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
        if (type.isGptq()) {
            return gptqWeight(name, type, shape, data);
        }
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
        if (repack && shape.length == 2 && (t == GgmlType.Q4_0 || t == GgmlType.Q8_0) && cols % 32 == 0) {
            return repackedWeight(name, t, (int) rows, (int) cols, rowBytes, src.asSlice(0, bytes));
        }
        if (repackKquants && shape.length == 2 && (t == GgmlType.Q4_K || t == GgmlType.Q5_K || t == GgmlType.Q6_K) && cols % 256 == 0) {
            return repackedKquant(name, t, (int) rows, (int) cols, rowBytes, src.asSlice(0, bytes));
        }
        DeviceBuffer buf = new DeviceBuffer(cols * rows, bytes, t, name, false);
        weights.add(buf);
        upload(buf, src.asSlice(0, bytes));
        return new DeviceWeight(name, t, (int) rows, (int) cols, rowBytes, buf);
    }

    /**
     * A Q4_0 / Q8_0 matrix in the GPTQ layout: the raw rows go through a device staging buffer, and
     * {@code llmj_cuda_gptq_repack_q}, enqueued behind the copy, writes the scales (first, 256-byte aligned) and
     * the quants of the weight's buffer. Same bytes as the raw rows.
     */
    private Weight repackedWeight(String name, GgmlType t, int rows, int cols, long rowBytes, MemorySegment raw) {
        long blocks = (long) rows * (cols / 32);
        long scaleBytes = (2 * blocks + 255) & ~255L;
        long quantBytes = blocks * (t == GgmlType.Q4_0 ? 16 : 32);
        DeviceBuffer buf = new DeviceBuffer((long) rows * cols, scaleBytes + quantBytes, t, name, false);
        weights.add(buf);
        MemorySegment s = stage(name, raw);
        NativeStatus.check(LlmjCuda.llmj_cuda_gptq_repack_q(t.id(), repackStaging.ptr, rowBytes, rows, cols,
                buf.at(scaleBytes), buf.ptr, s), "llmj_cuda_gptq_repack_q(" + name + ")");
        if (uploader == null) {
            Cuda.check(CudaRuntime.cudaStreamSynchronize(stream), "cudaStreamSynchronize (repacking " + name + ")");
        }
        gptqLayout = true;
        MemorySegment d = descriptor(t == GgmlType.Q4_0 ? 4 : 8, rows, cols, MemorySegment.NULL, buf.ptr, MemorySegment.NULL,
                buf.at(scaleBytes));
        return new DeviceWeight(name, t, rows, cols, rowBytes, buf, d);
    }

    /** An llmj_gptq_matrix descriptor (format 0, per-block scales unless set after) of device pointers, kept in {@link #descriptors}. */
    private MemorySegment descriptor(int bits, int rows, int cols, MemorySegment perm, MemorySegment scales, MemorySegment zeros,
                                     MemorySegment qs) {
        MemorySegment d = descriptors.allocate(llmj_gptq_matrix.layout());
        llmj_gptq_matrix.bits(d, bits);
        llmj_gptq_matrix.rows(d, rows);
        llmj_gptq_matrix.cols(d, cols);
        llmj_gptq_matrix.perm(d, perm);
        llmj_gptq_matrix.scales(d, scales);
        llmj_gptq_matrix.zeros(d, zeros);
        llmj_gptq_matrix.qs(d, qs);
        return d;
    }

    /**
     * A Q4_K / Q5_K / Q6_K matrix in the GPTQ layout ({@code llmj_cuda_kquant_repack}, behind the copy of the raw rows
     * into the staging buffer): super-block table, block scales and quants in one buffer, each section 256-byte
     * aligned. Q4_K takes 148 bytes per 256 weights instead of 144, Q5_K 180 instead of 176, Q6_K the same 210.
     */
    private Weight repackedKquant(String name, GgmlType t, int rows, int cols, long rowBytes, MemorySegment raw) {
        int bits = t == GgmlType.Q4_K ? 4 : t == GgmlType.Q5_K ? 5 : 6;
        long blocks = (long) rows * (cols / 32);
        long superBytes = ((long) rows * (cols / 256) * (bits == 6 ? 2 : 4) + 255) & ~255L;
        long scaleBytes = (2 * blocks + 255) & ~255L;
        long quantBytes = blocks * (bits == 4 ? 16 : bits == 5 ? 20 : 24);
        DeviceBuffer buf = new DeviceBuffer((long) rows * cols, superBytes + scaleBytes + quantBytes, t, name, false);
        weights.add(buf);
        MemorySegment s = stage(name, raw);
        NativeStatus.check(LlmjCuda.llmj_cuda_kquant_repack(t.id(), repackStaging.ptr, rowBytes, rows, cols,
                buf.at(superBytes + scaleBytes), buf.at(superBytes), buf.ptr, s), "llmj_cuda_kquant_repack(" + name + ")");
        if (uploader == null) {
            Cuda.check(CudaRuntime.cudaStreamSynchronize(stream), "cudaStreamSynchronize (repacking " + name + ")");
        }
        if (kquantQ8k) {
            kquantLayout = true;
        } else {
            gptqLayout = true;
        }
        MemorySegment d = descriptor(bits, rows, cols, MemorySegment.NULL, buf.at(superBytes), MemorySegment.NULL,
                buf.at(superBytes + scaleBytes));
        llmj_gptq_matrix.format(d, t.id());
        llmj_gptq_matrix.super_(d, buf.ptr);
        llmj_gptq_matrix.act32(d, kquantQ8k ? 0 : 1);
        return new DeviceWeight(name, t, rows, cols, rowBytes, buf, d);
    }

    /**
     * Copies raw rows into the repack staging buffer (grown as needed) and returns the stream the repack kernel
     * must run on: behind that copy.
     */
    private MemorySegment stage(String name, MemorySegment raw) {
        long rawBytes = raw.byteSize();
        if (repackStaging == null || repackStaging.bytes < rawBytes) {
            if (repackStaging != null) {
                repackStaging.close();        // cudaFree waits for the repacks still reading it
            }
            repackStaging = new DeviceBuffer(rawBytes, rawBytes, GgmlType.I8, "the repacking of " + name, false);
        }
        upload(repackStaging, raw);
        return uploader != null ? uploader.stream() : stream;
    }

    /**
     * A GPTQ layer: its repacked segment (header, perm, scales, zeros, quants; sections 64-byte aligned) uploaded
     * as it is, and an llmj_gptq_matrix descriptor whose pointers are the device addresses of its sections.
     */
    private Weight gptqWeight(String name, GgmlType type, long[] shape, MemorySegment data) {
        if (type != GgmlType.GPTQ4 && type != GgmlType.GPTQ8) {
            throw new UnsupportedOperationException("cuda backend: no kernels for " + type + " weights (" + name + ")");
        }
        GptqMatrix m;
        try {
            m = GptqMatrix.of(data);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(name + ": " + e.getMessage(), e);
        }
        if (shape.length != 2 || m.cols() != shape[0] || m.rows() != shape[1] || m.type() != type) {
            throw new IllegalArgumentException(name + ": " + m + " does not match type " + type + " shape "
                    + java.util.Arrays.toString(shape));
        }
        onDevice();
        int groupBlocks = groupBlocks(m);
        if (groupBlocks > 1) {
            return groupedGptqWeight(name, type, m, groupBlocks);
        }
        long base = data.address();
        long bytes = m.qs().address() + m.qs().byteSize() - base;
        DeviceBuffer buf = new DeviceBuffer(bytes, bytes, GgmlType.I8, name, false);
        weights.add(buf);
        upload(buf, data.asSlice(0, bytes));
        gptqLayout = true;
        MemorySegment d = descriptor(m.bits(), m.rows(), m.cols(),
                m.perm() == null ? MemorySegment.NULL : buf.at(m.perm().address() - base), buf.at(m.scales().address() - base),
                buf.at(m.zeros().address() - base), buf.at(m.qs().address() - base));
        return new DeviceWeight(name, type, m.rows(), m.cols(), m.rowQBytes(), buf, d);
    }

    /**
     * The blocks per group whose scale and zero point every block of the group repeats ({@link #GPTQ_GROUP_SCALES_PROPERTY}):
     * the checkpoint's group size / 32 where that is a power of two above 1 and the layer's blocks agree (checked), else 1.
     */
    private int groupBlocks(GptqMatrix m) {
        int g = m.groupSize();
        if (!gptqGroupScales || g <= GptqMatrix.BLOCK || g % GptqMatrix.BLOCK != 0 || Integer.bitCount(g / GptqMatrix.BLOCK) != 1) {
            return 1;
        }
        int gb = g / GptqMatrix.BLOCK;
        int nb = m.blocks();
        MemorySegment sc = m.scales();
        MemorySegment z = m.zeros();
        boolean repeated = rows(m).allMatch(r -> {
            long row = (long) r * nb;
            for (int b = 0; b < nb; b++) {
                long first = row + b / gb * gb;
                if (sc.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * (row + b)) != sc.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * first)
                        || z.get(ValueLayout.JAVA_BYTE, row + b) != z.get(ValueLayout.JAVA_BYTE, first)) {
                    return false;
                }
            }
            return true;
        });
        return repeated ? gb : 1;
    }

    /** An unstarted thread: no segment is confined to it, so only shared segments are accessible by it. */
    private static final Thread NOT_AN_OWNER = new Thread(() -> { });

    /** The row indices of m, in parallel where its segment may be read from other threads (not confined to this one). */
    private static IntStream rows(GptqMatrix m) {
        IntStream r = IntStream.range(0, m.rows());
        return m.segment().isAccessibleBy(NOT_AN_OWNER) ? r.parallel() : r;
    }

    /**
     * A GPTQ layer whose scales and zero points go to the device once per group of {@code gb} blocks: one buffer with the
     * quants as the segment holds them, one with the permutation (if any) and the per-group scales and zeros (each section
     * 256-byte aligned), described with {@code group_blocks = gb}.
     */
    private Weight groupedGptqWeight(String name, GgmlType type, GptqMatrix m, int gb) {
        int rows = m.rows();
        int nb = m.blocks();
        int ng = (nb + gb - 1) / gb;
        long permBytes = m.perm() == null ? 0 : (m.perm().byteSize() + 255) & ~255L;
        long scaleBytes = (2L * rows * ng + 255) & ~255L;
        long zeroBytes = (long) rows * ng;
        DeviceBuffer q = new DeviceBuffer(m.qs().byteSize(), m.qs().byteSize(), GgmlType.I8, name, false);
        weights.add(q);
        upload(q, m.qs());
        DeviceBuffer meta = new DeviceBuffer(permBytes + scaleBytes + zeroBytes, permBytes + scaleBytes + zeroBytes, GgmlType.I8,
                name + " (scales)", false);
        weights.add(meta);
        try (Arena a = Arena.ofShared()) {
            MemorySegment host = a.allocate(permBytes + scaleBytes + zeroBytes, 256);
            if (m.perm() != null) {
                MemorySegment.copy(m.perm(), 0, host, 0, m.perm().byteSize());
            }
            MemorySegment sc = m.scales();
            MemorySegment z = m.zeros();
            rows(m).forEach(r -> {
                for (int g = 0; g < ng; g++) {
                    long from = (long) r * nb + (long) g * gb;
                    long to = (long) r * ng + g;
                    host.set(ValueLayout.JAVA_SHORT_UNALIGNED, permBytes + 2 * to, sc.get(ValueLayout.JAVA_SHORT_UNALIGNED, 2 * from));
                    host.set(ValueLayout.JAVA_BYTE, permBytes + scaleBytes + to, z.get(ValueLayout.JAVA_BYTE, from));
                }
            });
            upload(meta, host);
        }
        gptqLayout = true;
        MemorySegment d = descriptor(m.bits(), rows, m.cols(), m.perm() == null ? MemorySegment.NULL : meta.ptr,
                meta.at(permBytes), meta.at(permBytes + scaleBytes), q.ptr);
        llmj_gptq_matrix.group_blocks(d, gb);
        return new DeviceWeight(name, type, rows, m.cols(), m.rowQBytes(), q, d);
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
        if (repackStaging != null) {
            repackStaging.close();
            repackStaging = null;
        }
        syncUploads = false;
    }

    @Override
    public synchronized void write(Buffer dst, long offset, float[] src, int srcOff, int n) {
        wrote(dst);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(4L * n, 64);
            MemorySegment.copy(src, srcOff, h, F32, 0, n);
            Cuda.check(CudaRuntime.cudaMemcpy(dev(dst).at(4 * offset), h, 4L * n, CudaRuntime.cudaMemcpyHostToDevice()),
                    "cudaMemcpy host->device");
        }
    }

    /**
     * Reads of up to {@link #PINNED_READ_MAX} bytes (a decode step's logits) go through one pinned host buffer,
     * reused: no allocation per call, and a direct DMA copy instead of the driver's staging of pageable memory.
     */
    @Override
    public synchronized void read(Buffer src, long offset, float[] dst, int dstOff, int n) {
        long bytes = 4L * n;
        if (bytes <= PINNED_READ_MAX && pinnedRead(bytes)) {
            Cuda.check(CudaRuntime.cudaMemcpyAsync(readPinned, dev(src).at(4 * offset), bytes,
                    CudaRuntime.cudaMemcpyDeviceToHost(), stream), "cudaMemcpyAsync device->host");
            Cuda.check(CudaRuntime.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
            MemorySegment.copy(readPinned, F32, 0, dst, dstOff, n);
            return;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(bytes, 64);
            Cuda.check(CudaRuntime.cudaMemcpy(h, dev(src).at(4 * offset), bytes, CudaRuntime.cudaMemcpyDeviceToHost()),
                    "cudaMemcpy device->host");
            MemorySegment.copy(h, F32, 0, dst, dstOff, n);
        }
    }

    private static final long PINNED_READ_MAX = 16L << 20;

    /** Whether {@link #readPinned} holds {@code bytes} (grown on demand; false where pinned memory is unavailable). */
    private boolean pinnedRead(long bytes) {
        if (readPinned != null && readPinned.byteSize() >= bytes) {
            return true;
        }
        if (noPinnedRead) {
            return false;
        }
        long size = Math.max(bytes, 1L << 18);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ValueLayout.ADDRESS);
            if (CudaRuntime.cudaMallocHost(p, size) != 0) {
                CudaRuntime.cudaGetLastError();
                noPinnedRead = true;
                return false;
            }
            if (readPinned != null) {
                CudaRuntime.cudaFreeHost(readPinned);
            }
            readPinned = p.get(ValueLayout.ADDRESS, 0).reinterpret(size);
            return true;
        }
    }

    @Override
    public synchronized void copy(Buffer src, long srcOff, Buffer dst, long dstOff, long n) {
        wrote(dst);
        Cuda.check(CudaRuntime.cudaMemcpy(dev(dst).at(4 * dstOff), dev(src).at(4 * srcOff), 4 * n,
                CudaRuntime.cudaMemcpyDeviceToDevice()), "cudaMemcpy device->device");
    }

    /**
     * {@code current} if it holds {@code bytes}, else a new zeroed buffer of at least {@code max(bytes, min)}
     * bytes with {@code current} retired (a recorded graph may still point into it: freed at close()). The new
     * buffer is allocated first, so a failed allocation leaves {@code current} in use. Never while a graph is
     * recorded.
     */
    private DeviceBuffer grown(DeviceBuffer current, long bytes, long min, String what) {
        if (current != null && current.bytes >= bytes) {
            return current;
        }
        if (capturing != null) {
            throw new IllegalStateException(what + " must not grow while a graph is recorded");
        }
        long n = Math.max(bytes, min);
        DeviceBuffer b = new DeviceBuffer(n, n, GgmlType.I8, what, true);
        if (current != null) {
            retired.add(current);
        }
        return b;
    }

    private DeviceBuffer scratch(long bytes) {
        scratch = grown(scratch, bytes, 1 << 16, "scratch");
        return scratch;
    }

    /** The fused conversions' buffer, at least {@code bytes}. */
    private DeviceBuffer act8(long bytes) {
        act8 = grown(act8, bytes, 1 << 16, "the activation buffer");
        return act8;
    }

    /**
     * Zeroed counters for llmj_cuda_attention_q8's in-kernel merge of split-K decode (each call leaves them
     * zeroed), at least {@code bytes}.
     */
    private DeviceBuffer attentionCounters(long bytes) {
        attnCounters = grown(attnCounters, bytes, 4096, "the attention split counters");
        return attnCounters;
    }

    /** Forgets the converted activation if {@code b}, which an op is about to write, is what it converts. */
    private void wrote(Buffer b) {
        if (b == act8Of) {
            act8Of = null;
        }
        if (deferred != null && (b == deferred.acc() || b == deferred.out())) {
            materialize();
        }
    }

    /** Whether products over {@code n} tokens run the per-token kernels (where a converted activation is read). */
    private boolean perToken(int n) {
        return gemm == Gemm.OFF || n < gemmMinTokens || !cublasReady();
    }

    /** Whether {@link #act8} holds {@code x} converted for a GPTQ-layout product of {@code m} over {@code n} tokens. */
    private boolean converted(Buffer x, int n, DeviceWeight m) {
        return x == act8Of && act8Count == (long) n * m.cols() && m.gptq() != null && m.cols() % 32 == 0
                && llmj_gptq_matrix.perm(m.gptq()).address() == 0 && readsQ8k(m.gptq()) == act8Q8k;
    }

    /** Whether the GPTQ-layout matrix {@code d} reads Q8_K activations (a K-quant without act32), else Q8_0 blocks. */
    private static boolean readsQ8k(MemorySegment d) {
        return llmj_gptq_matrix.format(d) != 0 && llmj_gptq_matrix.act32(d) == 0;
    }

    // ---- ops ---------------------------------------------------------------------------------

    @Override
    public synchronized void embed(Weight table, int[] ids, float scale, Buffer out) {
        wrote(out);
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
        if (w.gptq() != null) {
            NativeStatus.check(LlmjCuda.llmj_cuda_gptq_get_rows(w.gptq(), idsDev, ids.length, scale, dev(out).ptr, stream),
                    "llmj_cuda_gptq_get_rows(" + w.name() + ")");
            return;
        }
        NativeStatus.check(LlmjCuda.llmj_cuda_get_rows(w.type().id(), w.data().ptr, w.rowBytes(), idsDev, ids.length,
                w.cols(), scale, dev(out).ptr, stream), "llmj_cuda_get_rows(" + w.name() + ")");
    }

    @Override
    public synchronized void rmsNorm(Buffer x, Weight gain, float eps, float gainOffset, int dim, int n, Buffer out) {
        norm(x, null, gain, eps, gainOffset, dim, n, out);
    }

    @Override
    public synchronized void addRmsNorm(Buffer x, Buffer y, Weight gain, float eps, float gainOffset, int dim, int n,
                                        Buffer out) {
        if (!fuse) {
            Backend.super.addRmsNorm(x, y, gain, eps, gainOffset, dim, n, out);
            return;
        }
        norm(x, y, gain, eps, gainOffset, dim, n, out);
    }

    /** RMSNorm, after {@code x += y} when y is not null, converting the output for the next products where they read it. */
    private void norm(Buffer x, Buffer y, Weight gain, float eps, float gainOffset, int dim, int n, Buffer out) {
        layerTokens = n;
        wrote(x);
        wrote(out);
        if (convertsQ8k() && dim % 256 == 0 && dim <= 8192 && perToken(n)) {
            MemorySegment act = act8(LlmjCuda.llmj_cuda_gptq_work_size(dim, n)).ptr;
            NativeStatus.check(LlmjCuda.llmj_cuda_rms_norm_q8k(dev(x).ptr, y == null ? MemorySegment.NULL : dev(y).ptr,
                    dw(gain).data().ptr, gainOffset, dev(out).ptr, dim, n, eps, act, stream), "llmj_cuda_rms_norm_q8k");
            converts(out, (long) n * dim, true);
            return;
        }
        boolean convert = fuse && gptqLayout && dim % 32 == 0 && perToken(n);
        if (y == null && !convert) {
            NativeStatus.check(LlmjCuda.llmj_cuda_rms_norm(dev(x).ptr, dw(gain).data().ptr, gainOffset, dev(out).ptr, dim, n,
                    eps, stream), "llmj_cuda_rms_norm");
            return;
        }
        MemorySegment act = convert ? act8(LlmjCuda.llmj_cuda_gptq_work_size(dim, n)).ptr : MemorySegment.NULL;
        NativeStatus.check(LlmjCuda.llmj_cuda_rms_norm_fused(dev(x).ptr, y == null ? MemorySegment.NULL : dev(y).ptr,
                dw(gain).data().ptr, gainOffset, dev(out).ptr, dim, n, eps, act, stream), "llmj_cuda_rms_norm_fused");
        if (convert) {
            converts(out, (long) n * dim, false);
        }
    }

    /** Whether fused norms and GLUs write Q8_K (repacked K-quants loaded and no Q8_0-activation GPTQ-layout weight). */
    private boolean convertsQ8k() {
        return fuse && kquantLayout && !gptqLayout;
    }

    /** Records that {@link #act8} now holds {@code out}'s first {@code count} floats as Q8_K arrays or Q8_0 blocks. */
    private void converts(Buffer out, long count, boolean q8k) {
        act8Of = out;
        act8Count = count;
        act8Q8k = q8k;
    }

    @Override
    public synchronized void matmul(Weight w, Buffer x, int n, Buffer out) {
        if (deferred != null && x == deferred.out() && deferredProducts(x, n, new Weight[] {w}, new Buffer[] {out})) {
            return;
        }
        DeviceWeight m = dw(w);
        checkBuffers(m, x, n, out);
        wrote(out);
        GemmPath path = gemmPath(m, n);
        if (path != GemmPath.EXACT && gemm(m, dev(x), n, dev(out), path)) {
            return;
        }
        if (converted(x, n, m)) {                                 // the norm / GLU before converted x already
            try (Arena a = Arena.ofConfined()) {
                NativeStatus.check(LlmjCuda.llmj_cuda_gptq_matmul_act(1, m.gptq(), act8.ptr,
                        a.allocateFrom(ValueLayout.ADDRESS, dev(out).ptr), n, stream), "llmj_cuda_gptq_matmul_act(" + m.name() + ")");
            }
            return;
        }
        if (m.gptq() != null) {
            long work = LlmjCuda.llmj_cuda_gptq_work_size(m.cols(), n);
            NativeStatus.check(LlmjCuda.llmj_cuda_gptq_matmul(m.gptq(), dev(x).ptr, dev(out).ptr, n, scratch(work).ptr, work,
                    stream), "llmj_cuda_gptq_matmul(" + m.name() + ")");
            return;
        }
        long work = LlmjCuda.llmj_cuda_matmul_work_size(m.type().id(), m.cols(), n);
        MemorySegment wp = work > 0 ? scratch(work).ptr : MemorySegment.NULL;
        NativeStatus.check(LlmjCuda.llmj_cuda_matmul(m.type().id(), m.data().ptr, m.rowBytes(), dev(x).ptr, dev(out).ptr,
                m.rows(), m.cols(), n, wp, work, stream), "llmj_cuda_matmul(" + m.name() + ")");
    }

    /**
     * {@code acc += W x} in one kernel ({@code llmj_cuda_gptq_matmul_act_add}) where x was converted by the
     * GLU before for a GPTQ-layout product; otherwise {@link #matmul} into {@code tmp} and {@link #add}. The
     * results are the same either way.
     */
    @Override
    public synchronized void matmulAdd(Weight w, Buffer x, int n, Buffer acc, Buffer tmp) {
        DeviceWeight m = dw(w);
        if (!fuse || !converted(x, n, m) || gemmPath(m, n) != GemmPath.EXACT) {
            Backend.super.matmulAdd(w, x, n, acc, tmp);
            return;
        }
        checkBuffers(m, x, n, acc);
        wrote(acc);
        NativeStatus.check(LlmjCuda.llmj_cuda_gptq_matmul_act_add(m.gptq(), act8.ptr, dev(acc).ptr, n, stream),
                "llmj_cuda_gptq_matmul_act_add(" + m.name() + ")");
    }

    /**
     * One token through a GPTQ-layout product reading Q8_0 blocks (Q4_0, Q8_0, GPTQ, act32 K-quants) whose input the
     * attention or GLU before converted: {@code llmj_cuda_gptq_matmul_act_add_norm} adds the product into {@code acc}
     * and writes the next norm's input, unnormalized, with its sums of squares; the products that read {@code out} next
     * apply the norm's scale ({@link #deferredProducts}), so no norm kernel runs between them. {@code out} is written
     * only if something else needs it ({@link #materialize}). Otherwise the default calls.
     */
    @Override
    public synchronized void matmulAddNorm(Weight w, Buffer x, int n, Buffer acc, Buffer tmp, Weight gain, float eps,
                                           float gainOffset, int dim, Buffer out) {
        DeviceWeight m = dw(w);
        if (deferred != null && deferred.out() == out && x != out) {
            deferred = null;                                      // out is rewritten below: the pending norm is moot
        }
        if (!fuseNorm || n != 1 || !converted(x, n, m) || gemmPath(m, n) != GemmPath.EXACT
                || readsQ8k(m.gptq()) || m.rows() != dim || dim % 32 != 0 || acc == out || x == out
                || !(gain instanceof DeviceWeight g) || g.type() != GgmlType.F32 || g.cols() * (long) g.rows() != dim) {
            Backend.super.matmulAddNorm(w, x, n, acc, tmp, gain, eps, gainOffset, dim, out);
            return;
        }
        checkBuffers(m, x, n, acc);
        if (dev(out).bytes < 4L * n * dim) {
            throw new IllegalArgumentException(m.name() + ": norm output of " + n * (long) dim + " floats, buffer holds "
                    + dev(out).bytes / 4);
        }
        wrote(acc);
        wrote(out);
        normAct = grown(normAct, LlmjCuda.llmj_cuda_gptq_norm_act_size(dim, n), 1 << 16, "the folded norm's buffer");
        NativeStatus.check(LlmjCuda.llmj_cuda_gptq_matmul_act_add_norm(m.gptq(), act8.ptr, dev(acc).ptr, n, g.data().ptr,
                gainOffset, normAct.ptr, stream), "llmj_cuda_gptq_matmul_act_add_norm(" + m.name() + ")");
        deferred = new DeferredNorm(acc, out, g, gainOffset, eps, dim, n);
        normFolds++;
    }

    /** Whether {@code out} is the output of a folded norm not written yet (tests assert the fold ran). */
    synchronized boolean normDeferred(Buffer out) {
        return deferred != null && deferred.out() == out;
    }

    /** How many norms {@link #matmulAddNorm} folded so far (recorded and warm-up steps; tests assert the fold ran). */
    synchronized long normFolds() {
        return normFolds;
    }

    /**
     * {@code outs[i] = ws[i] x} through {@code llmj_cuda_gptq_matmul_norm_act} where x is the output of a folded norm
     * ({@link #matmulAddNorm}) and every weight can read its conversion (Q8_0 blocks, its columns, one launch); false,
     * doing nothing, otherwise.
     */
    private boolean deferredProducts(Buffer x, int n, Weight[] ws, Buffer[] outs) {
        DeferredNorm d = deferred;
        if (!readsDeferred(d, x, n, ws)) {
            return false;
        }
        String names = deferredOutputs(d, n, ws, outs);
        try (Arena a = Arena.ofConfined()) {
            GptqArgs g = gptqArgs(a, ws, outs);
            NativeStatus.check(LlmjCuda.llmj_cuda_gptq_matmul_norm_act(ws.length, g.ms(), normAct.ptr, d.eps(), g.ys(), n, stream),
                    "llmj_cuda_gptq_matmul_norm_act(" + names + ")");
        }
        return true;
    }

    /**
     * Whether the weights {@code ws} can read {@code x} over {@code n} tokens in one launch as the folded norm {@code d}'s
     * output (null: none pending): GPTQ-layout matrices reading Q8_0 blocks of its columns, unpermuted, sharing a launch.
     */
    private boolean readsDeferred(DeferredNorm d, Buffer x, int n, Weight[] ws) {
        if (d == null || x != d.out() || n != d.n() || !(ws.length == 1 || shareable(ws, n))) {
            return false;
        }
        for (Weight w : ws) {
            if (!(w instanceof DeviceWeight m) || m.gptq() == null || gemmPath(m, n) != GemmPath.EXACT
                    || readsQ8k(m.gptq()) || m.cols() != d.dim()
                    || llmj_gptq_matrix.perm(m.gptq()).address() != 0) {
                return false;
            }
        }
        return true;
    }

    /** Checks and records the outputs of the folded norm {@code d}'s products {@code ws}; their names, for errors. */
    private String deferredOutputs(DeferredNorm d, int n, Weight[] ws, Buffer[] outs) {
        StringBuilder names = new StringBuilder();
        for (int i = 0; i < ws.length; i++) {
            DeviceWeight m = dw(ws[i]);
            if (outs[i] == d.out() || outs[i] == d.acc()) {
                throw new IllegalArgumentException(m.name() + ": the product's output is its own input's norm or accumulator");
            }
            checkBuffers(m, d.acc(), n, outs[i]);                 // (x itself has no floats yet)
            wrote(outs[i]);
            names.append(i == 0 ? "" : ", ").append(m.name());
        }
        return names.toString();
    }

    /**
     * One token's gate and up products of a folded norm's output ({@link #matmulAddNorm}) with the activation in the same
     * kernel ({@code llmj_cuda_gptq_matmul_norm_glu}): {@code gateOut} and its conversion for the down projection are
     * written, {@code upOut} is not. Where the weights cannot (not both GPTQ-layout matrices reading Q8_0 blocks of one
     * format, rows and columns, rows a multiple of 32) or the input is not a folded norm's, the default calls.
     */
    @Override
    public synchronized void matmulGlu(Buffer x, int n, Weight gate, Weight up, Buffer gateOut, Buffer upOut, boolean gelu) {
        DeferredNorm d = deferred;
        Weight[] ws = {gate, up};
        if (!fuseGlu || n != 1 || gateOut == upOut || !readsDeferred(d, x, n, ws)
                || llmj_gptq_matrix.format(dw(gate).gptq()) != llmj_gptq_matrix.format(dw(up).gptq())
                || gate.rows() != up.rows() || gate.rows() % 32 != 0) {
            Backend.super.matmulGlu(x, n, gate, up, gateOut, upOut, gelu);
            return;
        }
        Buffer[] outs = {gateOut, upOut};
        String names = deferredOutputs(d, n, ws, outs);
        MemorySegment act = act8(LlmjCuda.llmj_cuda_gptq_work_size(gate.rows(), n)).ptr;
        try (Arena a = Arena.ofConfined()) {
            GptqArgs args = gptqArgs(a, ws, outs);
            NativeStatus.check(LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(args.ms(), normAct.ptr, d.eps(), gelu ? 1 : 0,
                    dev(gateOut).ptr, act, n, stream), "llmj_cuda_gptq_matmul_norm_glu(" + names + ")");
        }
        converts(gateOut, (long) n * gate.rows(), false);
        gluFolds++;
    }

    /** How many GLUs {@link #matmulGlu} folded so far (tests assert the fold ran). */
    synchronized long gluFolds() {
        return gluFolds;
    }

    /** The arguments of the multi-matrix GPTQ entry points: the weights' llmj_gptq_matrix descriptors and the outputs. */
    private record GptqArgs(MemorySegment ms, MemorySegment ys) {
    }

    /** {@link GptqArgs} of GPTQ-layout {@code ws} and their outputs {@code outs}, allocated in {@code a}. */
    private GptqArgs gptqArgs(Arena a, Weight[] ws, Buffer[] outs) {
        MemorySegment ms = a.allocate(llmj_gptq_matrix.layout(), ws.length);
        MemorySegment ys = a.allocate(ValueLayout.ADDRESS, ws.length);
        long size = llmj_gptq_matrix.layout().byteSize();
        for (int i = 0; i < ws.length; i++) {
            MemorySegment.copy(dw(ws[i]).gptq(), 0, ms, i * size, size);
            ys.setAtIndex(ValueLayout.ADDRESS, i, dev(outs[i]).ptr);
        }
        return new GptqArgs(ms, ys);
    }

    /**
     * One kernel for all the products where the batch runs the per-token kernels and the weights allow it:
     * llmj_cuda_gptq_matmul_multi / _act (one activation conversion) where every weight is in the GPTQ layout
     * with the same bits and format (or repacked Q4_K and Q6_K together), columns, permutation and zero-point kind, llmj_cuda_matmul_multi where all are F32,
     * F16 or BF16 of one type and row size; otherwise {@link #matmul} per weight. The results are the same
     * either way.
     */
    @Override
    public synchronized void matmulShared(Buffer x, int n, Weight[] ws, Buffer[] outs) {
        if (ws.length != outs.length) {
            throw new IllegalArgumentException(ws.length + " weights but " + outs.length + " outputs");
        }
        if (deferredProducts(x, n, ws, outs)) {
            return;
        }
        boolean plain = plainShareable(ws, n);
        boolean kquant = !plain && kquantShareable(ws, n);
        if (!plain && !kquant && !shareable(ws, n)) {
            Backend.super.matmulShared(x, n, ws, outs);
            return;
        }
        StringBuilder names = new StringBuilder();
        for (int i = 0; i < ws.length; i++) {
            DeviceWeight m = dw(ws[i]);
            checkBuffers(m, x, n, outs[i]);
            wrote(outs[i]);
            names.append(i == 0 ? "" : ", ").append(m.name());
        }
        if (plain) {
            plainShared(x, n, ws, outs, names);
            return;
        }
        if (kquant) {
            kquantShared(x, n, ws, outs, names);
            return;
        }
        DeviceWeight m0 = dw(ws[0]);
        try (Arena a = Arena.ofConfined()) {
            GptqArgs g = gptqArgs(a, ws, outs);
            MemorySegment ms = g.ms();
            MemorySegment ys = g.ys();
            if (converted(x, n, m0)) {                            // the norm before converted x already
                NativeStatus.check(LlmjCuda.llmj_cuda_gptq_matmul_act(ws.length, ms, act8.ptr, ys, n, stream),
                        "llmj_cuda_gptq_matmul_act(" + names + ")");
                return;
            }
            long work = LlmjCuda.llmj_cuda_gptq_work_size(m0.cols(), n);
            NativeStatus.check(LlmjCuda.llmj_cuda_gptq_matmul_multi(ws.length, ms, dev(x).ptr, ys, n, scratch(work).ptr, work,
                    stream), "llmj_cuda_gptq_matmul_multi(" + names + ")");
        }
    }

    /** The K-quant block types (256-element super-blocks) of llmj_cuda_matmul_kquant_shared. */
    private static final Set<GgmlType> KQUANTS = EnumSet.of(GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K,
            GgmlType.Q6_K, GgmlType.IQ4_XS);

    /** {@code -Dllmj.cuda.shareKquants=false}: K-quant products convert their input each (a measurement knob). */
    private static final boolean SHARE_KQUANTS = !"false".equalsIgnoreCase(System.getProperty("llmj.cuda.shareKquants"));

    /** Whether {@code ws} are 2..4 K-quant matrices (any mix of them) of one width, multiplied per token. */
    private boolean kquantShareable(Weight[] ws, int n) {
        if (!SHARE_KQUANTS || ws.length < 2 || ws.length > 4 || n < 1 || !(ws[0] instanceof DeviceWeight m0) || m0.cols() % 256 != 0) {
            return false;
        }
        for (Weight w : ws) {
            if (!(w instanceof DeviceWeight m) || m.gptq() != null || !KQUANTS.contains(m.type()) || m.cols() != m0.cols()
                    || gemmPath(m, n) != GemmPath.EXACT) {
                return false;
            }
        }
        return true;
    }

    /** The products of {@link #kquantShareable} weights: one Q8_K conversion (llmj_cuda_matmul_kquant_shared). */
    private void kquantShared(Buffer x, int n, Weight[] ws, Buffer[] outs, CharSequence names) {
        DeviceWeight m0 = dw(ws[0]);
        long work = LlmjCuda.llmj_cuda_matmul_work_size(m0.type().id(), m0.cols(), n);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment types = a.allocate(ValueLayout.JAVA_INT, ws.length);
            MemorySegment wp = a.allocate(ValueLayout.ADDRESS, ws.length);
            MemorySegment rowBytes = a.allocate(ValueLayout.JAVA_LONG, ws.length);
            MemorySegment rows = a.allocate(ValueLayout.JAVA_LONG, ws.length);
            MemorySegment ys = a.allocate(ValueLayout.ADDRESS, ws.length);
            for (int i = 0; i < ws.length; i++) {
                DeviceWeight m = dw(ws[i]);
                types.setAtIndex(ValueLayout.JAVA_INT, i, m.type().id());
                wp.setAtIndex(ValueLayout.ADDRESS, i, m.data().ptr);
                rowBytes.setAtIndex(ValueLayout.JAVA_LONG, i, m.rowBytes());
                rows.setAtIndex(ValueLayout.JAVA_LONG, i, m.rows());
                ys.setAtIndex(ValueLayout.ADDRESS, i, dev(outs[i]).ptr);
            }
            NativeStatus.check(LlmjCuda.llmj_cuda_matmul_kquant_shared(ws.length, types, wp, rowBytes, rows, dev(x).ptr, ys,
                    m0.cols(), n, scratch(work).ptr, work, stream), "llmj_cuda_matmul_kquant_shared(" + names + ")");
        }
    }

    /** Whether {@code ws} are F32 / F16 / BF16 matrices of one type, columns and row size, multiplied per token. */
    private boolean plainShareable(Weight[] ws, int n) {
        if (ws.length < 2 || ws.length > 4 || n < 1 || !(ws[0] instanceof DeviceWeight m0)) {
            return false;
        }
        GgmlType t = m0.type();
        if (t != GgmlType.F16 && t != GgmlType.BF16 && t != GgmlType.F32) {
            return false;
        }
        for (Weight w : ws) {
            if (!(w instanceof DeviceWeight m) || m.type() != t || m.gptq() != null || m.cols() != m0.cols()
                    || m.rowBytes() != m0.rowBytes() || gemmPath(m, n) != GemmPath.EXACT) {
                return false;
            }
        }
        return true;
    }

    /** The products of {@link #plainShareable} weights: one llmj_cuda_matmul_multi call. */
    private void plainShared(Buffer x, int n, Weight[] ws, Buffer[] outs, CharSequence names) {
        DeviceWeight m0 = dw(ws[0]);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment wp = a.allocate(ValueLayout.ADDRESS, ws.length);
            MemorySegment rows = a.allocate(ValueLayout.JAVA_LONG, ws.length);
            MemorySegment ys = a.allocate(ValueLayout.ADDRESS, ws.length);
            for (int i = 0; i < ws.length; i++) {
                DeviceWeight m = dw(ws[i]);
                wp.setAtIndex(ValueLayout.ADDRESS, i, m.data().ptr);
                rows.setAtIndex(ValueLayout.JAVA_LONG, i, m.rows());
                ys.setAtIndex(ValueLayout.ADDRESS, i, dev(outs[i]).ptr);
            }
            NativeStatus.check(LlmjCuda.llmj_cuda_matmul_multi(m0.type().id(), ws.length, wp, rows, m0.rowBytes(), dev(x).ptr,
                    ys, m0.cols(), n, stream), "llmj_cuda_matmul_multi(" + names + ")");
        }
    }

    /** Whether {@link #matmulShared} can run {@code ws} as one llmj_cuda_gptq_matmul_multi call. */
    private boolean shareable(Weight[] ws, int n) {
        if (ws.length < 2 || ws.length > 4 || n < 1) {
            return false;
        }
        MemorySegment d0 = null;
        for (Weight w : ws) {
            if (!(w instanceof DeviceWeight m) || m.gptq() == null || gemmPath(m, n) != GemmPath.EXACT) {
                return false;
            }
            MemorySegment d = m.gptq();
            if (d0 == null) {
                d0 = d;
            } else if (!sameFormat(d, d0) || llmj_gptq_matrix.cols(d) != llmj_gptq_matrix.cols(d0)
                    || llmj_gptq_matrix.perm(d).address() != llmj_gptq_matrix.perm(d0).address()
                    || (llmj_gptq_matrix.zeros(d).address() == 0) != (llmj_gptq_matrix.zeros(d0).address() == 0)) {
                return false;
            }
        }
        return true;
    }

    /**
     * Whether two GPTQ-layout matrices may share one product launch: the same bits and format, or K-quants (Q4_K with Q6_K)
     * reading the same activation layout.
     */
    private static boolean sameFormat(MemorySegment d, MemorySegment d0) {
        int f = llmj_gptq_matrix.format(d);
        int f0 = llmj_gptq_matrix.format(d0);
        if (f != 0 && f0 != 0) {
            return readsQ8k(d) == readsQ8k(d0);
        }
        return f == f0 && llmj_gptq_matrix.bits(d) == llmj_gptq_matrix.bits(d0);
    }

    /** Throws unless x and out hold n tokens' input and output of m. */
    private void checkBuffers(DeviceWeight m, Buffer x, int n, Buffer out) {
        if (dev(x).bytes < 4L * n * m.cols() || dev(out).bytes < 4L * n * m.rows()) {
            throw new IllegalArgumentException(m.name() + ": matmul of " + n + " tokens needs " + n * (long) m.cols()
                    + " input and " + n * (long) m.rows() + " output floats, buffers hold " + dev(x).bytes / 4 + " and "
                    + dev(out).bytes / 4);
        }
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
                int st = Cublas.cublasSetStream_v2(h, stream);
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
                if (m.gptq() != null) {                                    // GPTQ layout: dequantized in input order
                    NativeStatus.check(LlmjCuda.llmj_cuda_gptq_dequantize_f16(m.gptq(), wh.ptr, stream),
                            "llmj_cuda_gptq_dequantize_f16(" + m.name() + ")");
                } else if (m.type() == GgmlType.F32) {                     // Gemm.F16: F32 rows are dense
                    NativeStatus.check(LlmjCuda.llmj_cuda_convert_f32(a, wh.ptr, GgmlType.F16.id(), (long) rows * cols,
                            stream), "llmj_cuda_convert_f32(" + m.name() + ")");
                } else {
                    int st = LlmjCuda.llmj_cuda_dequantize_f16(m.type().id(), a, m.rowBytes(), rows, cols, wh.ptr, stream);
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
            NativeStatus.check(LlmjCuda.llmj_cuda_convert_f32(x.ptr, xh.ptr, half.id(), (long) n * cols, stream),
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
        wrote(x);
        DeviceWeight b = dw(bias);
        NativeStatus.check(LlmjCuda.llmj_cuda_add_rows(dev(x).ptr, b.data().ptr, b.cols(), n, stream),
                "llmj_cuda_add_rows");
    }

    @Override
    public synchronized void rope(Buffer x, int nHeads, int headDim, int n, int startPos, RopeConfig rope) {
        wrote(x);
        NativeStatus.check(LlmjCuda.llmj_cuda_rope(dev(x).ptr, n, nHeads, headDim, rope.dims(), startPos, ropeTable(rope).ptr,
                rope.positionScale(), rope.neox() ? 1 : 0, devPos(), stream), "llmj_cuda_rope");
    }

    /** The rope's inverse frequencies on the device (uploaded on first use). */
    private DeviceBuffer ropeTable(RopeConfig rope) {
        return ropeTables.computeIfAbsent(rope, r -> {
            float[] f = r.invFreq();
            DeviceBuffer b = new DeviceBuffer(f.length, 4L * f.length, GgmlType.F32);
            try (Arena a = Arena.ofConfined()) {
                b.upload(a.allocateFrom(ValueLayout.JAVA_FLOAT, f));
            }
            return b;
        });
    }

    @Override
    public synchronized void storeKv(Buffer src, Buffer cache, int kvDim, int n, int startPos) {
        DeviceBuffer c = cacheFor(cache, kvDim, n, startPos);
        NativeStatus.check(LlmjCuda.llmj_cuda_store_kv(dev(src).ptr, c.ptr, c.type.id(), kvDim, n, startPos, devPos(),
                stream), "llmj_cuda_store_kv");
    }

    /** The cache buffer, checked to hold positions up to startPos + n of kvDim values. */
    private DeviceBuffer cacheFor(Buffer cache, int kvDim, int n, int startPos) {
        DeviceBuffer c = dev(cache);
        if ((long) (startPos + n) * kvDim > c.size()) {
            throw new IllegalArgumentException("KV cache of " + c.size() / kvDim + " positions cannot take positions up to "
                    + (startPos + n));
        }
        return c;
    }

    @Override
    public synchronized void ropeStoreKv(Buffer q, Buffer k, Buffer v, int nHeads, int nKvHeads, int headDim, int n,
                                         int startPos, RopeConfig rope, Buffer kCache, Buffer vCache) {
        int kvDim = nKvHeads * headDim;
        DeviceBuffer kc = cacheFor(kCache, kvDim, n, startPos);
        DeviceBuffer vc = cacheFor(vCache, kvDim, n, startPos);
        if (!fuse || kc.type != vc.type) {
            Backend.super.ropeStoreKv(q, k, v, nHeads, nKvHeads, headDim, n, startPos, rope, kCache, vCache);
            return;
        }
        wrote(q);
        wrote(k);
        NativeStatus.check(LlmjCuda.llmj_cuda_rope_store_kv(dev(q).ptr, dev(k).ptr, dev(v).ptr, n, nHeads, nKvHeads, headDim,
                rope.dims(), startPos, ropeTable(rope).ptr, rope.positionScale(), rope.neox() ? 1 : 0, kc.ptr, vc.ptr,
                kc.type.id(), devPos(), stream), "llmj_cuda_rope_store_kv");
    }

    @Override
    public synchronized void attention(Buffer q, Buffer kCache, Buffer vCache, int n, int startPos, AttentionParams p,
                                       Buffer out) {
        AttentionOutput o = attentionOutput(out, n, p);
        if (o.q8()) {
            // the output projection after it reads the Q8 conversion, written by the decode kernel as it writes
            // out (split-K: by the last block of each row, which also merges the splits: no reduce kernel)
            NativeStatus.check(LlmjCuda.llmj_cuda_attention_q8(dev(q).ptr, dev(kCache).ptr, dev(vCache).ptr,
                    dev(kCache).type.id(), dev(out).ptr, n, posBound(startPos), p.nHeads(), p.nKvHeads(), p.headDim(),
                    p.scale(), p.softcap(), p.slidingWindow(), devPos(), o.work(), o.workBytes(), o.act(), o.counters(), stream),
                    "llmj_cuda_attention_q8");
        } else {
            NativeStatus.check(LlmjCuda.llmj_cuda_attention(dev(q).ptr, dev(kCache).ptr, dev(vCache).ptr,
                    dev(kCache).type.id(), dev(out).ptr, n, posBound(startPos), p.nHeads(), p.nKvHeads(), p.headDim(),
                    p.scale(), p.softcap(), p.slidingWindow(), devPos(), o.work(), o.workBytes(), stream), "llmj_cuda_attention");
        }
        recordConversion(o, out);
    }

    /**
     * What an attention call writes besides {@code out}: split-K scratch, and where the output projection after
     * it reads a converted activation, the Q8 blocks and the split counters ({@code act} / {@code counters} NULL
     * otherwise).
     */
    private record AttentionOutput(MemorySegment work, long workBytes, MemorySegment act, MemorySegment counters,
                                   long count) {
        boolean q8() {
            return act.address() != 0;
        }
    }

    /** After the call: the activation buffer converts {@code out} where the kernel wrote the conversion. */
    private void recordConversion(AttentionOutput o, Buffer out) {
        if (o.q8()) {
            converts(out, o.count(), false);
        }
    }

    private AttentionOutput attentionOutput(Buffer out, int n, AttentionParams p) {
        wrote(out);
        long work = LlmjCuda.llmj_cuda_attention_work_size(n, p.nHeads(), p.headDim());
        MemorySegment wp = work > 0 ? scratch(work).ptr : MemorySegment.NULL;
        long dim = (long) p.nHeads() * p.headDim();
        boolean q8 = fuse && gptqLayout && p.headDim() % 32 == 0 && p.headDim() <= 256 && perToken(n);
        MemorySegment act = q8 ? act8(LlmjCuda.llmj_cuda_gptq_work_size(dim, n)).ptr : MemorySegment.NULL;
        MemorySegment counters = q8 ? attentionCounters(4L * n * p.nHeads()).ptr : MemorySegment.NULL;
        return new AttentionOutput(wp, work, act, counters, n * dim);
    }

    /**
     * One decode row: {@code llmj_cuda_rope_attention}, the rotation and the cache write folded into the attention
     * kernel (q and k stay unrotated); otherwise {@link #ropeStoreKv} and {@link #attention}. The results are the
     * same either way.
     */
    @Override
    public synchronized void ropeAttention(Buffer q, Buffer k, Buffer v, int n, int startPos, RopeConfig rope, Buffer kCache,
                                           Buffer vCache, AttentionParams p, Buffer out) {
        int kvDim = p.nKvHeads() * p.headDim();
        DeviceBuffer kc = cacheFor(kCache, kvDim, n, startPos);
        DeviceBuffer vc = cacheFor(vCache, kvDim, n, startPos);
        if (!fuseRope || n != 1 || kc.type != vc.type || p.headDim() > 256) {
            Backend.super.ropeAttention(q, k, v, n, startPos, rope, kCache, vCache, p, out);
            return;
        }
        AttentionOutput o = attentionOutput(out, n, p);
        NativeStatus.check(LlmjCuda.llmj_cuda_rope_attention(dev(q).ptr, dev(k).ptr, dev(v).ptr, kc.ptr, vc.ptr, kc.type.id(),
                dev(out).ptr, posBound(startPos), p.nHeads(), p.nKvHeads(), p.headDim(), rope.dims(), ropeTable(rope).ptr,
                rope.positionScale(), rope.neox() ? 1 : 0, p.scale(), p.softcap(), p.slidingWindow(), devPos(), o.work(),
                o.workBytes(), o.act(), o.counters(), stream), "llmj_cuda_rope_attention");
        recordConversion(o, out);
    }

    @Override
    public synchronized void swiglu(Buffer gate, Buffer up, long count, Buffer out) {
        glu(gate, up, count, out, 0);
    }

    @Override
    public synchronized void geglu(Buffer gate, Buffer up, long count, Buffer out) {
        glu(gate, up, count, out, 1);
    }

    /** SwiGLU / GeGLU, converting the output for the down projection where it runs per token. */
    private void glu(Buffer gate, Buffer up, long count, Buffer out, int gelu) {
        wrote(out);
        if (convertsQ8k() && count % 256 == 0 && perToken(layerTokens)) {
            MemorySegment act = act8(LlmjCuda.llmj_cuda_gptq_work_size(count, 1)).ptr;
            NativeStatus.check(LlmjCuda.llmj_cuda_glu_q8k(dev(gate).ptr, dev(up).ptr, dev(out).ptr, count, gelu, act, stream),
                    "llmj_cuda_glu_q8k");
            converts(out, count, true);
            return;
        }
        if (fuse && gptqLayout && count % 32 == 0 && perToken(layerTokens)) {
            MemorySegment act = act8(LlmjCuda.llmj_cuda_gptq_work_size(count, 1)).ptr;
            NativeStatus.check(LlmjCuda.llmj_cuda_glu_q8(dev(gate).ptr, dev(up).ptr, dev(out).ptr, count, gelu, act, stream),
                    "llmj_cuda_glu_q8");
            converts(out, count, false);
            return;
        }
        NativeStatus.check(LlmjCuda.llmj_cuda_glu(dev(gate).ptr, dev(up).ptr, dev(out).ptr, count, gelu, stream),
                "llmj_cuda_glu");
    }

    @Override
    public synchronized void add(Buffer x, Buffer y, long count) {
        wrote(x);
        NativeStatus.check(LlmjCuda.llmj_cuda_add(dev(x).ptr, dev(y).ptr, count, stream), "llmj_cuda_add");
    }

    @Override
    public synchronized void softcap(Buffer x, float cap, long count) {
        wrote(x);
        NativeStatus.check(LlmjCuda.llmj_cuda_softcap(dev(x).ptr, cap, count, stream), "llmj_cuda_softcap");
    }

    // ---- decode-step graphs -------------------------------------------------------------------

    /**
     * Positions below this replay a step graph recorded for this bound instead of the state's largest position
     * (where that is larger): attention launched for it takes the short-context decode kernel (attention.cu's
     * short_kernel, at most 256 visible positions); the other graph is recorded when a step first needs it.
     */
    static final int SHORT_CONTEXT = 256;

    /**
     * One generation state's decode step as CUDA graphs: the token and the position live in a small
     * device slot that a pinned host slot is copied into before each replay, so a token costs one copy,
     * one graph launch and the read of the logits. Two recordings share the slot (and a greedy step's ring):
     * one for positions below {@link #SHORT_CONTEXT}, one for the rest (attention sized for its bound).
     */
    private final class StepGraph implements AutoCloseable {
        final DeviceBuffer slot = new DeviceBuffer(8);          // int32 token, int32 position
        final MemorySegment host;                              // pinned: the async copy reads it when it runs
        final int maxPos;
        final Choices choices;                                 // greedy step graphs: where the choices arrive
        final MemorySegment[] execs = new MemorySegment[2];    // cudaGraphExec_t per bucket, null until recorded
        boolean warmedUp;                                      // one plain run sized scratch and RoPE tables

        StepGraph(int maxPos, boolean greedy) {
            this.maxPos = maxPos;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                Cuda.check(CudaRuntime.cudaMallocHost(p, 8), "cudaMallocHost(8)");
                host = p.get(ValueLayout.ADDRESS, 0).reinterpret(8);
            }
            try {
                choices = greedy ? new Choices() : null;
            } catch (RuntimeException e) {
                CudaRuntime.cudaFreeHost(host);
                slot.close();
                throw e;
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
            for (int i = 0; i < execs.length; i++) {
                if (execs[i] != null) {
                    CudaRuntime.cudaGraphExecDestroy(execs[i]);
                    execs[i] = null;
                }
            }
            CudaRuntime.cudaFreeHost(host);
            slot.close();
            if (choices != null) {
                choices.close();
            }
        }
    }

    /** Entries of a greedy step graph's choice ring: more than the two steps a generator keeps in flight. */
    private static final int CHOICES = 4;

    /**
     * Where the choices of a greedy step graph arrive ({@code llmj_cuda_pick_greedy}): pinned host memory that
     * the choice kernel writes through the unified address space, {@value #CHOICES} entries of {position, id,
     * log-probability bits, 0} taken in turn by position, and an event per entry recorded after its step.
     */
    private static final class Choices implements AutoCloseable {
        final MemorySegment ring;
        final MemorySegment[] done = new MemorySegment[CHOICES];

        Choices() {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ValueLayout.ADDRESS);
                Cuda.check(CudaRuntime.cudaMallocHost(p, CHOICES * 16L), "cudaMallocHost(greedy choices)");
                ring = p.get(ValueLayout.ADDRESS, 0).reinterpret(CHOICES * 16L);
                for (int k = 0; k < CHOICES; k++) {
                    ring.set(ValueLayout.JAVA_INT, 16L * k, -1);       // no position yet
                }
                try {
                    for (int k = 0; k < CHOICES; k++) {
                        Cuda.check(CudaRuntime.cudaEventCreateWithFlags(p, CudaRuntime.cudaEventDisableTiming()),
                                "cudaEventCreateWithFlags");
                        done[k] = p.get(ValueLayout.ADDRESS, 0);
                    }
                } catch (RuntimeException e) {
                    close();
                    throw e;
                }
            }
        }

        @Override
        public void close() {
            for (int k = 0; k < CHOICES; k++) {
                if (done[k] != null) {
                    CudaRuntime.cudaEventDestroy(done[k]);
                    done[k] = null;
                }
            }
            CudaRuntime.cudaFreeHost(ring);
        }
    }

    /** Whether decode steps are recorded as graphs (-Dllmj.cuda.graphs=false turns it off). */
    private static final boolean GRAPHS = !"false".equalsIgnoreCase(System.getProperty("llmj.cuda.graphs"));

    /**
     * Runs a one-token decode step: the first time as plain launches (which size the scratch and the RoPE
     * tables, so recording allocates nothing), then records {@code step} once as a CUDA graph for {@code owner} and from then on only replays it,
     * with {@code token} and {@code pos} delivered through the owner's device slot.
     */
    @Override
    public synchronized void decodeStep(Object owner, int token, int pos, int maxPos, Runnable step) {
        if (!GRAPHS) {
            step.run();
            return;
        }
        StepGraph g = stepGraph(graphs, owner, maxPos, false);
        if (g.warmedUp) {
            g.setSlot(token, pos);
        }
        runStep(g, pos, step);
    }

    /** The step graph of {@code owner} in {@code map}, new when there is none for {@code maxPos}. */
    private StepGraph stepGraph(Map<Object, StepGraph> map, Object owner, int maxPos, boolean greedy) {
        StepGraph g = map.get(owner);
        if (g == null || g.maxPos != maxPos) {
            if (g != null) {
                map.remove(owner);
                Cuda.check(CudaRuntime.cudaStreamSynchronize(stream), "cudaStreamSynchronize");   // it may be in flight
                g.close();
            }
            g = new StepGraph(maxPos, greedy);
            map.put(owner, g);
        }
        return g;
    }

    /** The first time a plain run (warm-up: scratch, RoPE tables, modules), then the recorded graph, replayed. */
    private void runStep(StepGraph g, int pos, Runnable step) {
        if (!g.warmedUp) {
            g.warmedUp = true;
            step.run();
            return;
        }
        int bucket = pos < SHORT_CONTEXT && g.maxPos >= SHORT_CONTEXT ? 0 : 1;
        if (g.execs[bucket] == null) {
            record(g, step, bucket, bucket == 0 ? SHORT_CONTEXT - 1 : g.maxPos);
        }
        Cuda.check(CudaRuntime.cudaGraphLaunch(g.execs[bucket], stream), "cudaGraphLaunch");
    }

    /** Greedy steps are recorded graphs: available unless -Dllmj.cuda.graphs=false. */
    @Override
    public boolean decodesGreedy() {
        return GRAPHS;
    }

    /**
     * A decode step as {@link #decodeStep} runs it, ending in {@code llmj_cuda_pick_greedy}: the choice becomes
     * the token and position of the owner's slot, which the next replay reads, and lands in the owner's
     * {@link Choices} ring, with an event recorded after it.
     */
    @Override
    public synchronized void decodeGreedy(Object owner, int token, boolean known, int pos, int maxPos, Buffer logits,
                                         int vocab, java.util.function.IntConsumer step) {
        if (!GRAPHS) {
            throw new UnsupportedOperationException("greedy steps on the device need CUDA graphs (-Dllmj.cuda.graphs)");
        }
        StepGraph g = stepGraph(greedyGraphs, owner, maxPos, true);
        if (known) {
            g.setSlot(token, pos);
        } else if (!g.warmedUp) {
            throw new IllegalStateException("the first greedy step of a generation needs its token from the host");
        }
        MemorySegment out = dev(logits).ptr;
        int t = known ? token : 0;                             // unknown: only recorded, and read from the slot
        runStep(g, pos, () -> {
            step.accept(t);
            NativeStatus.check(LlmjCuda.llmj_cuda_pick_greedy(out, vocab, g.slot.ptr, g.choices.ring, CHOICES, stream),
                    "llmj_cuda_pick_greedy");
        });
        Cuda.check(CudaRuntime.cudaEventRecord(g.choices.done[(pos + 1) % CHOICES], stream), "cudaEventRecord");
    }

    /** Waits (without holding the backend) for the event after the step at {@code pos}, then reads its ring entry. */
    @Override
    public long greedyChoice(Object owner, int pos) {
        Choices c;
        synchronized (this) {
            StepGraph g = greedyGraphs.get(owner);
            if (g == null) {
                throw new IllegalStateException("no greedy step was enqueued for this generation state");
            }
            c = g.choices;
        }
        int k = (pos + 1) % CHOICES;
        Cuda.check(CudaRuntime.cudaEventSynchronize(c.done[k]), "cudaEventSynchronize (greedy choice)");
        int at = c.ring.get(ValueLayout.JAVA_INT, 16L * k);
        if (at != pos + 1) {
            throw new IllegalStateException("the greedy choice for position " + (pos + 1) + " is not there (entry "
                    + k + " holds position " + at + "): steps were enqueued out of order");
        }
        int id = c.ring.get(ValueLayout.JAVA_INT, 16L * k + 4);
        int logprob = c.ring.get(ValueLayout.JAVA_INT, 16L * k + 8);
        return (id & 0xffffffffL) | ((long) logprob << 32);
    }

    /** Records {@code step} as graph {@code bucket} of {@code g}, replayed at positions up to {@code bound}. */
    private void record(StepGraph g, Runnable step, int bucket, int bound) {
        try (Arena a = Arena.ofConfined()) {
            Cuda.check(CudaRuntime.cudaStreamBeginCapture(stream, CudaRuntime.cudaStreamCaptureModeThreadLocal()),
                    "cudaStreamBeginCapture");
            capturing = g;
            capturingBound = bound;
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
            g.execs[bucket] = exec.get(ValueLayout.ADDRESS, 0);
        }
    }

    /** Frees the decode-step graph of {@code owner}. */
    @Override
    public synchronized void release(Object owner) {
        StepGraph g = graphs.remove(owner);
        if (g != null) {
            g.close();
        }
        StepGraph greedy = greedyGraphs.remove(owner);
        if (greedy != null) {
            CudaRuntime.cudaStreamSynchronize(stream);         // a step enqueued ahead may still write its ring
            greedy.close();
        }
    }

    /** The device position slot while a step is recorded, else NULL. */
    private MemorySegment devPos() {
        return capturing != null ? capturing.slot.at(4) : MemorySegment.NULL;
    }

    /**
     * The start position attention is launched for: while a step is recorded, the largest position it will be
     * replayed at (the kernels read the position from {@link #devPos} and size their launch, shared memory and
     * KV splits included, for this bound); else {@code startPos} itself.
     */
    private int posBound(int startPos) {
        return capturing != null ? Math.max(startPos, capturingBound) : startPos;
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
        if (!greedyGraphs.isEmpty()) {
            CudaRuntime.cudaStreamSynchronize(stream);        // a step enqueued ahead may still write its ring
        }
        greedyGraphs.values().forEach(StepGraph::close);
        greedyGraphs.clear();
        weights.forEach(DeviceBuffer::close);
        weights.clear();
        if (repackStaging != null) {
            repackStaging.close();
        }
        descriptors.close();
        retired.forEach(DeviceBuffer::close);
        retired.clear();
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
        if (act8 != null) {
            act8.close();
        }
        if (attnCounters != null) {
            attnCounters.close();
        }
        if (readPinned != null) {
            CudaRuntime.cudaFreeHost(readPinned);
            readPinned = null;
        }
        if (cublas != null) {
            Cublas.cublasDestroy_v2(cublas);
            cublas = null;
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
