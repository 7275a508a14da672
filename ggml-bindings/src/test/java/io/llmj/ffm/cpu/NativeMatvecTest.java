package io.llmj.ffm.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ffm.MatvecCases;
import io.llmj.ffm.MatvecCases.Case;
import io.llmj.ffm.MatvecCases.Data;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** The C matvec kernels, each ISA level forced in turn, against the Java reference. */
class NativeMatvecTest {

    static Stream<Arguments> cases() {
        List<Arguments> list = new ArrayList<>();
        for (NativeCpu.Isa isa : new NativeCpu.Isa[] {NativeCpu.Isa.SCALAR, NativeCpu.Isa.AVX2, NativeCpu.Isa.AVX512}) {
            for (Case c : MatvecCases.all()) {
                list.add(Arguments.of(isa, c));
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
    void matchesJavaReference(NativeCpu.Isa isa, Case c) {
        NativeCpu.init();
        Assumptions.assumeTrue(isa.ordinal() <= NativeCpu.bestIsa().ordinal(), "CPU lacks " + isa + ": not supported here");
        NativeCpu.setIsa(isa);
        assertEquals(isa, NativeCpu.isa());
        try (Arena arena = Arena.ofConfined()) {
            Data d = new Data(arena, c, 42);
            MemorySegment y = Data.guarded(arena, c.rows());
            NativeStatus.check(Llmj.llmj_matvec(c.type().id(), d.w, c.rowBytes(), d.x,
                    y.asSlice(4L * MatvecCases.GUARD), c.rows(), c.cols()), "llmj_matvec");
            assertNull(d.compare(y, c.rows()), () -> "isa=" + isa + " " + c);
        }
    }

    @Test
    void backendStagesHeapSegments() {
        try (Arena arena = Arena.ofConfined()) {
            Case c = new Case(GgmlType.F32, 3, 33);
            Data d = new Data(arena, c, 7);
            MemorySegment heapW = MemorySegment.ofArray(new byte[(int) d.w.byteSize()]).copyFrom(d.w);
            float[] out = new float[c.rows()];
            new NativeCpuBackend().matvec(c.type(), heapW, c.rowBytes(), d.x, MemorySegment.ofArray(out), c.rows(), c.cols());
            for (int r = 0; r < c.rows(); r++) {
                assertTrue(Math.abs(out[r] - d.ref[r]) <= d.tol[r], "row " + r);
            }
        }
    }

    @Test
    void errorsCarryTheNativeMessage() {
        NativeCpu.init();
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class, () -> NativeStatus.check(
                Llmj.llmj_matvec(GgmlType.Q4_0.id(), MemorySegment.NULL, 0, MemorySegment.NULL, MemorySegment.NULL, 1, 32),
                "llmj_matvec"));
        assertTrue(e.getMessage().contains("weight type 2 is not supported"), e.getMessage());
        IllegalArgumentException e2 = assertThrows(IllegalArgumentException.class, () -> NativeStatus.check(
                Llmj.llmj_matvec(GgmlType.F32.id(), MemorySegment.NULL, 4, MemorySegment.NULL, MemorySegment.NULL, 1, 1),
                "llmj_matvec"));
        assertTrue(e2.getMessage().contains("null pointer"), e2.getMessage());
        assertThrows(IllegalArgumentException.class, () -> NativeCpu.Isa.parse("sse9"));
    }

    @Test
    void reportsFeaturesConsistentWithBestIsa() {
        List<String> f = NativeCpu.features();
        if (NativeCpu.bestIsa() == NativeCpu.Isa.AVX512) {
            assertTrue(f.containsAll(List.of("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl")), f.toString());
        } else if (NativeCpu.bestIsa() == NativeCpu.Isa.AVX2) {
            assertTrue(f.containsAll(List.of("avx2", "fma", "f16c")), f.toString());
        }
    }
}
