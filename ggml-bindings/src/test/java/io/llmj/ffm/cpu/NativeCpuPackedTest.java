package io.llmj.ffm.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.backend.Buffer;
import io.llmj.backend.Weight;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.cpu.NativeQuantMatvecTest.Case;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Packed Q4_0 / Q8_0 matrices ({@code llmj_matmul_q_pack} / {@code llmj_matmul_q_packed}) and the CPU backend
 * that packs them at load.
 *
 * <p>Reference: the plain Java decoding of ggml's blocks in {@link NativeQuantMatvecTest#weight} against the
 * Q8_0-converted activations, summed in double, within {@code (blocks + 8) * 2^-24 * sum |w * a|} (float32
 * accumulation of one term per block), at every ISA level the CPU has, rows around the 16-row groups and the
 * 4-group one-token path. Packed results are the same bits at every ISA level and for matmul on a pool
 * (per token, equal to the single-threaded one-token product). At AVX512-VNNI the packed kernels run the
 * unpacked tile kernels' float order, so there they equal {@code llmj_matvec_q} on the ggml rows bit for bit
 * and a backend that packs computes exactly what one that does not; below it (AVX2, where packing is also
 * recommended) the unpacked kernels reduce eight blocks before scaling, so the two differ by float rounding
 * and a packing backend is checked against {@code llmj_matmul_q_packed} itself, bit for bit. The token
 * embedding stays unpacked for lookups until a product needs it. {@code matmulShared} (one
 * {@code llmj_matmul_q_packed_multi}) gives each output the bits of its own matmul.
 * The C harness (ctest {@code native_matvec_q}) checks the same with its own double reference.
 */
class NativeCpuPackedTest {
    static final int[] ROWS = {1, 17, 67, 130};
    static final int[] BLOCKS = {1, 3, 67};

    @AfterEach
    void restoreIsa() {
        NativeCpu.setIsa(NativeCpu.Isa.AUTO);
    }

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (NativeCpu.Isa isa : new NativeCpu.Isa[] {NativeCpu.Isa.SCALAR, NativeCpu.Isa.AVX2, NativeCpu.Isa.AVX512}) {
            for (GgmlType t : new GgmlType[] {GgmlType.Q4_0, GgmlType.Q8_0}) {
                for (int r : ROWS) {
                    for (int b : BLOCKS) {
                        list.add(Arguments.of(isa, new Case(t, r, b)));
                    }
                }
            }
        }
        return list.stream();
    }

    /** Whether packed products have the unpacked ones' float order at the active ISA (AVX512-VNNI's tiles). */
    static boolean sameOrderAsUnpacked() {
        return NativeCpu.isa() == NativeCpu.Isa.AVX512 && NativeCpu.features().contains("avx512vnni");
    }

    /** The packed form of c's weights, in an arena segment (64-byte aligned). */
    static MemorySegment pack(Arena arena, MemorySegment pool, Case c, MemorySegment w) {
        long bytes = Llmj.llmj_matmul_q_packed_size(c.type().id(), c.rows(), c.cols());
        assertTrue(bytes >= (long) c.rows() * c.type().byteSize(c.cols()), "packed size " + bytes);
        MemorySegment p = arena.allocate(bytes, 64);
        NativeStatus.check(Llmj.llmj_matmul_q_pack(pool, c.type().id(), w, c.rowBytes(), c.rows(), c.cols(), p, bytes), "pack");
        return p;
    }

    /** n tokens (x_stride xs) through llmj_matmul_q_packed; y with guard bands around each token's padded row. */
    static float[][] packed(Arena arena, MemorySegment pool, Case c, MemorySegment p, MemorySegment x, long xs, int n) {
        long ys = c.rows() + 3;
        MemorySegment y = NativeQuantMatvecTest.guarded(arena, (int) (ys * n));
        long workBytes = Llmj.llmj_matmul_work_size(c.type().id(), c.cols(), n);
        MemorySegment work = arena.allocate(workBytes, 64);
        NativeStatus.check(Llmj.llmj_matmul_q_packed(pool, c.type().id(), p, p.byteSize(), x, xs, y.asSlice(4L * NativeQuantMatvecTest.GUARD),
                ys, c.rows(), c.cols(), n, work, workBytes), "llmj_matmul_q_packed");
        NativeQuantMatvecTest.checkGuards(y, (int) (ys * n), c + " packed");
        float[][] out = new float[n][];
        for (int t = 0; t < n; t++) {
            out[t] = y.asSlice(4L * (NativeQuantMatvecTest.GUARD + ys * t), 4L * c.rows()).toArray(ValueLayout.JAVA_FLOAT);
            for (long i = c.rows(); i < ys; i++) {
                assertEquals(Float.floatToRawIntBits(NativeQuantMatvecTest.SENTINEL),
                        Float.floatToRawIntBits(y.getAtIndex(ValueLayout.JAVA_FLOAT, NativeQuantMatvecTest.GUARD + ys * t + i)),
                        c + ": y padding written");
            }
        }
        return out;
    }

    @ParameterizedTest(name = "isa={0} {1}")
    @MethodSource("cases")
    void matchesJavaReferenceAndIsaIndependent(NativeCpu.Isa isa, Case c) {
        NativeCpu.init();
        Assumptions.assumeTrue(isa.ordinal() <= NativeCpu.bestIsa().ordinal(), "CPU lacks " + isa + ": not supported here");
        NativeCpu.setIsa(isa);
        try (Arena arena = Arena.ofConfined(); NativeThreadPool p3 = new NativeThreadPool(3)) {
            MemorySegment w = NativeQuantMatvecTest.weights(arena, c, 41);
            MemorySegment pk = pack(arena, MemorySegment.NULL, c, w);
            MemorySegment pk3 = pack(arena, p3.handle(), c, w);
            assertEquals(-1, pk.mismatch(pk3), c + ": packing on a pool of 3 writes other bytes");
            int n = 9;
            long xs = c.cols() + 5;
            MemorySegment x = NativeQuantMatvecTest.activations(arena, c.cols(), n, xs, 7 + c.rows());
            float[] y = packed(arena, MemorySegment.NULL, c, pk, x, xs, 1)[0];

            // the Java reference: ggml's blocks decoded plainly, activations as converted to Q8_0
            double[] a = NativeQuantMatvecTest.q8_0Activation(arena, c, x);
            for (int r = 0; r < c.rows(); r++) {
                double ref = 0;
                double mag = 0;
                for (int i = 0; i < c.cols(); i++) {
                    double wi = NativeQuantMatvecTest.weight(w, r * c.rowBytes(), c.type(), i);
                    ref += wi * a[i];
                    mag += Math.abs(wi * a[i]);
                }
                double tol = (c.blocks() + 8) * Math.scalb(1.0, -24) * mag;
                assertTrue(Math.abs(y[r] - ref) <= tol, "isa=" + isa + " " + c + " row " + r + ": got " + y[r] + ", reference " + ref);
            }

            // matmul on a pool: per token the single-threaded one-token product, bit for bit
            float[][] mm = packed(arena, p3.handle(), c, pk, x, xs, n);
            for (int t = 0; t < n; t++) {
                float[] one = packed(arena, MemorySegment.NULL, c, pk, x.asSlice(4L * xs * t), xs, 1)[0];
                assertArrayEquals(one, mm[t], "isa=" + isa + " " + c + " matmul token " + t);
            }
            // the same bits as the portable kernel, and as the unpacked product where the float order is the same
            if (isa != NativeCpu.Isa.SCALAR) {
                NativeCpu.setIsa(NativeCpu.Isa.SCALAR);
                assertArrayEquals(y, packed(arena, MemorySegment.NULL, c, pk, x, xs, 1)[0], "isa=" + isa + " " + c + " vs the portable kernel");
                NativeCpu.setIsa(isa);
            }
            if (sameOrderAsUnpacked()) {
                assertArrayEquals(NativeQuantMatvecTest.matvec(arena, MemorySegment.NULL, c, w, x), y, c + " vs llmj_matvec_q");
            }
        }
    }

    @Test
    void backendPacksAtLoadWithTheSameResults() {
        NativeCpu.init();
        boolean recommended = Llmj.llmj_matmul_q_pack_recommended(GgmlType.Q4_0.id()) == 1;
        try (Arena arena = Arena.ofConfined(); NativeCpuBackend on = new NativeCpuBackend(3, true);
                NativeCpuBackend off = new NativeCpuBackend(3, false)) {
            for (GgmlType t : new GgmlType[] {GgmlType.Q4_0, GgmlType.Q8_0}) {
                for (String name : new String[] {"blk.0.ffn_up.weight", "token_embd.weight"}) {
                    Case c = new Case(t, 67, 5);
                    MemorySegment data = arena.allocate(t.byteSize(c.cols()) * c.rows(), 64);
                    MemorySegment w = NativeQuantMatvecTest.weights(arena, c, 5);
                    for (int r = 0; r < c.rows(); r++) {   // the backend takes rows without padding
                        MemorySegment.copy(w, r * c.rowBytes(), data, r * t.byteSize(c.cols()), t.byteSize(c.cols()));
                    }
                    long[] shape = {c.cols(), c.rows()};
                    Weight wOn = on.weight(name, t, shape, data);
                    Weight wOff = off.weight(name, t, shape, data);
                    boolean embedding = name.startsWith("token_embd");
                    assertEquals(recommended && !embedding, on.isPacked(wOn), name + " " + t + " packed at load");
                    assertFalse(off.isPacked(wOff), "pack=false packs nothing");
                    if (embedding) {   // lookups read the ggml rows, before and after the first product
                        assertArrayEquals(embed(on, wOn, c), embed(off, wOff, c), t + " embedding rows");
                    }
                    for (int n : new int[] {1, 5, 9}) {
                        float[] x = new float[c.cols() * n];
                        for (int i = 0; i < x.length; i++) {
                            x[i] = (float) Math.sin(0.37 * i + n);
                        }
                        float[] yOn = matmul(on, wOn, x, c, n);
                        if (!recommended || sameOrderAsUnpacked()) {
                            assertArrayEquals(matmul(off, wOff, x, c, n), yOn, name + " " + t + " n=" + n);
                        } else {   // AVX2: the packed kernel's bits (the unpacked order differs by rounding)
                            float[][] direct = packed(arena, MemorySegment.NULL, c, pack(arena, MemorySegment.NULL, c, w),
                                    arena.allocateFrom(ValueLayout.JAVA_FLOAT, x), c.cols(), n);
                            for (int tok = 0; tok < n; tok++) {
                                assertArrayEquals(direct[tok], Arrays.copyOfRange(yOn, tok * c.rows(), (tok + 1) * c.rows()),
                                        name + " " + t + " n=" + n + " token " + tok + " vs llmj_matmul_q_packed");
                            }
                        }
                    }
                    assertEquals(recommended, on.isPacked(wOn), name + " " + t + " packed after its first product");
                    if (embedding) {
                        assertArrayEquals(embed(on, wOn, c), embed(off, wOff, c), t + " embedding rows after packing");
                    }
                }
            }
        }
    }

    @Test
    void sharedInputProductsMatchOneByOne() {
        NativeCpu.init();
        try (Arena arena = Arena.ofConfined(); NativeCpuBackend on = new NativeCpuBackend(3, true);
                NativeCpuBackend off = new NativeCpuBackend(3, false)) {
            for (GgmlType t : new GgmlType[] {GgmlType.Q4_0, GgmlType.Q8_0}) {
                int[] rows = {67, 17, 130};
                int blocks = 3;
                Weight[] wOn = new Weight[rows.length];
                Weight[] wOff = new Weight[rows.length];
                for (int i = 0; i < rows.length; i++) {
                    Case c = new Case(t, rows[i], blocks);
                    MemorySegment data = arena.allocate(t.byteSize(c.cols()) * c.rows(), 64);
                    MemorySegment w = NativeQuantMatvecTest.weights(arena, c, 100 + i);
                    for (int r = 0; r < c.rows(); r++) {
                        MemorySegment.copy(w, r * c.rowBytes(), data, r * t.byteSize(c.cols()), t.byteSize(c.cols()));
                    }
                    wOn[i] = on.weight("blk.0.m" + i + ".weight", t, new long[] {c.cols(), c.rows()}, data);
                    wOff[i] = off.weight("blk.0.m" + i + ".weight", t, new long[] {c.cols(), c.rows()}, data);
                }
                int cols = 32 * blocks;
                for (int n : new int[] {1, 4, 9}) {
                    float[] x = new float[cols * n];
                    for (int i = 0; i < x.length; i++) {
                        x[i] = (float) Math.cos(0.91 * i - n);
                    }
                    for (NativeCpuBackend b : new NativeCpuBackend[] {on, off}) {
                        Weight[] ws = b == on ? wOn : wOff;
                        Buffer xb = b.allocate((long) cols * n);
                        b.write(xb, 0, x, 0, x.length);
                        Buffer[] outs = new Buffer[rows.length];
                        for (int i = 0; i < rows.length; i++) {
                            outs[i] = b.allocate((long) rows[i] * n);
                        }
                        b.matmulShared(xb, n, ws, outs);
                        for (int i = 0; i < rows.length; i++) {
                            float[] got = new float[rows[i] * n];
                            b.read(outs[i], 0, got, 0, got.length);
                            Case c = new Case(t, rows[i], blocks);
                            assertArrayEquals(matmul(b, ws[i], x, c, n), got, t + " matrix " + i + " n=" + n + " pack=" + (b == on));
                            if (sameOrderAsUnpacked()) {
                                assertArrayEquals(matmul(off, wOff[i], x, c, n), got, t + " matrix " + i + " n=" + n + " vs unpacked");
                            }
                        }
                    }
                }
            }
        }
    }

    static float[] matmul(NativeCpuBackend b, Weight w, float[] x, Case c, int n) {
        Buffer xb = b.allocate((long) c.cols() * n);
        Buffer yb = b.allocate((long) c.rows() * n);
        b.write(xb, 0, x, 0, x.length);
        b.matmul(w, xb, n, yb);
        float[] y = new float[c.rows() * n];
        b.read(yb, 0, y, 0, y.length);
        return y;
    }

    static float[] embed(NativeCpuBackend b, Weight w, Case c) {
        int[] ids = {0, 3, c.rows() - 1};
        Buffer out = b.allocate((long) c.cols() * ids.length);
        b.embed(w, ids, 1f, out);
        float[] y = new float[c.cols() * ids.length];
        b.read(out, 0, y, 0, y.length);
        return y;
    }

    @Test
    void argumentErrors() {
        NativeCpu.init();
        try (Arena arena = Arena.ofConfined()) {
            assertEquals(0, Llmj.llmj_matmul_q_packed_size(GgmlType.Q4_K.id(), 16, 256));
            assertEquals(0, Llmj.llmj_matmul_q_packed_size(GgmlType.Q4_0.id(), 16, 48));
            MemorySegment w = arena.allocate(34 * 4, 64);
            MemorySegment p = arena.allocate(4096, 64);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> NativeStatus.check(
                    Llmj.llmj_matmul_q_pack(MemorySegment.NULL, GgmlType.Q8_0.id(), w, 34, 4, 32, p.asSlice(32), 4000), "pack"));
            assertTrue(e.getMessage().contains("64-byte aligned"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> NativeStatus.check(Llmj.llmj_matmul_q_packed(MemorySegment.NULL,
                    GgmlType.Q8_0.id(), p, 100, w, 32, w, 4, 4, 32, 1, MemorySegment.NULL, 0), "packed"));
            assertTrue(e.getMessage().contains("packed_bytes"), e.getMessage());
            assertThrows(UnsupportedOperationException.class, () -> NativeStatus.check(
                    Llmj.llmj_matmul_q_pack(MemorySegment.NULL, GgmlType.Q4_1.id(), w, 20, 4, 32, p, 4096), "pack"));
        }
    }
}
