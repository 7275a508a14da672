package io.llmj.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormat;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every op of a backend against the Java reference backend (test-backend-ops style), on awkward sizes.
 * Tolerances, elementwise {@code |got - ref| <= atol + rtol * scale}: element-wise ops and RoPE atol 1e-6,
 * rtol 1e-5 of |ref|; RMSNorm rtol 1e-5; attention 1e-5 of the largest |v|; matrix products
 * 2e-5 of {@code sum_c |W[r,c] x[c]|} (float32 accumulation of exact block sums against double).
 * Combinations the backend does not support are skipped as "not supported", not failed.
 */
public abstract class BackendOps {
    private static final JavaBackend REF = new JavaBackend();

    /** The backend under test. */
    protected abstract Backend backend();

    @AfterAll
    static void done() {
        REF.close();
    }

    public record MatCase(GgmlType type, int rows, int cols, int n) {
        @Override
        public String toString() {
            return type + " rows=" + rows + " cols=" + cols + " tokens=" + n;
        }
    }

    public static Stream<Arguments> matCases() {
        List<Arguments> list = new ArrayList<>();
        GgmlType[] types = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0,
                GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K,
                GgmlType.IQ4_NL, GgmlType.IQ4_XS};
        for (GgmlType t : types) {
            int[] colsList = t.blockSize() == 256 ? new int[] {256, 768} : t.blockSize() == 32 ? new int[] {32, 96, 544}
                    : new int[] {1, 33, 300};
            for (int cols : colsList) {
                for (int[] rn : new int[][] {{1, 1}, {17, 1}, {33, 3}, {64, 17}}) {
                    list.add(Arguments.of(new MatCase(t, rn[0], cols, rn[1])));
                }
            }
        }
        return list.stream();
    }

    private static float[] random(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return a;
    }

    private static Buffer buffer(Backend b, float[] v) {
        Buffer buf = b.allocate(v.length);
        b.write(buf, 0, v, 0, v.length);
        return buf;
    }

    private static float[] read(Backend b, Buffer buf, int n) {
        float[] out = new float[n];
        b.read(buf, 0, out, 0, n);
        return out;
    }

    /** Null if every element is within atol + rtol * scale[i] (scale null: |ref|), else a description. */
    private static String compare(float[] got, float[] ref, double atol, double rtol, double[] scale) {
        for (int i = 0; i < ref.length; i++) {
            double tol = atol + rtol * (scale == null ? Math.abs(ref[i]) : scale[i]);
            if (!(Math.abs(got[i] - ref[i]) <= tol)) {
                return "element " + i + ": got " + got[i] + ", reference " + ref[i] + ", tolerance " + tol;
            }
        }
        return null;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("matCases")
    public void matmul(MatCase c) {
        Backend b = backend();
        Assumptions.assumeTrue(b.supports(Op.MATMUL, c.type()) && REF.supports(Op.MATMUL, c.type()),
                c.type() + ": not supported by " + b.name());
        SplittableRandom r = new SplittableRandom(c.toString().hashCode());
        QuantFormat f = QuantFormats.require(c.type());
        float[] wf = random(r, c.rows() * c.cols(), 0.5);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = arena.allocate(c.type().byteSize(c.cols()) * c.rows(), 64);
            if (f.canQuantize()) {
                for (int row = 0; row < c.rows(); row++) {
                    f.quantize(wf, row * c.cols(), c.cols(), data, row * c.type().byteSize(c.cols()));
                }
            } else {                                   // dequantize-only types: random block bytes
                byte[] bytes = new byte[(int) data.byteSize()];
                r.nextBytes(bytes);
                MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
                for (long off = 0; off < data.byteSize(); off += c.type().blockBytes()) {
                    data.set(ValueLayout.JAVA_SHORT_UNALIGNED, off, (short) 0x2c00);   // sane fp16 scale
                }
            }
            float[] x = random(r, c.n() * c.cols(), 1.0);
            long[] shape = {c.cols(), c.rows()};
            Weight wb = b.weight("w", c.type(), shape, data);
            Weight wr = REF.weight("w", c.type(), shape, data);
            try (Buffer xb = buffer(b, x); Buffer yb = b.allocate((long) c.n() * c.rows());
                 Buffer xr = buffer(REF, x); Buffer yr = REF.allocate((long) c.n() * c.rows())) {
                b.matmul(wb, xb, c.n(), yb);
                REF.matmul(wr, xr, c.n(), yr);
                float[] got = read(b, yb, c.n() * c.rows());
                float[] ref = read(REF, yr, c.n() * c.rows());
                double[] scale = new double[ref.length];
                float[] wrow = new float[c.cols()];
                for (int row = 0; row < c.rows(); row++) {
                    f.dequantize(data, row * c.type().byteSize(c.cols()), wrow, 0, c.cols());
                    for (int t = 0; t < c.n(); t++) {
                        double s = 0;
                        for (int i = 0; i < c.cols(); i++) {
                            s += Math.abs((double) wrow[i] * x[t * c.cols() + i]);
                        }
                        scale[t * c.rows() + row] = s;
                    }
                }
                assertNull(compare(got, ref, 1e-6, 2e-5, scale), c::toString);
            }
        }
    }

    /**
     * Decode products that repeat in a cycle (a decode step's matrices, step after step) give the same bits on
     * every pass as on the first: a backend may learn the order and prepare the next product (the native CPU
     * pool reads its weights ahead), which must not change any result.
     */
    @Test
    public void decodeCycleRepeats() {
        Backend b = backend();
        GgmlType type = GgmlType.Q4_0;
        Assumptions.assumeTrue(b.supports(Op.MATMUL, type), type + ": not supported by " + b.name());
        SplittableRandom r = new SplittableRandom(7);
        QuantFormat f = QuantFormats.require(type);
        int[][] shapes = {{256, 96}, {96, 288}, {288, 64}};   // {cols, rows}: each output feeds the next product
        try (Arena arena = Arena.ofConfined()) {
            Weight[] ws = new Weight[shapes.length];
            for (int k = 0; k < shapes.length; k++) {
                int cols = shapes[k][0], rows = shapes[k][1];
                float[] wf = random(r, rows * cols, 0.5);
                MemorySegment data = arena.allocate(type.byteSize(cols) * rows, 64);
                for (int row = 0; row < rows; row++) {
                    f.quantize(wf, row * cols, cols, data, row * type.byteSize(cols));
                }
                ws[k] = b.weight("w" + k, type, new long[] {cols, rows}, data);
            }
            float[] x = random(r, shapes[0][0], 1.0);
            float[] first = null;
            for (int pass = 0; pass < 4; pass++) {
                float[] v = x;
                for (int k = 0; k < shapes.length; k++) {
                    try (Buffer in = buffer(b, v); Buffer out = b.allocate(shapes[k][1])) {
                        b.matmul(ws[k], in, 1, out);
                        v = read(b, out, shapes[k][1]);
                    }
                }
                if (first == null) {
                    first = v;
                } else {
                    assertArrayEquals(first, v, "pass " + pass);
                }
            }
        }
    }

    public static Stream<Arguments> embedCases() {
        return Stream.of(GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q8_0, GgmlType.Q2_K,
                GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.IQ4_XS).map(Arguments::of);
    }

    /** Embedding rows (dequantized, scaled) against the reference: atol 1e-6, rtol 1e-6 of |ref|. */
    @ParameterizedTest(name = "embed {0}")
    @MethodSource("embedCases")
    public void embed(GgmlType type) {
        Backend b = backend();
        Assumptions.assumeTrue(b.supports(Op.EMBED, type) && REF.supports(Op.EMBED, type),
                type + ": not supported by " + b.name());
        int rows = 9;
        int cols = type.blockSize() == 256 ? 512 : 96;
        SplittableRandom r = new SplittableRandom(type.id() * 17L + 5);
        QuantFormat f = QuantFormats.require(type);
        float[] wf = random(r, rows * cols, 0.5);
        try (Arena arena = Arena.ofConfined()) {
            long rowBytes = type.byteSize(cols);
            MemorySegment data = arena.allocate(rowBytes * rows, 64);
            for (int row = 0; row < rows; row++) {
                f.quantize(wf, row * cols, cols, data, row * rowBytes);
            }
            long[] shape = {cols, rows};
            Weight wb = b.weight("emb", type, shape, data);
            Weight wr = REF.weight("emb", type, shape, data);
            int[] ids = {8, 0, 3, 3, 7};
            try (Buffer ob = b.allocate((long) ids.length * cols); Buffer or = REF.allocate((long) ids.length * cols)) {
                b.embed(wb, ids, 1.5f, ob);
                REF.embed(wr, ids, 1.5f, or);
                assertNull(compare(read(b, ob, ids.length * cols), read(REF, or, ids.length * cols), 1e-6, 1e-6, null),
                        type::toString);
            }
        }
    }

    public static Stream<Arguments> normCases() {
        List<Arguments> list = new ArrayList<>();
        for (int dim : new int[] {1, 7, 64, 4097}) {
            for (int n : new int[] {1, 3}) {
                for (float off : new float[] {0f, 1f}) {
                    list.add(Arguments.of(dim, n, off));
                }
            }
        }
        return list.stream();
    }

    @ParameterizedTest(name = "rmsNorm dim={0} n={1} offset={2}")
    @MethodSource("normCases")
    public void rmsNorm(int dim, int n, float offset) {
        Backend b = backend();
        SplittableRandom r = new SplittableRandom(dim * 31L + n);
        float[] x = random(r, dim * n, 2.0);
        float[] g = random(r, dim, 1.0);
        try (Arena arena = Arena.ofConfined(); Buffer xb = buffer(b, x); Buffer ob = b.allocate((long) dim * n);
             Buffer xr = buffer(REF, x); Buffer or = REF.allocate((long) dim * n)) {
            MemorySegment gs = arena.allocateFrom(ValueLayout.JAVA_FLOAT, g);
            b.rmsNorm(xb, b.weight("g", GgmlType.F32, new long[] {dim}, gs), 1e-5f, offset, dim, n, ob);
            REF.rmsNorm(xr, REF.weight("g", GgmlType.F32, new long[] {dim}, gs), 1e-5f, offset, dim, n, or);
            assertNull(compare(read(b, ob, dim * n), read(REF, or, dim * n), 1e-6, 1e-5, null));
        }
    }

    public static Stream<Arguments> ropeCases() {
        List<Arguments> list = new ArrayList<>();
        for (boolean neox : new boolean[] {false, true}) {
            for (int[] c : new int[][] {{8, 8, 1, 0}, {64, 64, 3, 5}, {128, 64, 2, 1000}, {6, 4, 5, 127}}) {
                list.add(Arguments.of(neox, c[0], c[1], c[2], c[3]));
            }
        }
        return list.stream();
    }

    @ParameterizedTest(name = "rope neox={0} headDim={1} ropeDims={2} n={3} pos={4}")
    @MethodSource("ropeCases")
    public void rope(boolean neox, int headDim, int ropeDims, int n, int pos) {
        Backend b = backend();
        int heads = 3;
        SplittableRandom r = new SplittableRandom(headDim * 7L + pos);
        float[] x = random(r, n * heads * headDim, 1.0);
        RopeConfig rc = new RopeConfig(ropeDims, neox, RopeConfig.frequencies(ropeDims, 10000, null), 1f);
        try (Buffer xb = buffer(b, x); Buffer xr = buffer(REF, x)) {
            b.rope(xb, heads, headDim, n, pos, rc);
            REF.rope(xr, heads, headDim, n, pos, rc);
            assertNull(compare(read(b, xb, x.length), read(REF, xr, x.length), 1e-6, 1e-5, null));
        }
    }

    public static Stream<Arguments> attentionCases() {
        List<Arguments> list = new ArrayList<>();
        for (GgmlType cache : new GgmlType[] {GgmlType.F32, GgmlType.F16}) {
            // heads, kvHeads, headDim, n, startPos, softcap, window
            for (int[] c : new int[][] {{1, 1, 1, 1, 0, 0, 0}, {4, 2, 16, 5, 0, 0, 0}, {8, 1, 33, 1, 40, 0, 0},
                    {4, 4, 64, 3, 17, 50, 0}, {6, 3, 8, 7, 9, 0, 4},
                    // head sizes the AVX-512 level keeps in registers (32/64/96/128, with groups of 2, 4 and 8 query
                    // heads taken together), and one beside them
                    {8, 2, 64, 1, 300, 0, 0}, {4, 1, 128, 2, 70, 0, 16}, {2, 2, 32, 1, 5, 30, 0}, {3, 3, 96, 4, 0, 0, 0},
                    {4, 2, 80, 1, 20, 0, 0}, {16, 2, 32, 2, 50, 0, 0}, {8, 4, 96, 1, 40, 20, 0}}) {
                list.add(Arguments.of(cache, c[0], c[1], c[2], c[3], c[4], c[5], c[6]));
            }
        }
        return list.stream();
    }

    @ParameterizedTest(name = "attention cache={0} heads={1}/{2} hd={3} n={4} pos={5} softcap={6} window={7}")
    @MethodSource("attentionCases")
    public void attention(GgmlType cacheType, int heads, int kvHeads, int hd, int n, int pos, int softcap, int window) {
        Backend b = backend();
        SplittableRandom r = new SplittableRandom(heads * 131L + hd * 7L + pos);
        int ctx = pos + n;
        float[] q = random(r, n * heads * hd, 1.0);
        float[] k = random(r, ctx * kvHeads * hd, 1.0);
        float[] v = random(r, ctx * kvHeads * hd, 1.0);
        AttentionParams p = new AttentionParams(heads, kvHeads, hd, (float) (1 / Math.sqrt(hd)), softcap, window);
        float[] got = runAttention(b, cacheType, q, k, v, ctx, kvHeads * hd, n, pos, p);
        float[] ref = runAttention(REF, cacheType, q, k, v, ctx, kvHeads * hd, n, pos, p);
        double vmax = 0;
        for (float f : v) {
            vmax = Math.max(vmax, Math.abs(f));
        }
        assertNull(compare(got, ref, 1e-5 * vmax, 0, null));
    }

    private static float[] runAttention(Backend b, GgmlType cacheType, float[] q, float[] k, float[] v, int ctx, int kvDim,
                                        int n, int pos, AttentionParams p) {
        try (Buffer qb = buffer(b, q); Buffer kb = buffer(b, k); Buffer vb = buffer(b, v);
             Buffer kc = b.allocateCache((long) ctx * kvDim, cacheType); Buffer vc = b.allocateCache((long) ctx * kvDim, cacheType);
             Buffer out = b.allocate((long) n * p.qDim())) {
            b.storeKv(kb, kc, kvDim, ctx, 0);
            b.storeKv(vb, vc, kvDim, ctx, 0);
            b.attention(qb, kc, vc, n, pos, p, out);
            return read(b, out, n * p.qDim());
        }
    }

    /** Gates far out in both tails (e^-x overflowing and underflowing in float) and around zero. */
    @Test
    public void swigluExtremes() {
        Backend b = backend();
        float[] g = {-1e30f, -1000f, -104f, -100f, -88.8f, -88f, -87.5f, -87f, -60f, -20f, -1e-3f, -0f, 0f, 1e-3f,
                20f, 60f, 87f, 87.5f, 88f, 88.8f, 100f, 104f, 1000f, 1e30f, -3.5f, 7.25f};
        float[] u = new float[g.length];
        Arrays.fill(u, 1.5f);
        int n = g.length;
        try (Buffer gb = buffer(b, g); Buffer ub = buffer(b, u); Buffer ob = b.allocate(n);
             Buffer gr = buffer(REF, g); Buffer ur = buffer(REF, u); Buffer or = REF.allocate(n)) {
            b.swiglu(gb, ub, n, ob);
            REF.swiglu(gr, ur, n, or);
            assertNull(compare(read(b, ob, n), read(REF, or, n), 1e-6, 1e-5, null));
        }
    }

    public static Stream<Arguments> gluCases() {
        // 20011: past the native backend's 16384-element threshold for splitting the vector SwiGLU across threads
        return Stream.of(1, 17, 5000, 20011).flatMap(n -> Stream.of(Arguments.of(n, false), Arguments.of(n, true)));
    }

    @ParameterizedTest(name = "glu n={0} gelu={1}")
    @MethodSource("gluCases")
    public void glu(int n, boolean gelu) {
        Backend b = backend();
        SplittableRandom r = new SplittableRandom(n);
        float[] g = random(r, n, 3.0);
        float[] u = random(r, n, 1.0);
        try (Buffer gb = buffer(b, g); Buffer ub = buffer(b, u); Buffer ob = b.allocate(n);
             Buffer gr = buffer(REF, g); Buffer ur = buffer(REF, u); Buffer or = REF.allocate(n)) {
            if (gelu) {
                b.geglu(gb, ub, n, ob);
                REF.geglu(gr, ur, n, or);
            } else {
                b.swiglu(gb, ub, n, ob);
                REF.swiglu(gr, ur, n, or);
            }
            assertNull(compare(read(b, ob, n), read(REF, or, n), 1e-6, 1e-5, null));
        }
    }
}
