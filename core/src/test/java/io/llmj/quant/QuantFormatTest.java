package io.llmj.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Unit tests of the quant formats that need no test data: layout tables, registry, rounding, bad input. */
class QuantFormatTest {

    // ---------------------------------------------------------------- GgmlType against ggml

    /** ggml's type_traits (ggml.c at llama.cpp c392e50): id, blck_size, type_size; plus MXFP4 (id 39, later ggml). */
    record TypeRow(String name, int id, int blockSize, int blockBytes) {
        @Override
        public String toString() {
            return name;
        }
    }

    static Stream<TypeRow> ggmlTypeTable() {
        return Stream.of(new TypeRow("F32", 0, 1, 4), new TypeRow("F16", 1, 1, 2), new TypeRow("Q4_0", 2, 32, 18),
                new TypeRow("Q4_1", 3, 32, 20), new TypeRow("Q5_0", 6, 32, 22), new TypeRow("Q5_1", 7, 32, 24),
                new TypeRow("Q8_0", 8, 32, 34), new TypeRow("Q8_1", 9, 32, 36), new TypeRow("Q2_K", 10, 256, 84),
                new TypeRow("Q3_K", 11, 256, 110), new TypeRow("Q4_K", 12, 256, 144), new TypeRow("Q5_K", 13, 256, 176),
                new TypeRow("Q6_K", 14, 256, 210), new TypeRow("Q8_K", 15, 256, 292),
                new TypeRow("IQ2_XXS", 16, 256, 66), new TypeRow("IQ2_XS", 17, 256, 74),
                new TypeRow("IQ3_XXS", 18, 256, 98), new TypeRow("IQ1_S", 19, 256, 50),
                new TypeRow("IQ4_NL", 20, 32, 18), new TypeRow("IQ3_S", 21, 256, 110), new TypeRow("IQ2_S", 22, 256, 82),
                new TypeRow("IQ4_XS", 23, 256, 136), new TypeRow("I8", 24, 1, 1), new TypeRow("I16", 25, 1, 2),
                new TypeRow("I32", 26, 1, 4), new TypeRow("I64", 27, 1, 8), new TypeRow("F64", 28, 1, 8),
                new TypeRow("IQ1_M", 29, 256, 56), new TypeRow("BF16", 30, 1, 2), new TypeRow("TQ1_0", 34, 256, 54),
                new TypeRow("TQ2_0", 35, 256, 66), new TypeRow("MXFP4", 39, 32, 17));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("ggmlTypeTable")
    void ggmlTypeMatchesGgml(TypeRow row) {
        GgmlType t = GgmlType.valueOf(row.name());
        assertEquals(row.id(), t.id(), "id");
        assertEquals(row.blockSize(), t.blockSize(), "block size");
        assertEquals(row.blockBytes(), t.blockBytes(), "block bytes");
        assertSame(t, GgmlType.byId(row.id()));
    }

    @Test
    void ggmlTypeTableIsComplete() {
        assertEquals(java.util.Arrays.stream(GgmlType.values()).filter(t -> !t.isGptq()).count(), ggmlTypeTable().count());
    }

    // ---------------------------------------------------------------- layouts stated once

    /** A format's constants: block size, bytes, and the end of its last field (offset + length). */
    record Layout(QuantFormat format, int blockSize, int blockBytes, int lastFieldEnd) {
        @Override
        public String toString() {
            return format.type().name();
        }
    }

    static Stream<Layout> layouts() {
        return Stream.of(new Layout(F32.INSTANCE, F32.BLOCK_SIZE, F32.BLOCK_BYTES, 4),
                new Layout(F16.INSTANCE, F16.BLOCK_SIZE, F16.BLOCK_BYTES, 2),
                new Layout(BF16.INSTANCE, BF16.BLOCK_SIZE, BF16.BLOCK_BYTES, 2),
                new Layout(Q4_0.INSTANCE, Q4_0.BLOCK_SIZE, Q4_0.BLOCK_BYTES, Q4_0.OFF_QS + 16),
                new Layout(Q4_1.INSTANCE, Q4_1.BLOCK_SIZE, Q4_1.BLOCK_BYTES, Q4_1.OFF_QS + 16),
                new Layout(Q5_0.INSTANCE, Q5_0.BLOCK_SIZE, Q5_0.BLOCK_BYTES, Q5_0.OFF_QS + 16),
                new Layout(Q5_1.INSTANCE, Q5_1.BLOCK_SIZE, Q5_1.BLOCK_BYTES, Q5_1.OFF_QS + 16),
                new Layout(Q8_0.INSTANCE, Q8_0.BLOCK_SIZE, Q8_0.BLOCK_BYTES, Q8_0.OFF_QS + 32),
                new Layout(Q8_1.INSTANCE, Q8_1.BLOCK_SIZE, Q8_1.BLOCK_BYTES, Q8_1.OFF_QS + 32),
                new Layout(Q2_K.INSTANCE, Q2_K.BLOCK_SIZE, Q2_K.BLOCK_BYTES, Q2_K.OFF_DMIN + 2),
                new Layout(Q3_K.INSTANCE, Q3_K.BLOCK_SIZE, Q3_K.BLOCK_BYTES, Q3_K.OFF_D + 2),
                new Layout(Q4_K.INSTANCE, Q4_K.BLOCK_SIZE, Q4_K.BLOCK_BYTES, Q4_K.OFF_QS + 128),
                new Layout(Q5_K.INSTANCE, Q5_K.BLOCK_SIZE, Q5_K.BLOCK_BYTES, Q5_K.OFF_QS + 128),
                new Layout(Q6_K.INSTANCE, Q6_K.BLOCK_SIZE, Q6_K.BLOCK_BYTES, Q6_K.OFF_D + 2),
                new Layout(Q8_K.INSTANCE, Q8_K.BLOCK_SIZE, Q8_K.BLOCK_BYTES, Q8_K.OFF_BSUMS + 32),
                new Layout(IQ4_NL.INSTANCE, IQ4_NL.BLOCK_SIZE, IQ4_NL.BLOCK_BYTES, IQ4_NL.OFF_QS + 16),
                new Layout(IQ4_XS.INSTANCE, IQ4_XS.BLOCK_SIZE, IQ4_XS.BLOCK_BYTES, IQ4_XS.OFF_QS + 128));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("layouts")
    void layoutConstantsAgreeWithGgmlType(Layout l) {
        assertEquals(l.format().type().blockSize(), l.blockSize());
        assertEquals(l.format().type().blockBytes(), l.blockBytes());
        assertEquals(l.blockBytes(), l.lastFieldEnd(), "fields must end exactly at the block size");
        assertEquals(l.blockSize(), l.format().blockSize());
        assertEquals(l.blockBytes(), l.format().blockBytes());
    }

    @Test
    void layoutsCoverEveryFormat() {
        assertEquals(QuantFormats.ALL.size(), layouts().count());
    }

    // ---------------------------------------------------------------- registry

    @Test
    void registryMapsTypesToTheirClassAndVecDotType() {
        Map<GgmlType, GgmlType> vecDot = Map.ofEntries(Map.entry(GgmlType.F32, GgmlType.F32),
                Map.entry(GgmlType.F16, GgmlType.F16), Map.entry(GgmlType.BF16, GgmlType.BF16),
                Map.entry(GgmlType.Q4_0, GgmlType.Q8_0), Map.entry(GgmlType.Q4_1, GgmlType.Q8_1),
                Map.entry(GgmlType.Q5_0, GgmlType.Q8_0), Map.entry(GgmlType.Q5_1, GgmlType.Q8_1),
                Map.entry(GgmlType.Q8_0, GgmlType.Q8_0), Map.entry(GgmlType.Q2_K, GgmlType.Q8_K),
                Map.entry(GgmlType.Q3_K, GgmlType.Q8_K), Map.entry(GgmlType.Q4_K, GgmlType.Q8_K),
                Map.entry(GgmlType.Q5_K, GgmlType.Q8_K), Map.entry(GgmlType.Q6_K, GgmlType.Q8_K),
                Map.entry(GgmlType.IQ4_NL, GgmlType.Q8_0), Map.entry(GgmlType.IQ4_XS, GgmlType.Q8_K));
        for (GgmlType t : GgmlType.values()) {
            QuantFormat f = QuantFormats.of(t);
            boolean activationOnly = t == GgmlType.Q8_1 || t == GgmlType.Q8_K;
            if (vecDot.containsKey(t) || activationOnly) {
                assertNotNull(f, t.name());
                assertSame(t, f.type());
                assertEquals(t.name(), f.getClass().getSimpleName());
                assertEquals(vecDot.get(t), f.vecDotType(), t + " vec_dot type");
                assertTrue(QuantFormats.isSupported(t));
            } else {
                assertNull(f, t.name());
                assertThrows(UnsupportedOperationException.class, () -> QuantFormats.require(t));
            }
        }
        assertThrows(UnsupportedOperationException.class,
                () -> Q8_K.INSTANCE.dot(MemorySegment.ofArray(new byte[292]), 0, MemorySegment.ofArray(new byte[292]), 0, 256));
    }

    // ---------------------------------------------------------------- rounding helpers

    @Test
    void nearestIntRoundsHalfToEven() {
        float[] in = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, 126.5f, -127.5f, 3.7f, -3.7f, 0f, -0f};
        int[] out = {0, 2, 2, 0, -2, -2, 0, 126, -128, 4, -4, 0, 0};
        for (int i = 0; i < in.length; i++) {
            assertEquals(out[i], QuantMath.nearestInt(in[i]), "nearest_int(" + in[i] + ")");
            assertEquals(out[i], (int) QuantMath.rintf(in[i]), "rint(" + in[i] + ")");
        }
    }

    @Test
    void roundfRoundsHalfAwayFromZero() {
        float[] in = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 0.49999997f, -0.49999997f, 8388607.5f, 3.2f, -3.2f};
        float[] out = {1, 2, 3, -1, -2, -3, 0, -0f, 8388608f, 3, -3};
        for (int i = 0; i < in.length; i++) {
            assertEquals(out[i], QuantMath.roundf(in[i]), "roundf(" + in[i] + ")");
        }
    }

    // ---------------------------------------------------------------- sizes that hurt, guard bands

    /** One format and an element count (whole blocks). */
    record SizeCase(QuantFormat format, int n) {
        @Override
        public String toString() {
            return format.type().name() + " n=" + n;
        }
    }

    static Stream<SizeCase> sizeCases() {
        List<SizeCase> out = new ArrayList<>();
        for (QuantFormat f : QuantFormats.ALL) {
            if (!f.canQuantize()) {
                continue;
            }
            int bs = f.blockSize();
            int[] blocks = bs == 1 ? new int[] {1, 31, 32, 33, 257} : new int[] {1, 2, 3};
            for (int b : blocks) {
                out.add(new SizeCase(f, b * bs));
            }
        }
        return out.stream();
    }

    /**
     * Quantizing into a buffer with sentinel bytes around it touches exactly byteSize(n) bytes, and
     * dequantizing gives values within the format's step of the input (a sanity check; bit
     * exactness is checked against ggml in QuantVectorsTest).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("sizeCases")
    void roundTripStaysInsideGuardBands(SizeCase c) {
        QuantFormat f = c.format();
        int n = c.n();
        Random rnd = new Random(n * 31L + f.type().id());
        float[] src = new float[n + 2];
        for (int i = 0; i < src.length; i++) {
            src[i] = (float) rnd.nextGaussian();
        }
        int guard = 16;
        long bytes = f.byteSize(n);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(bytes + 2L * guard);
            buf.fill((byte) 0x5A);
            f.quantize(src, 1, n, buf, guard);
            for (int i = 0; i < guard; i++) {
                assertEquals((byte) 0x5A, buf.get(ValueLayout.JAVA_BYTE, i), "guard before, byte " + i);
                assertEquals((byte) 0x5A, buf.get(ValueLayout.JAVA_BYTE, guard + bytes + i), "guard after, byte " + i);
            }
            float[] back = new float[n + 2];
            back[0] = 42f;
            back[n + 1] = 43f;
            f.dequantize(buf, guard, back, 1, n);
            assertEquals(42f, back[0]);
            assertEquals(43f, back[n + 1]);
            double maxAbs = 0;
            for (int i = 1; i <= n; i++) {
                maxAbs = Math.max(maxAbs, Math.abs(src[i]));
            }
            // coarsest format here is 4-bit: error ≤ about one step of range/15; 0.5·maxAbs is generous
            for (int i = 1; i <= n; i++) {
                assertTrue(Math.abs(back[i] - src[i]) <= 0.5 * maxAbs + 1e-6, c + " element " + (i - 1) + ": " + src[i]
                        + " -> " + back[i]);
            }
        }
    }

    // ---------------------------------------------------------------- malformed input

    /** One malformed call on one format; must throw IllegalArgumentException (never IndexOutOfBounds). */
    record Bad(GgmlType type, String problem, Executable call) {
        @Override
        public String toString() {
            return type.name() + ": " + problem;
        }
    }

    static Stream<Bad> badCalls() {
        List<Bad> out = new ArrayList<>();
        for (QuantFormat f : QuantFormats.ALL) {
            GgmlType t = f.type();
            int bs = f.blockSize();
            int two = 2 * bs;
            MemorySegment exact = MemorySegment.ofArray(new byte[(int) f.byteSize(two)]);
            MemorySegment shortSeg = MemorySegment.ofArray(new byte[(int) f.byteSize(two) - 1]);
            float[] dst = new float[two];
            if (bs > 1) {
                out.add(new Bad(t, "n not a multiple of the block size", () -> f.dequantize(exact, 0, dst, 0, bs + 1)));
                out.add(new Bad(t, "n = block size - 1", () -> f.dequantize(exact, 0, dst, 0, bs - 1)));
            }
            out.add(new Bad(t, "negative n", () -> f.dequantize(exact, 0, dst, 0, -bs)));
            out.add(new Bad(t, "truncated segment", () -> f.dequantize(shortSeg, 0, dst, 0, two)));
            out.add(new Bad(t, "offset past the data", () -> f.dequantize(exact, 1, dst, 0, two)));
            out.add(new Bad(t, "offset beyond the segment", () -> f.dequantize(exact, exact.byteSize() + 5, dst, 0, bs)));
            out.add(new Bad(t, "negative offset", () -> f.dequantize(exact, -1, dst, 0, bs)));
            out.add(new Bad(t, "destination array too short", () -> f.dequantize(exact, 0, dst, 1, two)));
            out.add(new Bad(t, "empty segment", () -> f.dequantize(MemorySegment.NULL, 0, dst, 0, bs)));
            if (f.canQuantize()) {
                float[] src = new float[two];
                out.add(new Bad(t, "quantize into a truncated segment",
                        () -> f.quantize(src, 0, two, MemorySegment.ofArray(new byte[(int) f.byteSize(two) - 1]), 0)));
                out.add(new Bad(t, "quantize from a short array",
                        () -> f.quantize(src, 1, two, MemorySegment.ofArray(new byte[(int) f.byteSize(two)]), 0)));
                out.add(new Bad(t, "quantize into a read-only segment",
                        () -> f.quantize(src, 0, two, MemorySegment.ofArray(new byte[(int) f.byteSize(two)]).asReadOnly(), 0)));
                if (bs > 1) {
                    out.add(new Bad(t, "quantize n not a multiple of the block size",
                            () -> f.quantize(src, 0, bs + 1, MemorySegment.ofArray(new byte[(int) f.byteSize(two)]), 0)));
                }
            }
            GgmlType vdt = f.vecDotType();
            if (vdt != null) {
                QuantFormat a = QuantFormats.require(vdt);
                int n = Math.max(bs, a.blockSize());
                MemorySegment w = MemorySegment.ofArray(new byte[(int) f.byteSize(n)]);
                MemorySegment act = MemorySegment.ofArray(new byte[(int) a.byteSize(n)]);
                MemorySegment actShort = MemorySegment.ofArray(new byte[(int) a.byteSize(n) - 1]);
                MemorySegment wShort = MemorySegment.ofArray(new byte[(int) f.byteSize(n) - 1]);
                out.add(new Bad(t, "dot with a truncated activation", () -> f.dot(w, 0, actShort, 0, n)));
                out.add(new Bad(t, "dot with truncated weights", () -> f.dot(wShort, 0, act, 0, n)));
                if (n > 1) {
                    out.add(new Bad(t, "dot n not a multiple of the block size", () -> f.dot(w, 0, act, 0, n - 1)));
                }
            }
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("badCalls")
    void malformedInputThrowsIllegalArgument(Bad bad) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, bad.call());
        assertTrue(e.getMessage().startsWith(bad.type().name() + ":"), "message names the type: " + e.getMessage());
    }

    @Test
    void messagesSaySizes() {
        MemorySegment seg = MemorySegment.ofArray(new byte[143]);
        IllegalArgumentException e =
                assertThrows(IllegalArgumentException.class, () -> Q4_K.INSTANCE.dequantizeRow(seg, 0, 256));
        assertEquals("Q4_K: source of 1 blocks needs 144 bytes at offset 0, but the segment holds 143 bytes (truncated data?)",
                e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> Q4_0.INSTANCE.dequantizeRow(seg, 0, 100));
        assertEquals("Q4_0: 100 elements is not a multiple of the block size 32", e.getMessage());
    }

    @Test
    void convertActivationRejectsNonActivationTypes() {
        MemorySegment seg = MemorySegment.ofArray(new byte[1024]);
        assertThrows(IllegalArgumentException.class, () -> QuantFormats.convertActivation(GgmlType.Q4_K,
                QuantFormats.ActivationConversion.CPU_X86, new float[256], 0, 256, seg, 0));
    }
}
