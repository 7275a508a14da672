package io.llmj.testing;

import io.llmj.GpuOutOfMemoryException;
import io.llmj.backend.Backend;
import io.llmj.backend.BackendProvider;
import io.llmj.backend.Buffer;
import io.llmj.backend.HostBackend;
import io.llmj.backend.JavaBackend;
import io.llmj.backend.Op;
import io.llmj.backend.Weight;
import io.llmj.eval.Perplexity;
import io.llmj.quant.GgmlType;
import java.lang.foreign.MemorySegment;
import io.llmj.sampling.Greedy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;

/**
 * A stand-in for a GPU in tests that have none: the Java reference backend's arithmetic, but it calls
 * itself an {@link Backend#accelerator() accelerator} with a device memory of {@link #capacity} bytes
 * that weights and buffers use up, failing with {@link GpuOutOfMemoryException} as CUDA does. It
 * counts what is in use so a test can check that a failed load gave everything back.
 *
 * <p>Registered with {@link java.util.ServiceLoader} as "fakegpu" (priority above every real backend)
 * in core's tests only, and available only while a test has {@linkplain #enable enabled} it.
 */
public final class FakeGpuBackend extends HostBackend {
    private static volatile long capacity = -1;     // -1: switched off
    private static final List<FakeGpuBackend> CREATED = new ArrayList<>();

    private final JavaBackend reference = new JavaBackend();
    private final List<Buffer> buffers = new ArrayList<>();
    private final List<String> weightNames = new ArrayList<>();
    private long weightBytes;
    private boolean closed;

    /** Makes the backend available with {@code bytes} of "device memory"; forgets backends made before. */
    public static synchronized void enable(long bytes) {
        capacity = bytes;
        CREATED.clear();
    }

    /** Makes the backend unavailable again. */
    public static synchronized void disable() {
        capacity = -1;
        CREATED.clear();
    }

    /** Every backend created since {@link #enable}. */
    public static synchronized List<FakeGpuBackend> created() {
        return List.copyOf(CREATED);
    }

    /** Names of the weights prepared here, in order. */
    public synchronized List<String> weightNames() {
        return List.copyOf(weightNames);
    }

    public boolean isClosed() {
        return closed;
    }

    /** Bytes of weights and of buffers not yet closed. */
    public synchronized long bytesInUse() {
        long sum = closed ? 0 : weightBytes;
        for (Buffer b : buffers) {
            HostBuffer h = (HostBuffer) b;
            if (h.segment().scope().isAlive()) {
                sum += h.type().byteSize(h.size());
            }
        }
        return sum;
    }

    private void reserve(long bytes, String what) {
        long used = bytesInUse();
        if (used + bytes > capacity) {
            throw new GpuOutOfMemoryException("fake GPU", what, bytes, Math.max(0, capacity - used), capacity);
        }
    }

    @Override
    public String name() {
        return "fakegpu";
    }

    @Override
    public boolean accelerator() {
        return true;
    }

    @Override
    public boolean supports(Op op, GgmlType type) {
        return reference.supports(op, type);
    }

    @Override
    public synchronized Weight weight(String name, GgmlType type, long[] shape, MemorySegment data) {
        long bytes = type.byteSize(shape[0]) * (shape.length == 2 ? shape[1] : 1);
        reserve(bytes, name);
        Weight w = super.weight(name, type, shape, data);
        weightBytes += bytes;
        weightNames.add(name);
        return w;
    }

    @Override
    public synchronized Buffer allocate(long n) {
        reserve(4 * n, "a buffer of " + n + " floats");
        Buffer b = super.allocate(n);
        buffers.add(b);
        return b;
    }

    @Override
    public synchronized Buffer allocateCache(long n, GgmlType type) {
        reserve(type.byteSize(n), "KV cache");
        Buffer b = super.allocateCache(n, type);
        buffers.add(b);
        return b;
    }

    @Override
    public void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y, int rows, int cols) {
        reference.matvec(type, w, rowBytes, x, y, rows, cols);
    }

    // ---- greedy steps "on the device": the contract of Backend#decodeGreedy, the choice made here ----

    private final Map<Object, Integer> slots = new HashMap<>();
    private final Map<Object, Map<Integer, Long>> choices = new HashMap<>();
    private final List<String> greedyCalls = new ArrayList<>();

    /**
     * The {@link #decodeGreedy} and {@link #greedyChoice} calls so far, in order: "step P" (token from the
     * device slot), "step P known" (token from the host), "choice P".
     */
    public synchronized List<String> greedyCalls() {
        return List.copyOf(greedyCalls);
    }

    @Override
    public boolean decodesGreedy() {
        return true;
    }

    /**
     * Runs the step for the owner's slot token (or {@code token} when known), chooses as {@link Greedy} with the
     * double-precision log-softmax ({@link Perplexity#logSoftmax}), and keeps the choice until {@link #greedyChoice} takes it.
     */
    @Override
    public synchronized void decodeGreedy(Object owner, int token, boolean known, int pos, int maxPos, Buffer logits,
                                         int vocab, IntConsumer step) {
        Integer slot = slots.get(owner);
        if (!known && slot == null) {
            throw new IllegalStateException("the first greedy step of a generation needs its token from the host");
        }
        greedyCalls.add("step " + pos + (known ? " known" : ""));
        step.accept(known ? token : slot);
        float[] x = new float[vocab];
        read(logits, 0, x, 0, vocab);
        int id = Greedy.INSTANCE.sample(x, null);
        float logprob = (float) Perplexity.logSoftmax(x, id);
        slots.put(owner, id);
        choices.computeIfAbsent(owner, k -> new HashMap<>())
                .put(pos, (id & 0xffffffffL) | ((long) Float.floatToRawIntBits(logprob) << 32));
    }

    @Override
    public synchronized long greedyChoice(Object owner, int pos) {
        greedyCalls.add("choice " + pos);
        Long c = choices.getOrDefault(owner, Map.of()).get(pos);
        if (c == null) {
            throw new IllegalStateException("no greedy step at position " + pos + " was enqueued");
        }
        return c;
    }

    @Override
    public synchronized void release(Object owner) {
        slots.remove(owner);
        choices.remove(owner);
    }

    @Override
    public synchronized void close() {
        closed = true;
        weightBytes = 0;
    }

    /** The provider: "fakegpu", an accelerator, available only between {@link #enable} and {@link #disable}. */
    public static final class Provider implements BackendProvider {
        @Override
        public String name() {
            return "fakegpu";
        }

        @Override
        public int priority() {
            return 1000;
        }

        @Override
        public boolean accelerator() {
            return true;
        }

        @Override
        public String unavailableReason() {
            return capacity < 0 ? "a test backend, switched off" : null;
        }

        @Override
        public Backend create() {
            FakeGpuBackend b = new FakeGpuBackend();
            synchronized (FakeGpuBackend.class) {
                CREATED.add(b);
            }
            return b;
        }
    }
}
