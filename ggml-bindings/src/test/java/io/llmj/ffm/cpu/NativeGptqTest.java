package io.llmj.ffm.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.ffm.generated.llmj.llmj_gptq_matrix;
import io.llmj.quant.gptq.GptqMatrix;
import io.llmj.quant.gptq.GptqTestModels;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code llmj_gptq_matmul} at every ISA level against the Java references in {@link GptqMatrix}:
 * <ul>
 *   <li>{@link GptqMatrix#matvecQ8} (the kernel's definition: Q8_0 activations, exact integer block sums,
 *       summed in double): {@code |y - ref| <= 1e-5 * sum_c |W[r,c] x[c]| + 1e-6};</li>
 *   <li>{@link GptqMatrix#matvec} (float weights times float x, what transformers computes): normalized
 *       squared error over the rows {@code <= 1e-3} (the Q8_0 rounding of the activation);</li>
 * </ul>
 * over awkward sizes (odd row counts through row slices; columns 32k and 176 = 5.5 blocks; group sizes
 * 32/64/128/-1; act-order on and off), with guard bands, and prefill (5 tokens) and a 3-thread pool
 * equal to the single-threaded matvec bit for bit.
 */
class NativeGptqTest {
    static final int GUARD = 16;
    static final float SENTINEL = Float.intBitsToFloat(0x7fc0beef);

    record Case(int bits, int rows, int cols, int groupSize, boolean descAct) {
        @Override
        public String toString() {
            return bits + "-bit rows=" + rows + " cols=" + cols + " g=" + groupSize + (descAct ? " act-order" : "");
        }
    }

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        int[][] shapes = {{1, 32, 32}, {7, 64, 32}, {17, 176, 64}, {33, 96, -1}, {9, 256, 128}, {65, 512, 128},
            {3, 288, 32}, {31, 416, -1}, {8, 1024, 128}};
        for (NativeCpu.Isa isa : NativeCpu.Isa.values()) {
            if (isa == NativeCpu.Isa.AUTO) {
                continue;
            }
            for (int bits : new int[] {4, 8}) {
                for (int[] s : shapes) {
                    for (boolean act : new boolean[] {false, true}) {
                        list.add(Arguments.of(isa, new Case(bits, s[0], s[1], s[2], act)));
                    }
                }
            }
        }
        return list.stream();
    }

    @AfterEach
    void restoreIsa() {
        NativeCpu.setIsa(NativeCpu.Isa.AUTO);
    }

    /** The case's matrix: a random layer of rows rounded up to 8 (qzeros pack 8 columns), sliced to {@code rows}. */
    static GptqMatrix matrix(Case c, Arena arena) {
        int n = (c.rows() + 1 + 7) / 8 * 8;
        GptqMatrix full = GptqTestModels.randomMatrix(c.bits(), n, c.cols(), c.groupSize(), c.descAct(),
                31L * c.rows() + c.cols() + c.bits(), arena);
        return full.sliceRows(1, c.rows(), arena);
    }

    static MemorySegment descriptor(GptqMatrix m, Arena arena) {
        MemorySegment d = arena.allocate(llmj_gptq_matrix.layout());
        llmj_gptq_matrix.bits(d, m.bits());
        llmj_gptq_matrix.rows(d, m.rows());
        llmj_gptq_matrix.cols(d, m.cols());
        llmj_gptq_matrix.perm(d, m.perm() == null ? MemorySegment.NULL : m.perm());
        llmj_gptq_matrix.scales(d, m.scales());
        llmj_gptq_matrix.zeros(d, m.zeros());
        llmj_gptq_matrix.qs(d, m.qs());
        return d;
    }

    static float[] randomX(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** Runs the kernel on {@code tokens} rows of x; outputs between guard bands, checked. */
    static float[] run(MemorySegment pool, GptqMatrix m, float[] x, int tokens, Arena arena) {
        MemorySegment desc = descriptor(m, arena);
        MemorySegment xs = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
        long ny = (long) tokens * m.rows();
        MemorySegment y = arena.allocate(4L * (ny + 2 * GUARD), 64);
        for (long i = 0; i < ny + 2 * GUARD; i++) {
            y.setAtIndex(ValueLayout.JAVA_FLOAT, i, SENTINEL);
        }
        long work = Llmj.llmj_gptq_work_size(m.cols(), tokens);
        MemorySegment ws = arena.allocate(work, 64);
        NativeStatus.check(Llmj.llmj_gptq_matmul(pool, desc, xs, m.cols(), y.asSlice(4L * GUARD), m.rows(), tokens, ws, work),
                "llmj_gptq_matmul");
        for (int i = 0; i < GUARD; i++) {
            assertEquals(Float.floatToRawIntBits(SENTINEL), Float.floatToRawIntBits(y.getAtIndex(ValueLayout.JAVA_FLOAT, i)), "guard before");
            assertEquals(Float.floatToRawIntBits(SENTINEL),
                    Float.floatToRawIntBits(y.getAtIndex(ValueLayout.JAVA_FLOAT, GUARD + ny + i)), "guard after");
        }
        return y.asSlice(4L * GUARD, 4L * ny).toArray(ValueLayout.JAVA_FLOAT);
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void matchesJavaReferences(NativeCpu.Isa isa, Case c) {
        NativeCpu.init();
        Assumptions.assumeTrue(isa.ordinal() <= NativeCpu.bestIsa().ordinal(), isa + " not supported by this CPU");
        NativeCpu.setIsa(isa);
        try (Arena arena = Arena.ofConfined()) {
            GptqMatrix m = matrix(c, arena);
            float[] x = randomX(c.cols(), c.rows());
            float[] got = run(MemorySegment.NULL, m, x, 1, arena);
            float[] q8 = new float[m.rows()];
            m.matvecQ8(x, q8);
            float[] exact = new float[m.rows()];
            m.matvec(x, exact);
            float[] w = new float[m.cols()];
            double err = 0;
            double norm = 0;
            for (int r = 0; r < m.rows(); r++) {
                m.dequantizeRow(r, w);
                double mag = 0;
                for (int k = 0; k < w.length; k++) {
                    mag += Math.abs((double) w[k] * x[k]);
                }
                assertTrue(Math.abs(got[r] - q8[r]) <= 1e-5 * mag + 1e-6,
                        c + " row " + r + ": " + got[r] + " vs Q8 reference " + q8[r] + " (sum |w x| " + mag + ")");
                err += (got[r] - exact[r]) * (double) (got[r] - exact[r]);
                norm += (double) exact[r] * exact[r];
            }
            assertTrue(err <= 1e-3 * norm, c + ": NMSE vs float reference " + err / norm);

            // prefill: 5 tokens through one call equal 5 matvecs, and a 3-thread pool changes nothing
            float[] x5 = randomX(5 * c.cols(), 99);
            float[] y5 = run(MemorySegment.NULL, m, x5, 5, arena);
            try (NativeThreadPool pool = new NativeThreadPool(3)) {
                assertArrayEquals(y5, run(pool.handle(), m, x5, 5, arena), c + " 3 threads");
                for (int t = 0; t < 5; t++) {
                    float[] xt = java.util.Arrays.copyOfRange(x5, t * c.cols(), (t + 1) * c.cols());
                    float[] yt = java.util.Arrays.copyOfRange(y5, t * m.rows(), (t + 1) * m.rows());
                    assertArrayEquals(yt, run(pool.handle(), m, xt, 1, arena), c + " token " + t);
                }
            }
        }
    }

    @Test
    void rejectsUnsupportedBitsAndSmallWork() {
        NativeCpu.init();
        try (Arena arena = Arena.ofConfined()) {
            GptqMatrix m = GptqTestModels.randomMatrix(2, 16, 64, 32, false, 1, arena);
            MemorySegment x = arena.allocate(4L * 64);
            MemorySegment y = arena.allocate(4L * 16);
            RuntimeException u = assertThrows(UnsupportedOperationException.class, () -> NativeStatus.check(
                    Llmj.llmj_gptq_matvec(MemorySegment.NULL, descriptor(m, arena), x, y, MemorySegment.NULL, 0), "gptq"));
            assertTrue(u.getMessage().contains("2-bit"), u.getMessage());
            GptqMatrix m4 = GptqTestModels.randomMatrix(4, 16, 64, 32, false, 1, arena);
            MemorySegment small = arena.allocate(8);
            RuntimeException e = assertThrows(RuntimeException.class, () -> NativeStatus.check(
                    Llmj.llmj_gptq_matvec(MemorySegment.NULL, descriptor(m4, arena), x, y, small, 8), "gptq"));
            assertTrue(e.getMessage().contains("work_bytes"), e.getMessage());
        }
    }
}
