package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.arch.Forwards;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.ReferenceFile;
import io.llmj.backend.Buffer;
import io.llmj.backend.Weight;
import io.llmj.ffm.cuda.CudaBackend.Gemm;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.Llmj;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.ffm.generated.llmj.llmj_gptq_matrix;
import io.llmj.format.gguf.GgufFile;
import io.llmj.quant.GgmlType;
import io.llmj.quant.gptq.GptqMatrix;
import io.llmj.quant.gptq.GptqTestModels;
import io.llmj.testing.TestData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The RMS norm folded into the product before it and the products after it ({@link CudaBackend#matmulAddNorm},
 * {@link CudaBackend#FUSE_NORM_PROPERTY}), and the GLU into the gate and up products of its output
 * ({@link CudaBackend#matmulGlu}, {@link CudaBackend#FUSE_GLU_PROPERTY}), which are not bit-equal to the separate
 * kernels:
 * <ul>
 *   <li>ops, awkward sizes, Q4_0 / Q8_0 and K-quants (reading Q8_0 blocks, {@code act32}; the two products of one
 *       launch mixing K formats too): a GLU (which converts the product's input), {@code acc += W h} with the next norm
 *       folded in, then two products of its output. {@code acc} against the unfolded backend's, up to float order
 *       (|Δ| ≤ 2⁻²⁴ · 2 · (blocks + 64) · Σ|w · h| + ulp); the products against this documented arithmetic emulated
 *       in double from the {@code acc} read back: Q8 quants of {@code acc · (gain + offset)} per 32-block (float32
 *       scale amax / 127, rounded half to even as the kernel does), exact block dots, times
 *       rsqrt(Σ acc² / dim + eps), within |Δ| ≤ 2⁻²⁴ · 2 · (blocks + 64) · Σ|w · a| + 4·10⁻⁶ |y|. Reading the norm's
 *       output afterwards writes it: rmsNorm(acc) · (gain + offset) within 4·10⁻⁶ relative.</li>
 *   <li>the folded GLU, both kernel shapes (Q4_0 and 4-bit GPTQ; Q8_0, 8-bit GPTQ and K-quants; the GPTQ pairs with zero
 *       points), SwiGLU and GeGLU: its output against the products'
 *       arithmetic, and the down product of its conversion bit for bit against the same floats converted
 *       ({@link #foldedGluComputesItsArithmetic});</li>
 *   <li>bad arguments to the C entry points: LLMJ_ERR_INVALID_ARGUMENT;</li>
 *   <li>models: the synthetic Q4_0 / Q8_0 / Q4_K_M / Q6_K llamas decoded folded (norms and GLUs) and unfolded: the
 *       same greedy tokens, and logits within the quantized-model tolerances of testdata/quant/README.md (max |Δ| ≤ 0.5,
 *       rms ≤ 0.15).</li>
 * </ul>
 * Skipped where CUDA is unusable.
 */
class CudaNormFoldTest {

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    static CudaBackend backend(boolean fold) {
        return CudaTestBackends.with(Map.of(CudaBackend.FUSE_PROPERTY, true, CudaBackend.FUSE_NORM_PROPERTY, fold), Gemm.OFF);
    }

    static Weight gainWeight(CudaBackend b, Arena arena, float[] g) {
        MemorySegment seg = arena.allocate(4L * g.length, 64);
        MemorySegment.copy(g, 0, seg, ValueLayout.JAVA_FLOAT, 0, g.length);
        return b.weight("gain", GgmlType.F32, new long[] {g.length}, seg);
    }

    /** What one backend computed: acc after the fold, the two products, and the norm's output read afterwards. */
    record Result(float[] acc, float[] ya, float[] yb, float[] out, boolean deferred) {
    }

    static Result run(CudaBackend b, Arena arena, GgmlType type, GgmlType typeB, MemorySegment w, MemorySegment a, MemorySegment c,
                      int dim, int ff, int rowsA, int rowsB, float[] gain, float offset, float eps, float[] gate, float[] up,
                      float[] acc0) {
        Weight ww = b.weight("w", type, new long[] {ff, dim}, w);
        Weight wa = b.weight("a", type, new long[] {dim, rowsA}, a);
        Weight wc = b.weight("b", typeB, new long[] {dim, rowsB}, c);
        Weight g = gainWeight(b, arena, gain);
        float[] acc = new float[dim];
        float[] ya = new float[rowsA];
        float[] yb = new float[rowsB];
        float[] out = new float[dim];
        try (Buffer gb = b.allocate(ff); Buffer ub = b.allocate(ff); Buffer h = b.allocate(ff); Buffer accb = b.allocate(dim);
             Buffer tmp = b.allocate(dim); Buffer outb = b.allocate(dim); Buffer yab = b.allocate(rowsA); Buffer ybb = b.allocate(rowsB)) {
            b.write(gb, 0, gate, 0, ff);
            b.write(ub, 0, up, 0, ff);
            b.write(accb, 0, acc0, 0, dim);
            b.swiglu(gb, ub, ff, h);
            b.matmulAddNorm(ww, h, 1, accb, tmp, g, eps, offset, dim, outb);
            boolean deferred = b.normDeferred(outb);
            b.matmulShared(outb, 1, new Weight[] {wa, wc}, new Buffer[] {yab, ybb});
            b.read(accb, 0, acc, 0, dim);
            b.read(yab, 0, ya, 0, rowsA);
            b.read(ybb, 0, yb, 0, rowsB);
            b.read(outb, 0, out, 0, dim);
            return new Result(acc, ya, yb, out, deferred);
        }
    }

    @ParameterizedTest(name = "{0} / {1} dim {2} ff {3} rows {4}/{5} gain offset {6} scale {7}")
    @CsvSource({
        "Q4_0, Q4_0, 32, 64, 1, 33, 0, 1", "Q4_0, Q4_0, 96, 352, 40, 7, 1, 0.01", "Q8_0, Q8_0, 160, 4096, 33, 96, 0, 30",
        "Q8_0, Q8_0, 96, 352, 1, 5, 1, 1", "Q4_0, Q4_0, 4096, 1024, 100, 257, 0, 1", "Q8_0, Q8_0, 4096, 2080, 31, 64, 0, 0.05",
        "Q4_K, Q4_K, 256, 512, 33, 64, 0, 1", "Q4_K, Q6_K, 512, 768, 40, 7, 1, 0.01", "Q6_K, Q6_K, 256, 4096, 1, 33, 0, 30",
        "Q5_K, Q5_K, 768, 256, 5, 96, 1, 1", "Q4_K, Q6_K, 4096, 1024, 100, 257, 0, 1", "Q6_K, Q4_K, 4096, 2816, 31, 64, 0, 0.05",
    })
    void foldedNormComputesItsArithmetic(GgmlType type, GgmlType typeB, int dim, int ff, int rowsA, int rowsB, float offset,
                                         float scale) {
        Random r = new Random(dim * 131L + ff * 7L + rowsA);
        float eps = 1e-5f;
        float[] wd = new float[dim * ff];
        float[] ad = new float[rowsA * dim];
        float[] cd = new float[rowsB * dim];
        float[] gain = CudaRepackTest.gaussian(r, dim);
        float[] gate = CudaRepackTest.gaussian(r, ff);
        float[] up = CudaRepackTest.gaussian(r, ff);
        float[] acc0 = CudaRepackTest.gaussian(r, dim);
        for (int i = 0; i < dim; i++) {
            acc0[i] *= scale;
            gain[i] = 0.5f + 0.2f * gain[i];
        }
        try (Arena arena = Arena.ofConfined(); CudaBackend fold = backend(true); CudaBackend plain = backend(false)) {
            MemorySegment w = CudaRepackTest.quantized(arena, type, dim, ff, r, wd);
            MemorySegment a = CudaRepackTest.quantized(arena, type, rowsA, dim, r, ad);
            MemorySegment c = CudaRepackTest.quantized(arena, typeB, rowsB, dim, r, cd);
            Result f = run(fold, arena, type, typeB, w, a, c, dim, ff, rowsA, rowsB, gain, offset, eps, gate, up, acc0);
            Result p = run(plain, arena, type, typeB, w, a, c, dim, ff, rowsA, rowsB, gain, offset, eps, gate, up, acc0);
            assertTrue(f.deferred(), "the folded backend deferred the norm");
            assertTrue(!p.deferred(), "-D" + CudaBackend.FUSE_NORM_PROPERTY + "=false: no deferred norm");
            String what = type + "/" + typeB + " dim " + dim;
            // acc: the same product as the unfolded backend's, up to float order
            int nbf = ff / 32;
            for (int i = 0; i < dim; i++) {
                double mag = 0;
                for (int k = 0; k < ff; k++) {
                    double h = gate[k] / (1 + Math.exp(-gate[k])) * up[k];
                    mag += Math.abs(wd[i * ff + k] * h);
                }
                double bound = 0x1p-24 * 2 * (nbf + 64) * (2 * mag + 1e-3) + Math.ulp(Math.abs(p.acc()[i])) * 2;
                assertEquals(p.acc()[i], f.acc()[i], bound, what + ": acc[" + i + "] folded against unfolded");
            }
            // the products: the documented arithmetic from the acc read back
            Folded n = Folded.of(f.acc(), gain, offset, eps);
            double rs = n.rs();
            checkProducts(what + " product a", f.ya(), ad, rowsA, dim, n.q(), n.d(), rs);
            checkProducts(what + " product b", f.yb(), cd, rowsB, dim, n.q(), n.d(), rs);
            // the norm's output, written when read
            double worst = 0;
            for (int i = 0; i < dim; i++) {
                double want = f.acc()[i] * rs * (gain[i] + offset);
                double diff = Math.abs(f.out()[i] - want);
                worst = Math.max(worst, diff / (Math.abs(want) + 1e-30));
                assertEquals(want, f.out()[i], 4e-6 * Math.abs(want) + 1e-30, what + ": norm output [" + i + "] read after the fold");
            }
            double dy = 0;
            for (int i = 0; i < rowsA; i++) {
                dy = Math.max(dy, Math.abs(f.ya()[i] - p.ya()[i]) / (Math.abs(p.ya()[i]) + 1e-3));
            }
            System.out.printf("folded norm %s: norm output worst relative %.3g; product a folded against unfolded: worst |Δ| / (|y| + 1e-3) %.3g%n",
                    what, worst, dy);
        }
    }

    /**
     * What the products of a folded norm's output read, from the accumulator read back: the Q8 quants of
     * {@code acc · (gain + offset)} per 32-block (float32 scale amax / 127, rounded half to even as the kernel does) and the
     * norm's scale rsqrt(Σ acc² / dim + eps).
     */
    record Folded(int[] q, float[] d, double rs) {
        static Folded of(float[] acc, float[] gain, float offset, float eps) {
            int dim = acc.length;
            double ss = 0;
            for (float v : acc) {
                ss += (double) v * v;
            }
            int nb = dim / 32;
            int[] q = new int[dim];
            float[] d = new float[nb];
            for (int b = 0; b < nb; b++) {
                float[] v = new float[32];
                float amax = 0;
                for (int i = 0; i < 32; i++) {
                    v[i] = acc[b * 32 + i] * (gain[b * 32 + i] + offset);
                    amax = Math.max(amax, Math.abs(v[i]));
                }
                float inv = amax != 0 ? 127f / amax : 0f;
                for (int i = 0; i < 32; i++) {
                    q[b * 32 + i] = (int) Math.rint(v[i] * inv);
                }
                d[b] = amax / 127f;
            }
            return new Folded(q, d, 1 / Math.sqrt(ss / dim + eps));
        }
    }

    /**
     * Row {@code row}'s product of a folded norm's output: {rs * sum_b d[b] * sum_c w[row][c] q[c] (exact block dots in
     * double), the bound on a float32 result's distance from it}.
     */
    static double[] product(float[] wd, int row, int dim, int[] q, float[] d, double rs) {
        int nb = dim / 32;
        double sum = 0;
        double mag = 0;
        for (int b = 0; b < nb; b++) {
            double dot = 0;
            double m = 0;
            for (int i = 0; i < 32; i++) {
                double t = (double) wd[row * dim + b * 32 + i] * q[b * 32 + i];
                dot += t;
                m += Math.abs(t);
            }
            sum += dot * d[b];
            mag += m * d[b];
        }
        double want = sum * rs;
        return new double[] {want, 0x1p-24 * 2 * (nb + 64) * mag * rs + 4e-6 * Math.abs(want) + 1e-30};
    }

    /** y[row] against {@link #product}, within its bound. */
    static void checkProducts(String what, float[] y, float[] wd, int rows, int dim, int[] q, float[] d, double rs) {
        double worst = 0;
        for (int row = 0; row < rows; row++) {
            double[] p = product(wd, row, dim, q, d, rs);
            double want = p[0];
            double bound = p[1];
            double diff = Math.abs(y[row] - want);
            worst = Math.max(worst, diff / bound);
            assertTrue(diff <= bound, what + " row " + row + ": " + y[row] + " against " + want + ", |Δ| " + diff + " > " + bound);
        }
        System.out.printf("%s: worst |Δ| / bound %.3g%n", what, worst);
    }

    /** silu(g) * u or gelu_tanh(g) * u in double. */
    static double glu(double g, double u, boolean gelu) {
        double a = gelu ? 0.5 * g * (1 + Math.tanh(0.7978845608028654 * (g + 0.044715 * g * g * g))) : g / (1 + Math.exp(-g));
        return a * u;
    }

    /**
     * The GLU folded into the gate and up products of a folded norm's output ({@link CudaBackend#matmulGlu}): after a GLU
     * and {@code acc += W h} with the norm folded in, {@code matmulGlu} of the norm's output, then the down product of its
     * result. The GLU's output against glu(g, u) in double, g and u the products' documented arithmetic
     * ({@link #product}) from the {@code acc} read back, within |u| · 1.2 · bound(g) + |act(g)| · bound(u) + 8·10⁻⁷ |h|
     * + 10⁻³⁰ (1.2 bounds the derivative of silu and of gelu_tanh); the down product, which reads the fold's conversion,
     * bit for bit against an unfolded backend's product of those floats (which converts them itself: the same
     * quantizer and kernel).
     */
    @ParameterizedTest(name = "{0} dim {1} ff {2} gelu {3}")
    @CsvSource({
        "Q4_0, 32, 32, false", "Q4_0, 96, 352, true", "Q8_0, 160, 4096, false", "Q8_0, 4096, 2080, true",
        "Q4_0, 4096, 11008, false", "Q4_K, 256, 512, false", "Q6_K, 512, 768, true", "Q5_K, 768, 256, false",
        "Q4_K, 4096, 2816, false",
    })
    void foldedGluComputesItsArithmetic(GgmlType type, int dim, int ff, boolean gelu) {
        checkFoldedGlu(type.toString(), false, dim, ff, gelu, (arena, rows, cols, r) -> {
            float[] v = new float[rows * cols];
            MemorySegment seg = CudaRepackTest.quantized(arena, type, rows, cols, r, v);
            return new TestWeight(type, seg, v);
        });
    }

    /** {@link #foldedGluComputesItsArithmetic} on GPTQ matrices with zero points (groups of 128 columns, no act-order). */
    @ParameterizedTest(name = "GPTQ {0}-bit dim {1} ff {2}")
    @CsvSource({"4, 256, 352", "8, 512, 256"})
    void foldedGluComputesItsArithmeticGptq(int bits, int dim, int ff) {
        checkFoldedGlu("GPTQ " + bits + "-bit", true, dim, ff, false, (arena, rows, cols, r) -> {
            GptqMatrix m = GptqTestModels.randomMatrix(bits, rows, cols, 128, false, r.nextLong(), arena);   // zero points 1..2^bits
            float[] v = new float[rows * cols];
            float[] row = new float[cols];
            for (int i = 0; i < rows; i++) {
                m.dequantizeRow(i, row);
                System.arraycopy(row, 0, v, i * cols, cols);
            }
            return new TestWeight(m.type(), m.segment(), v);
        });
    }

    /** A test matrix: its type and bytes, and its values (rows x cols, row-major) as the kernels' arithmetic reads them. */
    record TestWeight(GgmlType type, MemorySegment seg, float[] values) {
    }

    interface WeightMaker {
        TestWeight make(Arena arena, int rows, int cols, Random r);
    }

    /** The folded GLU's checks on {@code maker}'s matrices; {@code zeroPoints}: they are asymmetric (GPTQ with zeros). */
    static void checkFoldedGlu(String typeName, boolean zeroPoints, int dim, int ff, boolean gelu, WeightMaker maker) {
        Random r = new Random(dim * 31L + ff);
        float eps = 1e-5f;
        float offset = 0f;
        float[] gain = CudaRepackTest.gaussian(r, dim);
        float[] gate0 = CudaRepackTest.gaussian(r, ff);
        float[] up0 = CudaRepackTest.gaussian(r, ff);
        float[] acc0 = CudaRepackTest.gaussian(r, dim);
        for (int i = 0; i < dim; i++) {
            gain[i] = 0.5f + 0.2f * gain[i];
        }
        try (Arena arena = Arena.ofConfined(); CudaBackend fold = backend(true); CudaBackend plain = backend(false)) {
            TestWeight w = maker.make(arena, dim, ff, r);
            TestWeight gw = maker.make(arena, ff, dim, r);
            TestWeight uw = maker.make(arena, ff, dim, r);
            float[] gd = gw.values();
            float[] ud = uw.values();
            Weight ww = fold.weight("down", w.type(), new long[] {ff, dim}, w.seg());
            Weight wg = fold.weight("gate", gw.type(), new long[] {dim, ff}, gw.seg());
            Weight wu = fold.weight("up", uw.type(), new long[] {dim, ff}, uw.seg());
            if (zeroPoints) {                                             // the maker's matrices are asymmetric GPTQ
                assertTrue(llmj_gptq_matrix.zeros(((CudaBackend.DeviceWeight) wg).gptq()).address() != 0, "asymmetric");
            }
            Weight g = gainWeight(fold, arena, gain);
            float[] acc = new float[dim];
            float[] h = new float[ff];
            float[] y = new float[dim];
            long folds = fold.gluFolds();
            try (Buffer gb = fold.allocate(ff); Buffer ub = fold.allocate(ff); Buffer h0 = fold.allocate(ff);
                 Buffer accb = fold.allocate(dim); Buffer tmp = fold.allocate(dim); Buffer outb = fold.allocate(dim);
                 Buffer hg = fold.allocate(ff); Buffer hu = fold.allocate(ff); Buffer yb = fold.allocate(dim)) {
                fold.write(gb, 0, gate0, 0, ff);
                fold.write(ub, 0, up0, 0, ff);
                fold.write(accb, 0, acc0, 0, dim);
                fold.swiglu(gb, ub, ff, h0);
                fold.matmulAddNorm(ww, h0, 1, accb, tmp, g, eps, offset, dim, outb);
                assertTrue(fold.normDeferred(outb), "the norm is folded");
                fold.matmulGlu(outb, 1, wg, wu, hg, hu, gelu);
                assertEquals(folds + 1, fold.gluFolds(), "the GLU is folded");
                fold.matmul(ww, hg, 1, yb);                               // reads the fold's conversion of hg
                fold.read(accb, 0, acc, 0, dim);
                fold.read(hg, 0, h, 0, ff);
                fold.read(yb, 0, y, 0, dim);
            }
            String what = typeName + " dim " + dim + " ff " + ff + (gelu ? " gelu" : " silu");
            Folded n = Folded.of(acc, gain, offset, eps);
            double worst = 0;
            for (int i = 0; i < ff; i++) {
                double[] pg = product(gd, i, dim, n.q(), n.d(), n.rs());
                double[] pu = product(ud, i, dim, n.q(), n.d(), n.rs());
                double want = glu(pg[0], pu[0], gelu);
                double bound = Math.abs(pu[0]) * 1.2 * pg[1] + Math.abs(glu(pg[0], 1, gelu)) * pu[1] + 8e-7 * Math.abs(want) + 1e-30;
                double diff = Math.abs(h[i] - want);
                worst = Math.max(worst, diff / bound);
                assertTrue(diff <= bound, what + ": h[" + i + "] " + h[i] + " against " + want + ", |Δ| " + diff + " > " + bound);
            }
            // the down product from the fold's conversion against an unfolded backend converting the same floats
            float[] yp = new float[dim];
            Weight pw = plain.weight("down", w.type(), new long[] {ff, dim}, w.seg());
            try (Buffer hb = plain.allocate(ff); Buffer ypb = plain.allocate(dim)) {
                plain.write(hb, 0, h, 0, ff);
                plain.matmul(pw, hb, 1, ypb);
                plain.read(ypb, 0, yp, 0, dim);
            }
            assertArrayEquals(yp, y, what + ": the down product of the fold's conversion against the floats converted");
            System.out.printf("folded GLU %s: worst |Δ| / bound %.3g%n", what, worst);
        }
    }

    static CudaBackend.DeviceBuffer toDevice(float[] v, int from, int count) {
        CudaBackend.DeviceBuffer d = new CudaBackend.DeviceBuffer(4L * count);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(4L * count, 64);
            MemorySegment.copy(v, from, h, ValueLayout.JAVA_FLOAT, 0, count);
            Cuda.check(CudaRuntime.cudaMemcpy(d.ptr, h, 4L * count, CudaRuntime.cudaMemcpyHostToDevice()), "cudaMemcpy");
        }
        return d;
    }

    static byte[] fromDevice(MemorySegment p, long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(bytes, 64);
            Cuda.check(CudaRuntime.cudaMemcpy(h, p, bytes, CudaRuntime.cudaMemcpyDeviceToHost()), "cudaMemcpy");
            return h.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /**
     * {@code llmj_cuda_gptq_matmul_norm_glu} over two tokens equals two one-token calls, bit for bit: the GLU's floats and
     * its Q8 blocks (quants and meta) of each token, from a folded norm over the same two tokens
     * ({@code llmj_cuda_gptq_matmul_act_add_norm}, itself fed by {@code llmj_cuda_glu_q8}); both kernel shapes.
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"Q4_0", "Q8_0", "Q4_K"})
    void foldedGluRunsTokensOneByOne(GgmlType type) {
        int dim = 256;
        int ff = 512;
        int n = 2;
        Random r = new Random(7);
        float[] gain = CudaRepackTest.gaussian(r, dim);
        float[] gate0 = CudaRepackTest.gaussian(r, n * ff);
        float[] up0 = CudaRepackTest.gaussian(r, n * ff);
        float[] acc0 = CudaRepackTest.gaussian(r, n * dim);
        try (Arena arena = Arena.ofConfined(); CudaBackend b = backend(true)) {
            MemorySegment w = ((CudaBackend.DeviceWeight) b.weight("down", type, new long[] {ff, dim},
                    CudaRepackTest.quantized(arena, type, dim, ff, r, new float[dim * ff]))).gptq();
            long size = llmj_gptq_matrix.layout().byteSize();
            MemorySegment pair = arena.allocate(llmj_gptq_matrix.layout(), 2);
            for (int i = 0; i < 2; i++) {
                MemorySegment m = ((CudaBackend.DeviceWeight) b.weight("gu" + i, type, new long[] {dim, ff},
                        CudaRepackTest.quantized(arena, type, ff, dim, r, new float[ff * dim]))).gptq();
                MemorySegment.copy(m, 0, pair, i * size, size);
            }
            MemorySegment none = MemorySegment.NULL;
            float eps = 1e-5f;
            byte[][] outs = new byte[n + 1][];
            byte[][] acts = new byte[n + 1][];
            // run k: k == n, both tokens in one call each; k < n: token k alone
            for (int k = 0; k <= n; k++) {
                int t0 = k == n ? 0 : k;
                int tn = k == n ? n : 1;
                try (CudaBackend.DeviceBuffer g = toDevice(gate0, t0 * ff, tn * ff);
                     CudaBackend.DeviceBuffer u = toDevice(up0, t0 * ff, tn * ff);
                     CudaBackend.DeviceBuffer h = new CudaBackend.DeviceBuffer(4L * tn * ff);
                     CudaBackend.DeviceBuffer act = new CudaBackend.DeviceBuffer(LlmjCuda.llmj_cuda_gptq_work_size(ff, tn));
                     CudaBackend.DeviceBuffer acc = toDevice(acc0, t0 * dim, tn * dim);
                     CudaBackend.DeviceBuffer gd = toDevice(gain, 0, dim);
                     CudaBackend.DeviceBuffer normAct = new CudaBackend.DeviceBuffer(LlmjCuda.llmj_cuda_gptq_norm_act_size(dim, tn));
                     CudaBackend.DeviceBuffer out = new CudaBackend.DeviceBuffer(4L * tn * ff);
                     CudaBackend.DeviceBuffer act2 = new CudaBackend.DeviceBuffer(LlmjCuda.llmj_cuda_gptq_work_size(ff, tn))) {
                    assertEquals(0, LlmjCuda.llmj_cuda_glu_q8(g.ptr, u.ptr, h.ptr, (long) tn * ff, 0, act.ptr, none), "glu_q8");
                    assertEquals(0, LlmjCuda.llmj_cuda_gptq_matmul_act_add_norm(w, act.ptr, acc.ptr, tn, gd.ptr, 0f, normAct.ptr,
                            none), "act_add_norm");
                    assertEquals(0, LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(pair, normAct.ptr, eps, 1, out.ptr, act2.ptr, tn, none),
                            "norm_glu");
                    Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "sync");
                    outs[k] = fromDevice(out.ptr, 4L * tn * ff);
                    acts[k] = fromDevice(act2.ptr, LlmjCuda.llmj_cuda_gptq_work_size(ff, tn));
                }
            }
            int nb = ff / 32;
            for (int t = 0; t < n; t++) {
                byte[] one = Arrays.copyOfRange(outs[n], t * ff * 4, (t + 1) * ff * 4);
                assertArrayEquals(outs[t], one, type + ": token " + t + "'s GLU floats, two tokens against one");
                // Q8 blocks: quants at t * ff, then the meta (16 bytes a block) closing the work buffer
                long metaN = LlmjCuda.llmj_cuda_gptq_work_size(ff, n) - (long) n * nb * 16;
                long meta1 = LlmjCuda.llmj_cuda_gptq_work_size(ff, 1) - (long) nb * 16;
                assertArrayEquals(Arrays.copyOfRange(acts[t], 0, ff),
                        Arrays.copyOfRange(acts[n], t * ff, (t + 1) * ff), type + ": token " + t + "'s quants");
                assertArrayEquals(Arrays.copyOfRange(acts[t], (int) meta1, (int) meta1 + nb * 16),
                        Arrays.copyOfRange(acts[n], (int) metaN + t * nb * 16, (int) metaN + (t + 1) * nb * 16),
                        type + ": token " + t + "'s block meta");
            }
        }
    }

    /** The entry points refuse what they cannot compute, with LLMJ_ERR_INVALID_ARGUMENT and no launch. */
    @Test
    void rejectsBadArguments() {
        try (Arena arena = Arena.ofConfined(); CudaBackend b = backend(true); CudaBackend.DeviceBuffer buf = new CudaBackend.DeviceBuffer(1 << 16)) {
            Random r = new Random(3);
            MemorySegment w33 = ((CudaBackend.DeviceWeight) b.weight("w33", GgmlType.Q4_0, new long[] {64, 33},
                    CudaRepackTest.quantized(arena, GgmlType.Q4_0, 33, 64, r, new float[33 * 64]))).gptq();
            MemorySegment w32 = ((CudaBackend.DeviceWeight) b.weight("w32", GgmlType.Q4_0, new long[] {64, 32},
                    CudaRepackTest.quantized(arena, GgmlType.Q4_0, 32, 64, r, new float[32 * 64]))).gptq();
            MemorySegment none = MemorySegment.NULL;
            int invalid = Llmj.LLMJ_ERR_INVALID_ARGUMENT();
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_act_add_norm(w33, buf.ptr, buf.ptr, 1, buf.ptr, 0f, buf.ptr, none),
                    "rows not a multiple of 32");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_act_add_norm(w32, buf.ptr, buf.ptr, 1, buf.ptr, 0f, none, none),
                    "no norm_act");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_act_add_norm(w32, buf.ptr, buf.ptr, 1, none, 0f, buf.ptr, none),
                    "no gain");
            MemorySegment ys = arena.allocate(ValueLayout.ADDRESS);
            ys.set(ValueLayout.ADDRESS, 0, buf.ptr);
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_act(1, w32, buf.ptr, -1f, ys, 1, none), "negative eps");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_act(1, w32, none, 1e-5f, ys, 1, none), "no norm_act");
            assertEquals(0, LlmjCuda.llmj_cuda_gptq_norm_act_size(33, 1), "dim not a multiple of 32");
            try (CudaBackend q8k = CudaTestBackends.with(CudaBackend.KQUANT_Q8K_PROPERTY, true, Gemm.OFF)) {
                MemorySegment k = ((CudaBackend.DeviceWeight) q8k.weight("k", GgmlType.Q4_K, new long[] {256, 32},
                        CudaRepackTest.quantized(arena, GgmlType.Q4_K, 32, 256, r, new float[32 * 256]))).gptq();
                assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_act_add_norm(k, buf.ptr, buf.ptr, 1, buf.ptr, 0f, buf.ptr,
                        none), "a K-quant reading Q8_K");
                assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_act(1, k, buf.ptr, 1e-5f, ys, 1, none),
                        "a K-quant reading Q8_K, deferred norm");
            }
            assertTrue(LlmjCuda.llmj_cuda_gptq_norm_act_size(64, 2) >= 2 * 64 + 2 * 2 * (16 + 4), "quants, meta and sums");
            // the folded GLU: gate and up matrices (ms[0], ms[1])
            long size = llmj_gptq_matrix.layout().byteSize();
            MemorySegment pair33 = arena.allocate(llmj_gptq_matrix.layout(), 2);
            MemorySegment pair32 = arena.allocate(llmj_gptq_matrix.layout(), 2);
            MemorySegment mixed = arena.allocate(llmj_gptq_matrix.layout(), 2);
            MemorySegment w32q8 = ((CudaBackend.DeviceWeight) b.weight("w32q8", GgmlType.Q8_0, new long[] {64, 32},
                    CudaRepackTest.quantized(arena, GgmlType.Q8_0, 32, 64, r, new float[32 * 64]))).gptq();
            for (int i = 0; i < 2; i++) {
                MemorySegment.copy(w33, 0, pair33, i * size, size);
                MemorySegment.copy(w32, 0, pair32, i * size, size);
                MemorySegment.copy(i == 0 ? w32 : w32q8, 0, mixed, i * size, size);
            }
            assertEquals(0, LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(pair32, buf.ptr, 1e-5f, 0, buf.ptr, buf.ptr, 0, none),
                    "no token: nothing to do");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(pair33, buf.ptr, 1e-5f, 0, buf.ptr, buf.ptr, 1, none),
                    "GLU: rows not a multiple of 32");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(mixed, buf.ptr, 1e-5f, 0, buf.ptr, buf.ptr, 1, none),
                    "GLU: gate and up of different formats");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(pair32, buf.ptr, 1e-5f, 2, buf.ptr, buf.ptr, 1, none),
                    "GLU: gelu 2");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(pair32, buf.ptr, -1f, 0, buf.ptr, buf.ptr, 1, none),
                    "GLU: negative eps");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(pair32, none, 1e-5f, 0, buf.ptr, buf.ptr, 1, none),
                    "GLU: no norm_act");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(pair32, buf.ptr, 1e-5f, 0, buf.ptr, none, 1, none),
                    "GLU: no act");
            assertEquals(invalid, LlmjCuda.llmj_cuda_gptq_matmul_norm_glu(pair32, buf.ptr, 1e-5f, 0, none, buf.ptr, 1, none),
                    "GLU: no out");
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"quant/synth-llama-Q4_0.gguf", "quant/synth-llama-Q8_0.gguf", "quant/synth-llama-Q4_K_M.gguf",
                "quant/synth-llama-Q6_K.gguf"})
    void foldedDecodeMatchesUnfolded(String file) {
        try (GgufFile gg = GgufFile.open(TestData.require(file)); CudaBackend fold = backend(true); CudaBackend plain = backend(false)) {
            GgufModelSource src = new GgufModelSource(gg);
            int v = src.config().vocabSize();
            int[] ids = {1, 2 % v, 17 % v, 5 % v, 300 % v, 11 % v, 42 % v};
            int steps = 16;
            float[][] lf = new float[steps][];
            float[][] lp = new float[steps][];
            int[] tf = decode(src, fold, ids, steps, lf);
            int[] tp = decode(src, plain, ids, steps, lp);
            assertTrue(fold.normFolds() > 0, "the folded backend folded norms");
            assertTrue(fold.gluFolds() > 0, "the folded backend folded GLUs");
            assertEquals(0, plain.normFolds(), "-D" + CudaBackend.FUSE_NORM_PROPERTY + "=false folds none");
            assertEquals(0, plain.gluFolds(), "-D" + CudaBackend.FUSE_NORM_PROPERTY + "=false folds no GLU");
            assertArrayEquals(tp, tf, file + ": greedy tokens folded against unfolded");
            double max = 0;
            double sumSq = 0;
            for (int s = 0; s < steps; s++) {
                for (int i = 0; i < v; i++) {
                    double d = Math.abs(lf[s][i] - lp[s][i]);
                    max = Math.max(max, d);
                    sumSq += d * d;
                }
            }
            double rms = Math.sqrt(sumSq / (steps * (double) v));
            System.out.printf("%s folded against unfolded decode: max |Δ| %.3g, rms %.3g%n", file, max, rms);
            assertTrue(max <= 0.5, file + ": max |Δ| " + max);
            assertTrue(rms <= 0.15, file + ": rms |Δ| " + rms);
        }
    }

    /** Prefills ids, then decodes {@code steps} greedy tokens (graph replay), keeping each step's logits. */
    static int[] decode(GgufModelSource src, CudaBackend b, int[] ids, int steps, float[][] logits) {
        Forward f = Forwards.create(src.config(), src, b);
        int v = src.config().vocabSize();
        int[] out = new int[steps];
        try (ForwardState s = f.newState(256, 16, GgmlType.F16)) {
            float[] last = new float[v];
            f.forward(s, ids, 0, false, last);
            for (int i = 0; i < steps; i++) {
                out[i] = ReferenceFile.argmax(last, 0, v);
                f.forward(s, new int[] {out[i]}, ids.length + i, false, last);
                logits[i] = last.clone();
            }
        }
        return out;
    }
}
