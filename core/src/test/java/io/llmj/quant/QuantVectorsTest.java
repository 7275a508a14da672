package io.llmj.quant;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.llmj.format.gguf.GgufFile;
import io.llmj.format.gguf.GgufTensor;
import io.llmj.quant.QuantFormats.ActivationConversion;
import io.llmj.testing.TestData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Checks the Java reference code against ggml's own outputs in {@code quant/quant-vectors.gguf} and
 * {@code quant/quant-vectors-act.gguf} (see testdata/quant/README.md): 8 rows × 512 columns of a
 * source matrix quantized into 14 types, ggml's dequantization of each, the activation converted
 * to each vec_dot type, and ggml CPU vec_dot results.
 */
class QuantVectorsTest {
    static final int ROWS = 8;
    static final int COLS = 512;

    /** The 14 types of the vectors file, in its order. */
    static final List<GgmlType> TYPES = List.of(GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
            GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_NL,
            GgmlType.IQ4_XS, GgmlType.BF16, GgmlType.F16);

    /** The vec_dot activation types of the act file. */
    static final List<GgmlType> ACT_TYPES =
            List.of(GgmlType.Q8_0, GgmlType.Q8_1, GgmlType.Q8_K, GgmlType.F16, GgmlType.BF16);

    static GgufFile vectors;
    static GgufFile acts;
    static float[] source;
    static float[] act;

    @BeforeAll
    static void open() {
        vectors = GgufFile.open(TestData.require("quant/quant-vectors.gguf"));
        acts = GgufFile.open(TestData.require("quant/quant-vectors-act.gguf"));
        source = floats(tensor(vectors, "source"));
        act = floats(tensor(vectors, "act"));
        assertEquals(ROWS * COLS, source.length);
        assertEquals(COLS, act.length);
    }

    @AfterAll
    static void close() {
        if (vectors != null) {
            vectors.close();
        }
        if (acts != null) {
            acts.close();
        }
    }

    static GgufTensor tensor(GgufFile f, String name) {
        GgufTensor t = f.tensor(name);
        assertNotNull(t, "tensor " + name + " missing from " + f.path());
        return t;
    }

    static float[] floats(GgufTensor t) {
        assertEquals(GgmlType.F32, t.type(), t.name());
        return t.data().toArray(ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN));
    }

    static String hex(MemorySegment s, long off, int len) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < len && off + i < s.byteSize(); i++) {
            sb.append(String.format("%02x", s.get(ValueLayout.JAVA_BYTE, off + i)));
        }
        return sb.toString();
    }

    // ---------------------------------------------------------------- cases

    /** One weight type of the vectors file. */
    record TypeCase(GgmlType type) {
        QuantFormat format() {
            return QuantFormats.require(type);
        }

        @Override
        public String toString() {
            return type.name();
        }
    }

    /** One vec_dot activation type and one of ggml's two converters. */
    record ActCase(GgmlType type, ActivationConversion how) {
        String tensorName() {
            return (how == ActivationConversion.CPU_X86 ? "act." : "act_ref.") + type.name();
        }

        @Override
        public String toString() {
            return tensorName();
        }
    }

    /** One weight type (or F32) dotted with the activation converted one way. */
    record DotCase(GgmlType type, ActivationConversion how) {
        String expectedName() {
            return (how == ActivationConversion.CPU_X86 ? "dot." : "dot_refact.") + type.name();
        }

        @Override
        public String toString() {
            return expectedName();
        }
    }

    static Stream<TypeCase> types() {
        return TYPES.stream().map(TypeCase::new);
    }

    static Stream<TypeCase> quantizableTypes() {
        return types().filter(c -> c.format().canQuantize());
    }

    static Stream<ActCase> actCases() {
        List<ActCase> out = new ArrayList<>();
        for (GgmlType t : ACT_TYPES) {
            for (ActivationConversion how : ActivationConversion.values()) {
                out.add(new ActCase(t, how));
            }
        }
        return out.stream();
    }

    static Stream<DotCase> dotCases() {
        List<DotCase> out = new ArrayList<>();
        List<GgmlType> all = new ArrayList<>(TYPES);
        all.add(GgmlType.F32);
        for (GgmlType t : all) {
            for (ActivationConversion how : ActivationConversion.values()) {
                out.add(new DotCase(t, how));
            }
        }
        return out.stream();
    }

    // ---------------------------------------------------------------- tests

    @Test
    void everyTypeOfTheFileIsCovered() {
        assertEquals(TYPES.stream().map(Enum::name).toList(), vectors.stringArray("quant_vectors.types"));
        List<String> vdt = vectors.stringArray("quant_vectors.vec_dot_types");
        for (int i = 0; i < TYPES.size(); i++) {
            assertEquals(vdt.get(i), QuantFormats.require(TYPES.get(i)).vecDotType().name(),
                    "vec_dot type of " + TYPES.get(i));
        }
    }

    /** Dequantization is bit-exact with ggml's {@code to_float} (every float's bits, -0.0 included). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("types")
    void dequantizeIsBitExact(TypeCase c) {
        GgufTensor q = tensor(vectors, "q." + c.type());
        assertEquals(c.type(), q.type());
        float[] expected = floats(tensor(vectors, "deq." + c.type()));
        float[] got = c.format().dequantizeRow(q.data(), 0, ROWS * COLS);
        for (int i = 0; i < got.length; i++) {
            if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(expected[i])) {
                fail(c + ": row " + i / COLS + " col " + i % COLS + ": got " + got[i] + " expected " + expected[i]);
            }
        }
        // row by row with offsets, into the middle of a larger array
        long rowBytes = c.format().byteSize(COLS);
        float[] dst = new float[COLS + 3];
        c.format().dequantize(q.data(), 5 * rowBytes, dst, 3, COLS);
        for (int i = 0; i < COLS; i++) {
            assertEquals(Float.floatToRawIntBits(expected[5 * COLS + i]), Float.floatToRawIntBits(dst[3 + i]),
                    c + " row 5 col " + i);
        }
    }

    /** Quantizing {@code source} gives ggml's bytes ({@code quantize_row_*_ref}) exactly. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("quantizableTypes")
    void quantizeIsBitExact(TypeCase c) {
        GgufTensor q = tensor(vectors, "q." + c.type());
        QuantFormat f = c.format();
        long rowBytes = f.byteSize(COLS);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(ROWS * rowBytes);
            f.quantize(source, 0, ROWS * COLS, out, 0);
            long mismatch = out.mismatch(q.data());
            if (mismatch >= 0) {
                long row = mismatch / rowBytes;
                long block = (mismatch % rowBytes) / f.blockBytes();
                long inBlock = (mismatch % rowBytes) % f.blockBytes();
                long start = row * rowBytes + block * f.blockBytes();
                fail(c + ": first differing byte " + mismatch + " (row " + row + ", block " + block + ", byte " + inBlock
                        + ")\n got      " + hex(out, start, f.blockBytes()) + "\n expected "
                        + hex(q.data(), start, f.blockBytes()));
            }
            // one row at an offset, into an offset destination
            MemorySegment one = arena.allocate(rowBytes + 7);
            f.quantize(source, 3 * COLS, COLS, one, 7);
            assertEquals(-1, one.asSlice(7).mismatch(q.data().asSlice(3 * rowBytes, rowBytes)), c + " row 3 at offsets");
        }
    }

    /** Converting {@code act} to each vec_dot type gives the act file's bytes exactly, for both converters. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("actCases")
    void activationConversionIsBitExact(ActCase c) {
        GgufTensor expected = tensor(acts, c.tensorName());
        assertEquals(c.type(), expected.type(), c.tensorName());
        QuantFormat f = QuantFormats.require(c.type());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment out = arena.allocate(f.byteSize(COLS));
            QuantFormats.convertActivation(c.type(), c.how(), act, 0, COLS, out, 0);
            long mismatch = out.mismatch(expected.data());
            if (mismatch >= 0) {
                long block = mismatch / f.blockBytes();
                fail(c + ": first differing byte " + mismatch + " (block " + block + ")\n got      "
                        + hex(out, block * f.blockBytes(), f.blockBytes()) + "\n expected "
                        + hex(expected.data(), block * f.blockBytes(), f.blockBytes()));
            }
        }
    }

    /**
     * The double-precision reference dot product against ggml's float32 {@code vec_dot} on the same
     * bytes (weights {@code q.<T>}, activation from the act file).
     *
     * <p>Tolerance: {@code |ref - ggml| ≤ k · 2^-24 · Σ_i |w_i·a_i|} with
     * {@code k = n / max(blockSize, 32) + 16}, where w and a are the dequantized weight and
     * activation. Reasoning: our reference is exact up to double rounding (integer block sums, fp16
     * scales multiplied exactly in double), so the difference is ggml's float32 rounding. ggml sums
     * per-block terms (or 32-element SIMD steps for F32/F16/BF16) sequentially into SIMD lanes,
     * so each term passes through at most n/max(blockSize, 32) accumulations, plus a handful of
     * roundings in the scale products (d_w·d_a, ·sum, super-block scale × sub-scale) and the
     * horizontal reduction of ≤ 16 lanes; 16 covers those. The standard first-order bound of
     * float summation, |fl(Σt) - Σt| ≤ k·u·Σ|t|, then applies with Σ|t| ≤ Σ|w_i·a_i| (per block,
     * |d·Σq·q_a| ≤ Σ|w_i·a_i| by the triangle inequality; for formats with mins, ggml adds the scale
     * and min terms separately and they can partly cancel, so Σ|t| may exceed Σ|w·a| somewhat; the
     * factor-4 margin over the observed error below covers that). For 512 columns this is 32·u ≈ 1.9e-6
     * relative for 32-blocks and 18·u ≈ 1.1e-6 for super-blocks; the README observed ≤ 4.8e-7.
     * An all-zero row must give exactly 0.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dotCases")
    void dotMatchesGgmlVecDot(DotCase c) {
        QuantFormat f = QuantFormats.require(c.type());
        GgmlType vdt = f.vecDotType();
        MemorySegment w = c.type() == GgmlType.F32 ? tensor(vectors, "source").data() : tensor(vectors, "q." + c.type()).data();
        MemorySegment a = c.type() == GgmlType.F32 ? tensor(vectors, "act").data()
                : tensor(acts, new ActCase(vdt, c.how()).tensorName()).data();
        float[] expected = floats(tensor(vectors, c.expectedName()));
        float[] wDeq = f.dequantizeRow(w, 0, ROWS * COLS);
        float[] aDeq = QuantFormats.require(vdt).dequantizeRow(a, 0, COLS);
        long rowBytes = f.byteSize(COLS);
        double k = COLS / Math.max(f.blockSize(), 32) + 16;
        double worst = 0;
        for (int r = 0; r < ROWS; r++) {
            double ref = f.dot(w, r * rowBytes, a, 0, COLS);
            double mag = 0;
            for (int i = 0; i < COLS; i++) {
                mag += Math.abs((double) wDeq[r * COLS + i] * aDeq[i]);
            }
            double err = Math.abs(ref - expected[r]);
            double tol = k * 0x1p-24 * mag;
            assertTrue(err <= tol, c + " row " + r + ": reference " + ref + " ggml " + expected[r] + " |diff| " + err
                    + " > tolerance " + tol + " (Σ|w·a| = " + mag + ")");
            if (mag > 0) {
                worst = Math.max(worst, err / mag);
            }
        }
        System.out.printf("%-20s max |ref - ggml| / Σ|w·a| = %.3g%n", c, worst);
    }

    static Stream<DotCase> quantizedDotCases() {
        return dotCases().filter(c -> c.type() != GgmlType.F32);
    }

    /** Our own converted activation gives exactly the same dot as the file's bytes (they are identical). */
    @ParameterizedTest(name = "{0}")
    @MethodSource("quantizedDotCases")
    void dotWithOwnActivationConversion(DotCase c) {
        QuantFormat f = QuantFormats.require(c.type());
        GgmlType vdt = f.vecDotType();
        MemorySegment w = tensor(vectors, "q." + c.type()).data();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(QuantFormats.require(vdt).byteSize(COLS));
            QuantFormats.convertActivation(vdt, c.how(), act, 0, COLS, a, 0);
            MemorySegment fileAct = tensor(acts, new ActCase(vdt, c.how()).tensorName()).data();
            long rowBytes = f.byteSize(COLS);
            for (int r = 0; r < ROWS; r++) {
                assertEquals(f.dot(w, r * rowBytes, fileAct, 0, COLS), f.dot(w, r * rowBytes, a, 0, COLS), c + " row " + r);
            }
        }
    }
}
