package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.llmj.backend.Weight;
import io.llmj.ffm.cuda.CudaBackend.Gemm;
import io.llmj.ffm.generated.llmj.llmj_gptq_matrix;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Q4_K / Q5_K / Q6_K matrices repacked at load into the GPTQ layout ({@link CudaBackend#REPACK_KQUANTS_PROPERTY}, the
 * default), on awkward shapes:
 * <ul>
 *   <li>per-token products (1, 3 and 9 tokens) reading Q8_K activations ({@code -Dllmj.cuda.kquantQ8K=true}) against
 *       the same matrix kept in ggml's block layout ({@code -Dllmj.cuda.repackKquants=false}): both convert the
 *       activation to the same Q8_K integers and scales and sum exact int32 block dots; only the order of the float
 *       operations differs, so |Δ| ≤ 2⁻²⁴ · 2 · (blocks + 64) · Σ|w · a| per output;</li>
 *   <li>per-token products reading Q8_0 blocks (the default, {@code llmj_gptq_matrix.act32}) against their arithmetic
 *       emulated in double: the activation converted as the GPU's Q8_0 quantizer does (q = rint(x · (127 / amax)),
 *       d = fp16(amax / 127) per 32 values), exact block dots with ggml's dequantized weights, the same bound;</li>
 *   <li>the F16 GEMM of a batch and the embedding lookup: equal, bit for bit, to the same matrix kept in ggml's
 *       block layout ({@code -Dllmj.cuda.repackKquants=false}): both dequantize with the same float operations;</li>
 *   <li>{@link CudaBackend#matmulShared} over repacked matrices, of one type or K types mixed (one launch): each
 *       output equal to its own matmul; with a repacked Q4_0 (Q8_0 activations) it falls back to matmul per weight.</li>
 * </ul>
 * Skipped where CUDA is unusable.
 */
class CudaKquantRepackTest {

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    static CudaBackend backend(boolean repack, Gemm gemm) {
        return CudaTestBackends.with(CudaBackend.REPACK_KQUANTS_PROPERTY, repack, gemm);
    }

    /** A backend that repacks K-quants, whose products read Q8_K activations ({@code q8k}) or Q8_0 blocks (the default). */
    static CudaBackend repacking(boolean q8k, Gemm gemm) {
        return CudaTestBackends.with(Map.of(CudaBackend.REPACK_KQUANTS_PROPERTY, true, CudaBackend.KQUANT_Q8K_PROPERTY, q8k), gemm);
    }

    @ParameterizedTest(name = "{0} {1}x{2} n={3}")
    @CsvSource({
        "Q4_K, 1, 256, 1", "Q4_K, 33, 768, 3", "Q4_K, 4097, 4096, 1", "Q4_K, 257, 11008, 3", "Q4_K, 31, 2048, 9",
        "Q6_K, 1, 256, 1", "Q6_K, 33, 768, 3", "Q6_K, 4097, 4096, 1", "Q6_K, 257, 11008, 3", "Q6_K, 31, 2048, 9",
        "Q5_K, 1, 256, 1", "Q5_K, 33, 768, 3", "Q5_K, 4097, 4096, 1", "Q5_K, 257, 11008, 3", "Q5_K, 31, 2048, 9",
    })
    void perTokenProductsMatchTheBlockLayout(GgmlType type, int rows, int cols, int n) {
        Random r = new Random(rows * 37L + cols + n + type.id());
        float[] wd = new float[rows * cols];
        float[] x = CudaRepackTest.gaussian(r, n * cols);
        try (Arena arena = Arena.ofConfined();
             CudaBackend packed = repacking(true, Gemm.OFF);
             CudaBackend plain = backend(false, Gemm.OFF)) {
            MemorySegment data = CudaRepackTest.quantized(arena, type, rows, cols, r, wd);
            CudaBackend.DeviceWeight wp = (CudaBackend.DeviceWeight) packed.weight("w", type, new long[] {cols, rows}, data);
            CudaBackend.DeviceWeight wb = (CudaBackend.DeviceWeight) plain.weight("w", type, new long[] {cols, rows}, data);
            assertNotNull(wp.gptq(), "repacked by default");
            assertEquals(0, llmj_gptq_matrix.act32(wp.gptq()), "Q8_K activations with -D" + CudaBackend.KQUANT_Q8K_PROPERTY);
            assertNull(wb.gptq(), "kept in the block layout with -D" + CudaBackend.REPACK_KQUANTS_PROPERTY + "=false");
            CudaRepackTest.assertSameUpToFloatOrder(type.toString(), CudaRepackTest.matmul(packed, wp, x, n),
                    CudaRepackTest.matmul(plain, wb, x, n), wd, x, rows, cols, n);
        }
    }

    @ParameterizedTest(name = "{0} {1}x{2} n={3}")
    @CsvSource({
        "Q4_K, 1, 256, 1", "Q4_K, 33, 768, 3", "Q4_K, 4097, 4096, 1", "Q4_K, 257, 11008, 2", "Q4_K, 31, 2048, 9",
        "Q6_K, 1, 256, 1", "Q6_K, 33, 768, 3", "Q6_K, 4097, 4096, 1", "Q6_K, 257, 11008, 2", "Q6_K, 31, 2048, 9",
        "Q5_K, 1, 256, 1", "Q5_K, 33, 768, 3", "Q5_K, 4097, 4096, 1", "Q5_K, 257, 11008, 2", "Q5_K, 31, 2048, 8",
    })
    void q8BlockProductsComputeTheirArithmetic(GgmlType type, int rows, int cols, int n) {
        Random r = new Random(rows * 41L + cols + n + type.id());
        float[] wd = new float[rows * cols];
        float[] x = CudaRepackTest.gaussian(r, n * cols);
        for (int i = 0; i < x.length; i += 97) {
            x[i] *= 40;                                   // blocks of unequal ranges: each its own d
        }
        try (Arena arena = Arena.ofConfined(); CudaBackend b = repacking(false, Gemm.OFF)) {
            MemorySegment data = CudaRepackTest.quantized(arena, type, rows, cols, r, wd);
            CudaBackend.DeviceWeight w = (CudaBackend.DeviceWeight) b.weight("w", type, new long[] {cols, rows}, data);
            assertEquals(1, llmj_gptq_matrix.act32(w.gptq()), "Q8_0 blocks by default");
            float[] y = CudaRepackTest.matmul(b, w, x, n);
            int nb = cols / 32;
            for (int t = 0; t < n; t++) {
                int[] q = new int[cols];
                float[] d = new float[nb];
                for (int blk = 0; blk < nb; blk++) {
                    float amax = 0;
                    for (int i = 0; i < 32; i++) {
                        amax = Math.max(amax, Math.abs(x[t * cols + blk * 32 + i]));
                    }
                    float inv = amax != 0 ? 127f / amax : 0f;
                    for (int i = 0; i < 32; i++) {
                        q[blk * 32 + i] = (int) Math.rint(x[t * cols + blk * 32 + i] * inv);
                    }
                    d[blk] = Float.float16ToFloat(Float.floatToFloat16(amax / 127f));
                }
                CudaNormFoldTest.checkProducts(type + " " + rows + "x" + cols + " token " + t,
                        Arrays.copyOfRange(y, t * rows, (t + 1) * rows), wd, rows, cols, q, d, 1);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}x{2} n={3}")
    @CsvSource({"Q4_K, 96, 256, 8", "Q6_K, 200, 4096, 16", "Q4_K, 4096, 4096, 5", "Q6_K, 64, 768, 4", "Q5_K, 130, 1024, 6"})
    void batchGemmAndEmbeddingEqualTheBlockLayout(GgmlType type, int rows, int cols, int n) {
        Random r = new Random(rows + 11L * cols);
        float[] wd = new float[rows * cols];
        float[] x = CudaRepackTest.gaussian(r, n * cols);
        try (Arena arena = Arena.ofConfined();
             CudaBackend packed = backend(true, Gemm.AUTO);
             CudaBackend plain = backend(false, Gemm.AUTO)) {
            MemorySegment data = CudaRepackTest.quantized(arena, type, rows, cols, r, wd);
            CudaBackend.DeviceWeight wp = (CudaBackend.DeviceWeight) packed.weight("w", type, new long[] {cols, rows}, data);
            CudaBackend.DeviceWeight wb = (CudaBackend.DeviceWeight) plain.weight("w", type, new long[] {cols, rows}, data);
            assertNotNull(wp.gptq(), "repacked by default");
            assertNull(wb.gptq(), "kept in the block layout with -D" + CudaBackend.REPACK_KQUANTS_PROPERTY + "=false");
            CudaRepackTest.assertEmbeddingsEqual(type, packed, wp, plain, wb, wd, rows, cols);
            Assumptions.assumeTrue(packed.gemmPath(wp, n) != CudaBackend.GemmPath.EXACT, "cuBLAS unavailable: no GEMM path");
            assertEquals(CudaBackend.GemmPath.F16, packed.gemmPath(wp, n));
            assertArrayEquals(CudaRepackTest.matmul(plain, wb, x, n), CudaRepackTest.matmul(packed, wp, x, n),
                    type + " batch of " + n + " through the GEMM");
        }
    }

    @ParameterizedTest(name = "{0} cols={1} n={2}")
    @CsvSource({"Q4_K, 4096, 1", "Q4_K, 4096, 3", "Q6_K, 4096, 1", "Q6_K, 768, 9", "Q4_K, 2048, 2", "Q5_K, 4096, 1", "Q5_K, 768, 3"})
    void sharedInputProductsEqualSeparateOnes(GgmlType type, int cols, int n) {
        Random r = new Random(cols * 13L + n);
        int[] rows = {cols == 4096 ? 4096 : 64, 1024, 1024};
        float[] x = CudaRepackTest.gaussian(r, n * cols);
        try (Arena arena = Arena.ofConfined(); CudaBackend b = backend(true, Gemm.OFF)) {
            Weight[] ws = CudaRepackTest.weights(b, arena, type, rows, cols, r);
            CudaRepackTest.check(b, ws, x, n, "3 shared");
            CudaRepackTest.check(b, new Weight[] {ws[1], ws[0]}, x, n, "2 shared");
            GgmlType other = type == GgmlType.Q6_K ? GgmlType.Q4_K : GgmlType.Q6_K;   // K formats mixed: one launch too
            Weight odd = b.weight("odd", other, new long[] {cols, 48},
                    CudaRepackTest.quantized(arena, other, 48, cols, r, new float[48 * cols]));
            CudaRepackTest.check(b, new Weight[] {ws[2], odd}, x, n, type + " with " + other);
            CudaRepackTest.check(b, new Weight[] {odd, ws[1], ws[0]}, x, n, "Q6_K first");
            Weight plainQ4 = b.weight("q4_0", GgmlType.Q4_0, new long[] {cols, 40},
                    CudaRepackTest.quantized(arena, GgmlType.Q4_0, 40, cols, r, new float[40 * cols]));
            CudaRepackTest.check(b, new Weight[] {ws[0], plainQ4}, x, n, "with a repacked Q4_0 (falls back)");
        }
    }
}
