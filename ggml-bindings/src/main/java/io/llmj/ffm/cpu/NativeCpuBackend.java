package io.llmj.ffm.cpu;

import io.llmj.backend.AttentionParams;
import io.llmj.backend.Backend;
import io.llmj.backend.BackendProvider;
import io.llmj.backend.Buffer;
import io.llmj.backend.HostBackend;
import io.llmj.backend.Op;
import io.llmj.backend.RopeConfig;
import io.llmj.backend.Weight;
import io.llmj.ffm.NativeLibraries;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.ffm.generated.llmj.llmj_gptq_matrix;
import io.llmj.quant.gptq.GptqMatrix;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.EnumSet;
import java.util.Set;

/**
 * The native CPU backend: C kernels in libllmj.so (scalar / AVX2 / AVX-512, chosen at run time) for the
 * matrix products, RMSNorm, RoPE, attention and the gated activations, on a native thread pool; the
 * cheap remaining ops (embedding rows, residual adds, cache writes) run in {@link HostBackend}'s Java code.
 *
 * <p>F16 and BF16 weights use {@code llmj_matvec} (float32 activations, as transformers computes a
 * bfloat16 checkpoint in float32; single-threaded for now). F32 and the quantized types use
 * {@code llmj_matvec_q} / {@code llmj_matmul_q}, which convert the activations to the weight type's
 * {@code vec_dot_type} as ggml does (F32 stays F32; Q8_0, Q8_1 or Q8_K), on a native thread pool of
 * {@code llmj.cpu.threads} threads (default: available processors). GPTQ layers (4 and 8 bits) use
 * {@code llmj_gptq_matmul} on their repacked {@link GptqMatrix}.
 */
public final class NativeCpuBackend extends HostBackend {
    /** System property: threads of the backend's native pool. */
    public static final String THREADS_PROPERTY = "llmj.cpu.threads";

    /**
     * System property: {@code false} keeps Q4_0 / Q8_0 matrices in ggml's block rows. By default, where
     * {@code llmj_matmul_q_pack_recommended} says it pays (the AVX2 level and above), they are packed at load
     * ({@code llmj_matmul_q_pack}: 16-row groups, quants interleaved, scales apart) and multiplied by
     * {@code llmj_matmul_q_packed}: with AVX512-VNNI the same results bit for bit; at AVX2 (or AVX-512 without
     * VNNI) the unpacked kernels sum eight blocks before scaling, so results differ from unpacked ones by float
     * rounding (prefill and decode still agree, both packed). The token embedding is packed on its first
     * product only (a tied output), as lookups read its ggml rows.
     */
    public static final String PACK_PROPERTY = "llmj.cpu.pack";

    /** Types multiplied by llmj_matvec_q / llmj_matmul_q on the pool (F32 activations stay F32 there). */
    private static final Set<GgmlType> POOLED = EnumSet.of(GgmlType.F32, GgmlType.Q4_0, GgmlType.Q4_1,
            GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K,
            GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS);

    private final int threads;
    private final boolean pack;
    /** Packed forms of Q4_0 / Q8_0 matrices (by identity: the weights are records). */
    private final java.util.Map<HostWeight, MemorySegment> packed = new java.util.IdentityHashMap<>();
    private final Arena owned = Arena.ofShared();
    private final java.util.Map<RopeConfig, MemorySegment> ropeTables = new java.util.HashMap<>();
    private Arena workArena;
    private MemorySegment work;
    private NativeThreadPool pool;

    public NativeCpuBackend() {
        this(Integer.getInteger(THREADS_PROPERTY, Runtime.getRuntime().availableProcessors()));
    }

    /** A backend whose native pool has {@code threads} threads. */
    public NativeCpuBackend(int threads) {
        this(threads, Boolean.parseBoolean(System.getProperty(PACK_PROPERTY, "true")));
    }

    /**
     * A backend whose native pool has {@code threads} threads; {@code pack}: whether Q4_0 / Q8_0 matrices are
     * packed at load where that pays ({@link #PACK_PROPERTY}).
     */
    public NativeCpuBackend(int threads, boolean pack) {
        NativeCpu.init();
        if (threads <= 0) {
            throw new IllegalArgumentException("threads must be positive: " + threads);
        }
        this.threads = Math.min(256, threads);
        this.pack = pack;
    }

    /** Whether {@code w} is multiplied in the packed layout (made at load, or for the token embedding on first use). */
    public synchronized boolean isPacked(Weight w) {
        return w instanceof HostWeight hw && packed.containsKey(hw);
    }

    /** Threads of the native pool. */
    public int threads() {
        return threads;
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
        packed.clear();
        multiArgs = null;
        if (owned.scope().isAlive()) {
            owned.close();           // frees the packed matrices too
        }
        if (workArena != null) {
            workArena.close();
            workArena = null;
            work = null;
        }
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public boolean supports(Op op, GgmlType type) {
        if (type.isGptq()) {       // GPTQ layers: llmj_gptq_matmul (4 and 8 bits), whole weights only
            return op == Op.MATMUL && (type == GgmlType.GPTQ4 || type == GgmlType.GPTQ8);
        }
        return type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16 || POOLED.contains(type);
    }

    /** 1-D weights (norm gains, biases) are kept as float32 copies so the native ops read them directly. */
    @Override
    public Weight weight(String name, GgmlType type, long[] shape, MemorySegment data) {
        Weight w = super.weight(name, type, shape, data);
        if (shape.length == 2 && !name.endsWith("token_embd.weight") && w instanceof HostWeight hw && packable(hw)) {
            synchronized (this) {
                packedForm(hw);
            }
        }
        if (shape.length != 1 || type == GgmlType.F32) {
            return w;
        }
        float[] values = new float[w.cols()];
        dequantizeRow((HostWeight) w, 0, values);
        MemorySegment copy = owned.allocate(4L * values.length, 64);
        MemorySegment.copy(values, 0, copy, F32, 0, values.length);
        return new HostWeight(name, GgmlType.F32, 1, values.length, copy);
    }

    @Override
    public void rmsNorm(Buffer x, Weight gain, float eps, float gainOffset, int dim, int n, Buffer out) {
        HostWeight g = (HostWeight) gain;
        if (g.type() != GgmlType.F32 || g.cols() != dim) {
            super.rmsNorm(x, gain, eps, gainOffset, dim, n, out);
            return;
        }
        synchronized (this) {
            NativeStatus.check(Llmj.llmj_rms_norm(pool().handle(), seg(x), g.data(), gainOffset, seg(out), dim, n, eps),
                    "llmj_rms_norm(" + g.name() + ")");
        }
    }

    @Override
    public synchronized void rope(Buffer x, int nHeads, int headDim, int n, int startPos, RopeConfig rope) {
        // the frequency table is copied off-heap once per RopeConfig, not per call (a model has one or two)
        MemorySegment freq = ropeTables.computeIfAbsent(rope, r -> owned.allocateFrom(ValueLayout.JAVA_FLOAT, r.invFreq()));
        NativeStatus.check(Llmj.llmj_rope(pool().handle(), seg(x), n, nHeads, headDim, rope.dims(), startPos, freq,
                rope.positionScale(), rope.neox() ? 1 : 0), "llmj_rope");
    }

    @Override
    public void attention(Buffer q, Buffer kCache, Buffer vCache, int n, int startPos, AttentionParams p, Buffer out) {
        GgmlType cacheType = ((HostBuffer) kCache).type();
        synchronized (this) {
            NativeStatus.check(Llmj.llmj_attention(pool().handle(), seg(q), seg(kCache), seg(vCache), cacheType.id(), seg(out),
                    n, startPos, p.nHeads(), p.nKvHeads(), p.headDim(), p.scale(), p.softcap(), p.slidingWindow()),
                    "llmj_attention");
        }
    }

    @Override
    public void swiglu(Buffer gate, Buffer up, long count, Buffer out) {
        synchronized (this) {
            NativeStatus.check(Llmj.llmj_swiglu(pool().handle(), seg(gate), seg(up), seg(out), count), "llmj_swiglu");
        }
    }

    @Override
    public void geglu(Buffer gate, Buffer up, long count, Buffer out) {
        synchronized (this) {
            NativeStatus.check(Llmj.llmj_geglu(pool().handle(), seg(gate), seg(up), seg(out), count), "llmj_geglu");
        }
    }

    @Override
    public void matmul(Weight w, Buffer x, int n, Buffer out) {
        if (w instanceof GptqWeight g) {
            MemorySegment desc = gptqDescriptor(g);
            long workBytes = Llmj.llmj_gptq_work_size(g.cols(), n);
            synchronized (this) {
                NativeStatus.check(Llmj.llmj_gptq_matmul(pool().handle(), desc, seg(x), g.cols(), seg(out), g.rows(), n,
                        work(workBytes), workBytes), "llmj_gptq_matmul(" + g.name() + ")");
            }
            return;
        }
        HostWeight hw = (HostWeight) w;
        if (!POOLED.contains(hw.type())) {
            super.matmul(w, x, n, out);          // row by row through llmj_matvec
            return;
        }
        long workBytes = Llmj.llmj_matmul_work_size(hw.type().id(), hw.cols(), n);
        synchronized (this) {
            MemorySegment p = packable(hw) ? packedForm(hw) : null;
            if (p != null) {
                NativeStatus.check(Llmj.llmj_matmul_q_packed(pool().handle(), hw.type().id(), p, p.byteSize(),
                        seg(x), hw.cols(), seg(out), hw.rows(), hw.rows(), hw.cols(), n, work(workBytes), workBytes),
                        "llmj_matmul_q_packed(" + hw.name() + ")");
                return;
            }
            NativeStatus.check(Llmj.llmj_matmul_q(pool().handle(), hw.type().id(), hw.data(), hw.rowBytes(),
                    seg(x), hw.cols(), seg(out), hw.rows(), hw.rows(), hw.cols(), n, work(workBytes), workBytes),
                    "llmj_matmul_q(" + hw.name() + ")");
        }
    }

    /**
     * Packed matrices of one type and width sharing the input (q/k/v, gate/up) run as one
     * {@code llmj_matmul_q_packed_multi}: the input is converted once and one pool dispatch covers them all,
     * with each output the same bits as its own {@link #matmul}. Anything else goes one matrix at a time.
     */
    @Override
    public void matmulShared(Buffer x, int n, Weight[] ws, Buffer[] outs) {
        if (ws.length != outs.length) {
            throw new IllegalArgumentException(ws.length + " weights but " + outs.length + " outputs");
        }
        int k = ws.length;
        boolean multi = k > 1 && k <= Llmj.LLMJ_MATMUL_MULTI_MAX() && ws[0] instanceof HostWeight first && packable(first);
        for (int i = 1; multi && i < k; i++) {
            multi = ws[i] instanceof HostWeight hw && hw.type() == ws[0].type() && hw.cols() == ws[0].cols() && packable(hw);
        }
        if (!multi) {
            super.matmulShared(x, n, ws, outs);
            return;
        }
        HostWeight w0 = (HostWeight) ws[0];
        long workBytes = Llmj.llmj_matmul_work_size(w0.type().id(), w0.cols(), n);
        synchronized (this) {
            if (multiArgs == null) {
                multiArgs = owned.allocate(4L * 8 * Llmj.LLMJ_MATMUL_MULTI_MAX(), 64);
            }
            long m = Llmj.LLMJ_MATMUL_MULTI_MAX();
            MemorySegment ptrs = multiArgs.asSlice(0, 8 * m);
            MemorySegment bytes = multiArgs.asSlice(8 * m, 8 * m);
            MemorySegment rows = multiArgs.asSlice(16 * m, 8 * m);
            MemorySegment ys = multiArgs.asSlice(24 * m, 8 * m);
            for (int i = 0; i < k; i++) {
                HostWeight hw = (HostWeight) ws[i];
                MemorySegment p = packedForm(hw);
                ptrs.setAtIndex(ValueLayout.ADDRESS, i, p);
                bytes.setAtIndex(ValueLayout.JAVA_LONG, i, p.byteSize());
                rows.setAtIndex(ValueLayout.JAVA_LONG, i, hw.rows());
                ys.setAtIndex(ValueLayout.ADDRESS, i, seg(outs[i]));
            }
            NativeStatus.check(Llmj.llmj_matmul_q_packed_multi(pool().handle(), w0.type().id(), k, ptrs, bytes, rows, seg(x),
                    w0.cols(), ys, w0.cols(), n, work(workBytes), workBytes), "llmj_matmul_q_packed_multi(" + w0.name() + ", ...)");
        }
    }

    /** Argument arrays of llmj_matmul_q_packed_multi (pointers, bytes, rows, outputs), reused under the lock. */
    private MemorySegment multiArgs;

    /** Whether {@code w} is (or will be) multiplied in the packed layout ({@link #PACK_PROPERTY}). */
    private boolean packable(HostWeight w) {
        GgmlType t = w.type();
        return pack && (t == GgmlType.Q4_0 || t == GgmlType.Q8_0) && w.rows() > 1 && w.cols() % 32 == 0
                && Llmj.llmj_matmul_q_pack_recommended(t.id()) == 1;
    }

    /** The packed form of {@code w}, made on first use in page memory freed with the backend (callers hold the lock). */
    private MemorySegment packedForm(HostWeight w) {
        MemorySegment p = packed.get(w);
        if (p != null) {
            return p;
        }
        int type = w.type().id();
        long bytes = Llmj.llmj_matmul_q_packed_size(type, w.rows(), w.cols());
        try (Arena tmp = Arena.ofConfined()) {
            MemorySegment out = tmp.allocate(ValueLayout.ADDRESS);
            NativeStatus.check(Llmj.llmj_pages_alloc(bytes, out), "llmj_pages_alloc(" + bytes + " bytes for " + w.name() + ")");
            p = out.get(ValueLayout.ADDRESS, 0).reinterpret(bytes, owned, s -> Llmj.llmj_pages_free(s, bytes));
        }
        NativeStatus.check(Llmj.llmj_matmul_q_pack(pool().handle(), type, w.data(), w.rowBytes(), w.rows(), w.cols(), p, bytes),
                "llmj_matmul_q_pack(" + w.name() + ")");
        packed.put(w, p);
        return p;
    }

    private final java.util.Map<GptqMatrix, MemorySegment> gptqDescriptors = new java.util.concurrent.ConcurrentHashMap<>();

    /** The llmj_gptq_matrix descriptor of a GPTQ weight, built once (its pointers are views of the repacked segment). */
    private MemorySegment gptqDescriptor(GptqWeight w) {
        GptqMatrix m = w.matrix();
        return gptqDescriptors.computeIfAbsent(m, k -> {
            MemorySegment d;
            synchronized (this) {
                d = owned.allocate(llmj_gptq_matrix.layout());
            }
            llmj_gptq_matrix.bits(d, m.bits());
            llmj_gptq_matrix.rows(d, m.rows());
            llmj_gptq_matrix.cols(d, m.cols());
            llmj_gptq_matrix.perm(d, m.perm() == null ? MemorySegment.NULL : m.perm());
            llmj_gptq_matrix.scales(d, m.scales());
            llmj_gptq_matrix.zeros(d, m.zeros());
            llmj_gptq_matrix.qs(d, m.qs());
            return d;
        });
    }

    /** Scratch for activation conversion, reused across calls and grown as needed (callers hold the lock). */
    private MemorySegment work(long bytes) {
        if (work == null || work.byteSize() < bytes) {
            if (workArena != null) {
                workArena.close();
            }
            workArena = Arena.ofShared();   // generators on several threads share the backend
            work = workArena.allocate(Math.max(bytes, 1 << 16), 64);
        }
        return work;
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
            if (POOLED.contains(type)) {
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

        @Override
        public Backend create(int threads) {
            return threads > 0 ? new NativeCpuBackend(threads) : new NativeCpuBackend();
        }

        /** {@code llmj_pages_alloc}: an anonymous mapping with transparent huge pages; null if it fails. */
        @Override
        public MemorySegment allocateHost(long bytes, Arena owner) {
            if (bytes <= 0 || !NativeLibraries.cpuStatus().ok()) {
                return null;
            }
            try (Arena tmp = Arena.ofConfined()) {
                MemorySegment out = tmp.allocate(ValueLayout.ADDRESS);
                if (Llmj.llmj_pages_alloc(bytes, out) != Llmj.LLMJ_OK()) {
                    return null;
                }
                return out.get(ValueLayout.ADDRESS, 0).reinterpret(bytes, owner, s -> Llmj.llmj_pages_free(s, bytes));
            }
        }
    }
}
