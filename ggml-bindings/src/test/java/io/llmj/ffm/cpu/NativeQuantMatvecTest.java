package io.llmj.ffm.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code llmj_matvec_q} / {@code llmj_matmul_q} through the generated bindings.
 *
 * <p>References: F32, Q8_0 and Q4_0 against a plain Java reference written here, and every type's
 * AVX2 and AVX-512 results against the native scalar C path:
 * {@code |y - y_scalar| <= 1e-5 * (|y_scalar[r]| + mean_r |y_scalar|)}. Every type at every ISA
 * against the io.llmj.quant reference formats is in {@link NativeQuantReferenceTest}; the C harness
 * (ctest {@code native_matvec_q}) has its own independent double reference.
 * Outputs carry guard bands; pools of 2 and 3 threads and {@code llmj_matmul_q} must equal the
 * single-threaded matvec bit for bit.
 */
class NativeQuantMatvecTest {
    static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1,
        GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K,
        GgmlType.Q6_K, GgmlType.IQ4_NL, GgmlType.IQ4_XS};
    static final int GUARD = 16;
    static final float SENTINEL = Float.intBitsToFloat(0x7fc0beef);

    record Case(GgmlType type, int rows, int blocks) {
        int cols() {
            return type.blockSize() == 1 ? blocks : blocks * type.blockSize();
        }

        long rowBytes() {
            return type.byteSize(cols()) + 8;
        }

        @Override
        public String toString() {
            return "type=" + type + " rows=" + rows + " cols=" + cols();
        }
    }

    static List<Case> cases() {
        List<Case> list = new ArrayList<>();
        for (GgmlType t : TYPES) {
            int[] blocks = t.blockSize() == 1 ? new int[] {1, 17, 33, 257} : t.blockSize() == 32 ? new int[] {1, 3, 67} : new int[] {1, 2, 5};
            for (int r : new int[] {1, 8, 17}) {
                for (int b : blocks) {
                    list.add(new Case(t, r, b));
                }
            }
        }
        return list;
    }

    static Stream<Arguments> isaCases() {
        List<Arguments> list = new ArrayList<>();
        for (NativeCpu.Isa isa : new NativeCpu.Isa[] {NativeCpu.Isa.AVX2, NativeCpu.Isa.AVX512}) {
            for (Case c : cases()) {
                list.add(Arguments.of(isa, c));
            }
        }
        return list.stream();
    }

    static Stream<Case> referenceCases() {
        return cases().stream().filter(c -> c.type() == GgmlType.F32 || c.type() == GgmlType.Q8_0 || c.type() == GgmlType.Q4_0);
    }

    @AfterEach
    void restoreIsa() {
        NativeCpu.setIsa(NativeCpu.Isa.AUTO);
    }

    /** Random bytes with sane scale fields (fp16 d / m / dmin at each type's offsets). */
    static MemorySegment weights(Arena arena, Case c, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed ^ (31L * c.rows() + c.cols()) ^ c.type().id());
        MemorySegment w = arena.allocate(c.rowBytes() * c.rows(), 64);
        for (long i = 0; i < w.byteSize(); i++) {
            w.set(ValueLayout.JAVA_BYTE, i, (byte) rnd.nextInt());
        }
        GgmlType t = c.type();
        for (int r = 0; r < c.rows(); r++) {
            for (int b = 0; b < c.blocks(); b++) {
                long o = r * c.rowBytes() + (long) b * t.blockBytes();
                float d = (float) (rnd.nextDouble(1, 1.5) / (1 << (6 + rnd.nextInt(4))));
                switch (t) {
                    case F32 -> w.set(ValueLayout.JAVA_FLOAT_UNALIGNED, o, (float) rnd.nextDouble(-1, 1));
                    case F16 -> w.set(ValueLayout.JAVA_SHORT_UNALIGNED, o, Float16.fromFloat((float) rnd.nextDouble(-1, 1)));
                    case BF16 -> w.set(ValueLayout.JAVA_SHORT_UNALIGNED, o, Float16.floatToBf16((float) rnd.nextDouble(-1, 1)));
                    case Q4_0, Q5_0, Q8_0, IQ4_NL, IQ4_XS -> putHalf(w, o, rnd.nextBoolean() ? d : -d);
                    case Q4_1, Q5_1, Q4_K, Q5_K -> {
                        putHalf(w, o, d);
                        putHalf(w, o + 2, (float) (rnd.nextDouble(-4, 4) * d));
                    }
                    case Q2_K -> {
                        putHalf(w, o + 80, d);
                        putHalf(w, o + 82, d / 2);
                    }
                    case Q3_K -> putHalf(w, o + 108, d);
                    case Q6_K -> putHalf(w, o + 208, d);
                    default -> throw new AssertionError(t);
                }
            }
        }
        return w;
    }

    static void putHalf(MemorySegment s, long off, float v) {
        s.set(ValueLayout.JAVA_SHORT_UNALIGNED, off, Float16.fromFloat(v));
    }

    /** x (one row of c.cols() floats) as the kernels see it: converted to Q8_0 blocks {fp16 d, int8 q[32]}, decoded. */
    static double[] q8_0Activation(Arena arena, Case c, MemorySegment x) {
        MemorySegment q = arena.allocate(Llmj.llmj_matvec_work_size(c.type().id(), c.cols()));
        NativeStatus.check(Llmj.llmj_quantize_activations(GgmlType.Q8_0.id(), x, q, c.cols()), "quantize");
        double[] a = new double[c.cols()];
        for (int i = 0; i < c.cols(); i++) {
            long b = 34L * (i / 32);
            a[i] = Float16.toFloat(q.get(ValueLayout.JAVA_SHORT_UNALIGNED, b)) * (double) q.get(ValueLayout.JAVA_BYTE, b + 2 + i % 32);
        }
        return a;
    }

    static MemorySegment activations(Arena arena, int cols, int tokens, long stride, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        MemorySegment x = arena.allocate(4L * stride * tokens, 64);
        for (long i = 0; i < stride * tokens; i++) {
            x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble(-2, 2));
        }
        return x;
    }

    static MemorySegment guarded(Arena arena, int n) {
        MemorySegment y = arena.allocate(4L * (n + 2 * GUARD), 64);
        for (int i = 0; i < n + 2 * GUARD; i++) {
            y.setAtIndex(ValueLayout.JAVA_FLOAT, i, SENTINEL);
        }
        return y;
    }

    static void checkGuards(MemorySegment y, int n, String what) {
        for (int i = 0; i < GUARD; i++) {
            assertEquals(Float.floatToRawIntBits(SENTINEL), Float.floatToRawIntBits(y.getAtIndex(ValueLayout.JAVA_FLOAT, i)),
                    what + ": guard band before the output overwritten");
            assertEquals(Float.floatToRawIntBits(SENTINEL), Float.floatToRawIntBits(y.getAtIndex(ValueLayout.JAVA_FLOAT, GUARD + n + i)),
                    what + ": guard band after the output overwritten");
        }
    }

    /** y (with guard bands) from llmj_matvec_q at the current ISA. */
    static float[] matvec(Arena arena, MemorySegment pool, Case c, MemorySegment w, MemorySegment x) {
        MemorySegment y = guarded(arena, c.rows());
        long workBytes = Llmj.llmj_matvec_work_size(c.type().id(), c.cols());
        MemorySegment work = arena.allocate(Math.max(1, workBytes), 64);
        NativeStatus.check(Llmj.llmj_matvec_q(pool, c.type().id(), w, c.rowBytes(), x, y.asSlice(4L * GUARD), c.rows(),
                c.cols(), work, workBytes), "llmj_matvec_q");
        checkGuards(y, c.rows(), c.toString());
        return y.asSlice(4L * GUARD, 4L * c.rows()).toArray(ValueLayout.JAVA_FLOAT);
    }

    @Test
    void blockConstantsMatchNative() {
        NativeCpu.init();
        for (GgmlType t : GgmlType.values()) {
            int bs = Llmj.llmj_type_block_size(t.id());
            if (bs == 0) {
                continue;   // llmj has no kernel for it
            }
            assertEquals(t.blockSize(), bs, t + " block size");
            assertEquals(t.blockBytes(), Llmj.llmj_type_block_bytes(t.id()), t + " block bytes");
        }
        for (GgmlType t : TYPES) {
            assertTrue(Llmj.llmj_type_block_size(t.id()) > 0, t + " is known natively");
            GgmlType vt = GgmlType.byId(Llmj.llmj_type_vec_dot_type(t.id()));
            GgmlType want = switch (t) {
                case F32, F16, BF16 -> t;
                case Q4_0, Q5_0, Q8_0, IQ4_NL -> GgmlType.Q8_0;
                case Q4_1, Q5_1 -> GgmlType.Q8_1;
                default -> GgmlType.Q8_K;
            };
            assertEquals(want, vt, t + " vec_dot_type");
        }
        assertEquals(Llmj.LLMJ_TYPE_Q4_K(), GgmlType.Q4_K.id());
        assertEquals(Llmj.LLMJ_TYPE_IQ4_XS(), GgmlType.IQ4_XS.id());
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("referenceCases")
    void matchesJavaReference(Case c) {
        NativeCpu.init();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = weights(arena, c, 11);
            MemorySegment x = activations(arena, c.cols(), 1, c.cols(), 5 + c.cols());
            float[] y = matvec(arena, MemorySegment.NULL, c, w, x);
            double[] a = new double[c.cols()];
            if (c.type() == GgmlType.F32) {
                for (int i = 0; i < c.cols(); i++) {
                    a[i] = x.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                }
            } else {
                a = q8_0Activation(arena, c, x);
            }
            for (int r = 0; r < c.rows(); r++) {
                double ref = 0;
                double mag = 0;
                for (int i = 0; i < c.cols(); i++) {
                    double wi = weight(w, r * c.rowBytes(), c.type(), i);
                    ref += wi * a[i];
                    mag += Math.abs(wi * a[i]);
                }
                double terms = c.type() == GgmlType.F32 ? c.cols() / 2.0 : c.blocks();
                double tol = (terms + 8) * Math.scalb(1.0, -24) * mag;
                assertTrue(Math.abs(y[r] - ref) <= tol, c + " row " + r + ": got " + y[r] + ", reference " + ref + ", tolerance " + tol);
            }
        }
    }

    /** Element i of a row: F32, or Q8_0 / Q4_0 decoded from ggml's block definitions. */
    static double weight(MemorySegment w, long row, GgmlType t, int i) {
        return switch (t) {
            case F32 -> w.get(ValueLayout.JAVA_FLOAT_UNALIGNED, row + 4L * i);
            case Q8_0 -> {
                long b = row + 34L * (i / 32);
                yield Float16.toFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, b)) * (double) w.get(ValueLayout.JAVA_BYTE, b + 2 + i % 32);
            }
            case Q4_0 -> {
                long b = row + 18L * (i / 32);
                int j = i % 32;
                int packed = w.get(ValueLayout.JAVA_BYTE, b + 2 + j % 16) & 0xFF;
                int q = (j < 16 ? packed & 0xF : packed >> 4) - 8;
                yield Float16.toFloat(w.get(ValueLayout.JAVA_SHORT_UNALIGNED, b)) * (double) q;
            }
            default -> throw new AssertionError(t);
        };
    }

    @ParameterizedTest(name = "isa={0} {1}")
    @MethodSource("isaCases")
    void simdMatchesScalarPath(NativeCpu.Isa isa, Case c) {
        NativeCpu.init();
        Assumptions.assumeTrue(isa.ordinal() <= NativeCpu.bestIsa().ordinal(), "CPU lacks " + isa + ": not supported here");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = weights(arena, c, 3);
            MemorySegment x = activations(arena, c.cols(), 1, c.cols(), 9 + c.rows());
            NativeCpu.setIsa(NativeCpu.Isa.SCALAR);
            float[] ys = matvec(arena, MemorySegment.NULL, c, w, x);
            NativeCpu.setIsa(isa);
            float[] y = matvec(arena, MemorySegment.NULL, c, w, x);
            double mean = 0;
            for (float v : ys) {
                mean += Math.abs(v) / ys.length;
            }
            for (int r = 0; r < c.rows(); r++) {
                double tol = 1e-5 * (Math.abs(ys[r]) + mean);
                assertTrue(Math.abs(y[r] - ys[r]) <= tol, "isa=" + isa + " " + c + " row " + r + ": " + y[r] + " vs scalar " + ys[r]);
            }
        }
    }

    @Test
    void threadsAndMatmulAreBitExact() {
        NativeCpu.init();
        try (Arena arena = Arena.ofConfined(); NativeThreadPool p2 = new NativeThreadPool(2); NativeThreadPool p3 = new NativeThreadPool(3)) {
            assertEquals(2, p2.size());
            for (GgmlType t : TYPES) {
                Case c = new Case(t, 37, t.blockSize() == 1 ? 100 : 3);
                int tokens = 9;
                long xs = c.cols() + 5;
                long ys = c.rows() + 3;
                MemorySegment w = weights(arena, c, 21);
                MemorySegment x = activations(arena, c.cols(), tokens, xs, 77);
                for (NativeThreadPool p : new NativeThreadPool[] {p2, p3}) {
                    MemorySegment y = guarded(arena, (int) (ys * tokens));
                    long workBytes = Llmj.llmj_matmul_work_size(t.id(), c.cols(), tokens);
                    MemorySegment work = arena.allocate(Math.max(1, workBytes), 64);
                    NativeStatus.check(Llmj.llmj_matmul_q(p.handle(), t.id(), w, c.rowBytes(), x, xs, y.asSlice(4L * GUARD), ys,
                            c.rows(), c.cols(), tokens, work, workBytes), "llmj_matmul_q");
                    checkGuards(y, (int) (ys * tokens), c + " matmul");
                    for (int tok = 0; tok < tokens; tok++) {
                        MemorySegment xt = x.asSlice(4L * xs * tok, 4L * c.cols());
                        float[] single = matvec(arena, MemorySegment.NULL, c, w, xt);
                        float[] pooled = matvec(arena, p.handle(), c, w, xt);
                        float[] mm = y.asSlice(4L * (GUARD + ys * tok), 4L * c.rows()).toArray(ValueLayout.JAVA_FLOAT);
                        assertArrayEquals(single, pooled, c + " pool of " + p.size() + " token " + tok);
                        assertArrayEquals(single, mm, c + " matmul token " + tok);
                        for (long i = c.rows(); i < ys; i++) {
                            assertEquals(Float.floatToRawIntBits(SENTINEL),
                                    Float.floatToRawIntBits(y.getAtIndex(ValueLayout.JAVA_FLOAT, GUARD + ys * tok + i)), "y padding written");
                        }
                    }
                }
            }
        }
    }

    @Test
    void backendRunsQuantizedTypesAndReportsErrors() {
        try (NativeCpuBackend backend = new NativeCpuBackend(); Arena arena = Arena.ofConfined()) {
            Case c = new Case(GgmlType.Q4_K, 5, 2);
            assertTrue(backend.supports(io.llmj.backend.Op.MATVEC, GgmlType.Q4_K));
            MemorySegment w = weights(arena, c, 1);
            MemorySegment x = activations(arena, c.cols(), 1, c.cols(), 2);
            float[] want = matvec(arena, MemorySegment.NULL, c, w, x);
            float[] got = new float[c.rows()];
            backend.matvec(c.type(), w, c.rowBytes(), x, MemorySegment.ofArray(got), c.rows(), c.cols());
            assertArrayEquals(want, got);
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NativeStatus.check(
                Llmj.llmj_matvec_q(MemorySegment.NULL, GgmlType.Q4_0.id(), MemorySegment.NULL, 18, MemorySegment.NULL,
                        MemorySegment.NULL, 1, 33, MemorySegment.NULL, 0), "llmj_matvec_q"));
        assertTrue(e.getMessage().contains("not a multiple of the block size"), e.getMessage());
        assertThrows(UnsupportedOperationException.class, () -> NativeStatus.check(
                Llmj.llmj_quantize_activations(GgmlType.Q4_0.id(), MemorySegment.NULL, MemorySegment.NULL, 32), "quantize"));
        assertThrows(IllegalArgumentException.class, () -> new NativeThreadPool(0));
    }
}
