package io.llmj.ffm.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.cpu.NativeQuantMatvecTest.Case;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormat;
import io.llmj.quant.QuantFormats;
import io.llmj.quant.QuantFormats.ActivationConversion;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code llmj_quantize_activations} and {@code llmj_matvec_q}, every weight type at every ISA level,
 * against the Java reference formats in {@code io.llmj.quant} (ggml's definitions, dot in double):
 * <ul>
 *   <li>the native activation bytes equal {@link QuantFormats#convertActivation} with ggml's x86
 *       converter, byte for byte;</li>
 *   <li>{@code |y - QuantFormat.dot(w, act)| <= (nb + 8) * 2^-24 * sum_i |w_i| |a_i|}, with nb the
 *       blocks per row (elements / 2 for F32/F16/BF16): float32 accumulation of nb block terms of
 *       at most three roundings each.</li>
 * </ul>
 */
class NativeQuantReferenceTest {

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (NativeCpu.Isa isa : new NativeCpu.Isa[] {NativeCpu.Isa.SCALAR, NativeCpu.Isa.AVX2, NativeCpu.Isa.AVX512}) {
            for (GgmlType t : NativeQuantMatvecTest.TYPES) {
                int[] blocks = t.blockSize() == 1 ? new int[] {1, 33, 257} : t.blockSize() == 32 ? new int[] {1, 3, 9, 17} : new int[] {1, 2, 3};
                for (int b : blocks) {
                    list.add(Arguments.of(isa, new Case(t, 17, b)));
                }
            }
        }
        return list.stream();
    }

    @AfterEach
    void restoreIsa() {
        NativeCpu.setIsa(NativeCpu.Isa.AUTO);
    }

    @ParameterizedTest(name = "isa={0} {1}")
    @MethodSource("cases")
    void matchesQuantReference(NativeCpu.Isa isa, Case c) {
        NativeCpu.init();
        Assumptions.assumeTrue(isa.ordinal() <= NativeCpu.bestIsa().ordinal(), "CPU lacks " + isa + ": not supported here");
        NativeCpu.setIsa(isa);
        GgmlType t = c.type();
        QuantFormat wf = QuantFormats.require(t);
        GgmlType vt = wf.vecDotType();
        assertEquals(vt.id(), Llmj.llmj_type_vec_dot_type(t.id()), t + " vec_dot_type");
        QuantFormat af = QuantFormats.require(vt);
        int n = c.cols();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = NativeQuantMatvecTest.weights(arena, c, 101);
            SplittableRandom rnd = new SplittableRandom(7L * n + t.id());
            float[] xs = new float[n];
            double scale = Math.scalb(1.0, rnd.nextInt(-3, 4));
            for (int i = 0; i < n; i++) {
                xs[i] = (float) (rnd.nextDouble(-1, 1) * scale);
            }
            MemorySegment x = arena.allocateFrom(ValueLayout.JAVA_FLOAT, xs);

            // activation conversion: native bytes == Java reference (ggml's x86 converter)
            long actBytes = vt.byteSize(n);
            MemorySegment act = arena.allocate(actBytes, 64);
            QuantFormats.convertActivation(vt, ActivationConversion.CPU_X86, xs, 0, n, act, 0);
            MemorySegment nat = arena.allocate(actBytes, 64);
            NativeStatus.check(Llmj.llmj_quantize_activations(vt.id(), x, nat, n), "llmj_quantize_activations");
            assertEquals(-1L, act.mismatch(nat), () -> "isa=" + isa + " " + vt + " activation bytes differ from io.llmj.quant");

            float[] y = NativeQuantMatvecTest.matvec(arena, MemorySegment.NULL, c, w, x);
            float[] a = af.dequantizeRow(act, 0, n);
            double terms = t.blockSize() == 1 ? n / 2.0 : c.blocks();
            for (int r = 0; r < c.rows(); r++) {
                double ref = wf.dot(w, r * c.rowBytes(), act, 0, n);
                float[] wr = wf.dequantizeRow(w, r * c.rowBytes(), n);
                double mag = 0;
                for (int i = 0; i < n; i++) {
                    mag += Math.abs((double) wr[i]) * Math.abs((double) a[i]);
                }
                double tol = (terms + 8) * Math.scalb(1.0, -24) * mag;
                assertTrue(Math.abs(y[r] - ref) <= tol,
                        "isa=" + isa + " " + c + " row " + r + ": got " + y[r] + ", reference " + ref + ", tolerance " + tol);
            }
        }
    }
}
