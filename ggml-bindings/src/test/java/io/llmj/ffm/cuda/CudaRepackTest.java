package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.backend.Buffer;
import io.llmj.backend.Weight;
import io.llmj.ffm.cuda.CudaBackend.Gemm;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormat;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Q4_0 / Q8_0 matrices repacked at load into the GPTQ layout ({@link CudaBackend#REPACK_PROPERTY}, the
 * default) against the same matrices kept in ggml's block layout ({@code -Dllmj.cuda.repack=false}), on one
 * device, on awkward shapes:
 * <ul>
 *   <li>per-token products (1 and 3 tokens, {@link Gemm#OFF} for 9): both layouts give the same Q8_0
 *       activation integers and the same exact int32 block dots scaled by the same float products; only the
 *       order of the float additions differs, so |Δ| ≤ 2⁻²⁴ · 2 · (blocks + 64) · Σ|w · a| per output;</li>
 *   <li>the F16 GEMM of a batch: both dequantize to the same F16 values, so the outputs are equal;</li>
 *   <li>the embedding lookup: the same values (d · (q − 8) or d · q, then the scale), equal;</li>
 *   <li>{@link CudaBackend#matmulShared} over three and two repacked matrices, and over F16 / BF16 / F32 ones: each
 *       output equal, bit for bit, to its own {@link CudaBackend#matmul}; with a matrix of another type it falls back
 *       to matmul per weight.</li>
 * </ul>
 * Skipped where CUDA is unusable.
 */
class CudaRepackTest {

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    /** A backend built with {@code -Dllmj.cuda.repack=repack}. */
    static CudaBackend backend(boolean repack, Gemm gemm) {
        return CudaTestBackends.with(CudaBackend.REPACK_PROPERTY, repack, gemm);
    }

    /** rows x cols random weights quantized to {@code type} (dense rows, as in GGUF); their values into {@code dequantized}. */
    static MemorySegment quantized(Arena arena, GgmlType type, int rows, int cols, Random r, float[] dequantized) {
        QuantFormat f = QuantFormats.require(type);
        long rowBytes = type.byteSize(cols);
        MemorySegment data = arena.allocate(rowBytes * rows, 64);
        float[] w = new float[cols];
        for (int row = 0; row < rows; row++) {
            for (int i = 0; i < cols; i++) {
                w[i] = (float) (r.nextGaussian() * (0.2 + (row % 7) * 0.1));
            }
            f.quantize(w, 0, cols, data, row * rowBytes);
            f.dequantize(data, row * rowBytes, dequantized, row * cols, cols);
        }
        return data;
    }

    static float[] matmul(CudaBackend b, Weight w, float[] x, int n) {
        float[] y = new float[n * w.rows()];
        try (Buffer xb = b.allocate(x.length); Buffer yb = b.allocate(y.length)) {
            b.write(xb, 0, x, 0, x.length);
            b.matmul(w, xb, n, yb);
            b.read(yb, 0, y, 0, y.length);
        }
        return y;
    }

    static float[] gaussian(Random r, int len) {
        float[] x = new float[len];
        for (int i = 0; i < len; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    @ParameterizedTest(name = "{0} {1}x{2} n={3}")
    @CsvSource({
        "Q4_0, 1, 32, 1", "Q4_0, 33, 96, 3", "Q4_0, 4097, 4096, 1", "Q4_0, 257, 11008, 3", "Q4_0, 31, 2080, 9",
        "Q8_0, 1, 32, 1", "Q8_0, 33, 96, 3", "Q8_0, 4097, 4096, 1", "Q8_0, 257, 11008, 3", "Q8_0, 31, 2080, 9",
    })
    void perTokenProductsMatchTheBlockLayout(GgmlType type, int rows, int cols, int n) {
        Random r = new Random(rows * 31L + cols + n);
        float[] wd = new float[rows * cols];
        float[] x = gaussian(r, n * cols);
        try (Arena arena = Arena.ofConfined();
             CudaBackend packed = backend(true, Gemm.OFF);
             CudaBackend plain = backend(false, Gemm.OFF)) {
            MemorySegment data = quantized(arena, type, rows, cols, r, wd);
            CudaBackend.DeviceWeight wp = (CudaBackend.DeviceWeight) packed.weight("w", type, new long[] {cols, rows}, data);
            CudaBackend.DeviceWeight wb = (CudaBackend.DeviceWeight) plain.weight("w", type, new long[] {cols, rows}, data);
            assertNotNull(wp.gptq(), "repacked by default");
            assertNull(wb.gptq(), "kept in the block layout with -D" + CudaBackend.REPACK_PROPERTY + "=false");
            assertSameUpToFloatOrder(type.toString(), matmul(packed, wp, x, n), matmul(plain, wb, x, n), wd, x, rows, cols, n);
        }
    }

    /**
     * Repacked products ({@code got}) against the block layout's ({@code want}) where both sum the same exact integer
     * block dots and only the order of the float operations differs: per output
     * |Δ| ≤ 2⁻²⁴ · 2 · (blocks + 64) · Σ|w · a|, with Σ|w · a| bounded generously by 2 Σ|w · x| + slack (8-bit
     * activations: |xq · d| ≤ 1.01 |x| + d / 2). {@code wd}: the dequantized weights, rows × cols.
     */
    static void assertSameUpToFloatOrder(String what, float[] got, float[] want, float[] wd, float[] x, int rows, int cols, int n) {
        int nb = cols / 32;
        double worst = 0;
        for (int t = 0; t < n; t++) {
            for (int row = 0; row < rows; row++) {
                double mag = 0;
                for (int c = 0; c < cols; c++) {
                    mag += Math.abs(wd[row * cols + c] * x[t * cols + c]);
                }
                double bound = 0x1p-24 * 2 * (nb + 64) * (2 * mag + 1e-3);
                int i = t * rows + row;
                double d = Math.abs(got[i] - want[i]);
                worst = Math.max(worst, d / bound);
                assertTrue(d <= bound, what + " token " + t + " row " + row + ": repacked " + got[i] + " vs block layout "
                        + want[i] + ", |Δ| " + d + " > " + bound);
            }
        }
        System.out.printf("repacked %s %dx%d n=%d: worst |Δ| / bound %.3g%n", what, rows, cols, n, worst);
    }

    @ParameterizedTest(name = "{0} {1}x{2} n={3}")
    @CsvSource({"Q4_0, 96, 256, 8", "Q8_0, 200, 4096, 16", "Q4_0, 4096, 4096, 5"})
    void batchGemmAndEmbeddingAreEqual(GgmlType type, int rows, int cols, int n) {
        Random r = new Random(rows + 7L * cols);
        float[] wd = new float[rows * cols];
        float[] x = gaussian(r, n * cols);
        try (Arena arena = Arena.ofConfined();
             CudaBackend packed = backend(true, Gemm.AUTO);
             CudaBackend plain = backend(false, Gemm.AUTO)) {
            Assumptions.assumeTrue(packed.gemmPath(packed.weight("probe", GgmlType.F16, new long[] {32, 1},
                    arena.allocate(64, 64)), n) != CudaBackend.GemmPath.EXACT, "cuBLAS unavailable: no GEMM path");
            MemorySegment data = quantized(arena, type, rows, cols, r, wd);
            Weight wp = packed.weight("w", type, new long[] {cols, rows}, data);
            Weight wb = plain.weight("w", type, new long[] {cols, rows}, data);
            assertEquals(CudaBackend.GemmPath.F16, packed.gemmPath(wp, n));
            assertArrayEquals(matmul(plain, wb, x, n), matmul(packed, wp, x, n), type + " batch of " + n + " through the GEMM");

            assertEmbeddingsEqual(type, packed, wp, plain, wb, wd, rows, cols);
        }
    }

    /**
     * Embedding rows of the repacked weight wp against the block layout's wb: equal, and equal to the dequantized
     * weights {@code wd} (rows × cols) times the scale.
     */
    static void assertEmbeddingsEqual(GgmlType type, CudaBackend packed, Weight wp, CudaBackend plain, Weight wb, float[] wd,
                                      int rows, int cols) {
        int[] ids = {0, rows - 1, rows / 2, 1 % rows, rows - 1};
        float[] ep = new float[ids.length * cols];
        float[] eb = new float[ids.length * cols];
        try (Buffer o1 = packed.allocate(ep.length); Buffer o2 = plain.allocate(eb.length)) {
            packed.embed(wp, ids, 0.75f, o1);
            plain.embed(wb, ids, 0.75f, o2);
            packed.read(o1, 0, ep, 0, ep.length);
            plain.read(o2, 0, eb, 0, eb.length);
        }
        assertArrayEquals(eb, ep, type + " embedding rows");
        for (int i = 0; i < ids.length; i++) {
            for (int c = 0; c < cols; c++) {
                assertEquals(wd[ids[i] * cols + c] * 0.75f, ep[i * cols + c], 0f, "row " + ids[i] + " col " + c);
            }
        }
    }

    @ParameterizedTest(name = "{0} cols={1} n={2}")
    @CsvSource({"Q4_0, 4096, 1", "Q4_0, 4096, 3", "Q8_0, 4096, 1", "Q8_0, 96, 9", "Q4_0, 2080, 2"})
    void sharedInputProductsEqualSeparateOnes(GgmlType type, int cols, int n) {
        Random r = new Random(cols * 3L + n);
        int[] rows = {cols == 4096 ? 4096 : 64, 1024, 1024};
        float[] x = gaussian(r, n * cols);
        try (Arena arena = Arena.ofConfined(); CudaBackend b = backend(true, Gemm.OFF)) {
            Weight[] ws = weights(b, arena, type, rows, cols, r);
            check(b, ws, x, n, "3 shared");
            check(b, new Weight[] {ws[1], ws[0]}, x, n, "2 shared");
            GgmlType other = type == GgmlType.Q4_0 ? GgmlType.F16 : GgmlType.Q4_1;   // not repacked: falls back
            Weight odd = b.weight("odd", other, new long[] {cols, 48}, quantized(arena, other, 48, cols, r, new float[48 * cols]));
            check(b, new Weight[] {ws[2], odd}, x, n, "mixed types");
        }
    }

    @ParameterizedTest(name = "{0} cols={1} n={2}")
    @CsvSource({"F16, 4096, 1", "F16, 4096, 3", "BF16, 2080, 1", "F32, 96, 2", "F16, 100, 1", "F16, 33, 2"})
    void plainSharedProductsEqualSeparateOnes(GgmlType type, int cols, int n) {
        // cols 100 and 33: rows not 16-byte multiples, so the products fall back to one launch per matrix
        Random r = new Random(cols * 5L + n);
        int[] rows = {cols >= 2048 ? 4096 : 64, 1024, 7};
        float[] x = gaussian(r, n * cols);
        try (Arena arena = Arena.ofConfined(); CudaBackend b = backend(true, Gemm.OFF)) {
            Weight[] ws = weights(b, arena, type, rows, cols, r);
            check(b, ws, x, n, type + " 3 shared");
            check(b, new Weight[] {ws[2], ws[0]}, x, n, type + " 2 shared");
        }
    }

    /** One random matrix of {@code type} per entry of {@code rows}, all of {@code cols} columns. */
    static Weight[] weights(CudaBackend b, Arena arena, GgmlType type, int[] rows, int cols, Random r) {
        Weight[] ws = new Weight[rows.length];
        for (int i = 0; i < rows.length; i++) {
            ws[i] = b.weight("w" + i, type, new long[] {cols, rows[i]}, quantized(arena, type, rows[i], cols, r,
                    new float[rows[i] * cols]));
        }
        return ws;
    }

    /** matmulShared's outputs against one matmul per weight: equal bit for bit. */
    static void check(CudaBackend b, Weight[] ws, float[] x, int n, String what) {
        Buffer[] outs = new Buffer[ws.length];
        try (Buffer xb = b.allocate(x.length)) {
            b.write(xb, 0, x, 0, x.length);
            for (int i = 0; i < ws.length; i++) {
                outs[i] = b.allocate((long) n * ws[i].rows());
            }
            b.matmulShared(xb, n, ws, outs);
            for (int i = 0; i < ws.length; i++) {
                float[] got = new float[n * ws[i].rows()];
                b.read(outs[i], 0, got, 0, got.length);
                Supplier<String> msg = () -> what + ": output of " + ws.length + " shared products";
                assertArrayEquals(matmul(b, ws[i], x, n), got, msg);
            }
        } finally {
            for (Buffer o : outs) {
                if (o != null) {
                    o.close();
                }
            }
        }
    }
}
