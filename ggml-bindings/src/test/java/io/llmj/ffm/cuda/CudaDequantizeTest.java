package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.llmj.backend.Buffer;
import io.llmj.backend.JavaBackend;
import io.llmj.backend.Weight;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.cuda.CudaRuntime;
import io.llmj.ffm.generated.llmj.LlmjCuda;
import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormat;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * llmj_cuda_dequantize_f16 and the embedding lookup (llmj_cuda_get_rows through {@link CudaBackend#embed})
 * for every weight type of the CUDA backend against the Java reference ({@link QuantFormats} dequantization,
 * rounded to F16 with {@link Float16#fromFloat}; {@link JavaBackend#embed}). Tolerance: none, bit-exact
 * (the decoded values are exact products, rounded once). Skipped, with the reason, where CUDA is unusable.
 */
class CudaDequantizeTest {
    private static final GgmlType[] TYPES = {GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q4_0, GgmlType.Q4_1,
            GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.IQ4_NL};

    @BeforeAll
    static void requireGpu() {
        String why = Cuda.unavailableReason();
        Assumptions.assumeTrue(why == null, () -> "CUDA unavailable: " + why);
    }

    record Case(GgmlType type, int rows, int cols) {
        @Override
        public String toString() {
            return type + " rows=" + rows + " cols=" + cols;
        }

        long rowBytes() {
            return type.byteSize(cols);
        }
    }

    static List<Case> cases() {
        List<Case> list = new ArrayList<>();
        for (GgmlType t : TYPES) {
            int[] cols = t.blockSize() == 1 ? new int[] {1, 33, 300, 4096} : new int[] {32, 96, 544, 4096};
            for (int c : cols) {
                for (int r : new int[] {1, 7, 33}) {
                    list.add(new Case(t, r, c));
                }
            }
        }
        return list;
    }

    /** Weights as the model loader would hand them over: the reference quantizer, or random block bytes. */
    private static MemorySegment weights(Arena arena, Case c, SplittableRandom r) {
        QuantFormat f = QuantFormats.require(c.type());
        MemorySegment data = arena.allocate(c.rowBytes() * c.rows(), 64);
        if (f.canQuantize()) {
            float[] w = new float[c.cols()];
            for (int row = 0; row < c.rows(); row++) {
                for (int i = 0; i < w.length; i++) {
                    w[i] = (float) (r.nextGaussian() * 0.5);
                }
                f.quantize(w, 0, w.length, data, row * c.rowBytes());
            }
        } else {
            byte[] bytes = new byte[(int) data.byteSize()];
            r.nextBytes(bytes);
            MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
            for (long off = 0; off < data.byteSize(); off += c.type().blockBytes()) {
                data.set(ValueLayout.JAVA_SHORT_UNALIGNED, off, (short) 0x2c00);   // sane fp16 scale
            }
        }
        return data;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void dequantizeF16MatchesJavaReference(Case c) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment data = weights(arena, c, new SplittableRandom(c.toString().hashCode()));
            long outBytes = 2L * c.rows() * c.cols();
            MemorySegment host = arena.allocate(outBytes, 64);
            try (CudaBackend.DeviceBuffer dw = new CudaBackend.DeviceBuffer(data.byteSize());
                 CudaBackend.DeviceBuffer dout = new CudaBackend.DeviceBuffer(outBytes)) {
                dw.upload(data);
                NativeStatus.check(LlmjCuda.llmj_cuda_dequantize_f16(c.type().id(), dw.ptr, c.rowBytes(), c.rows(), c.cols(),
                        dout.ptr, MemorySegment.NULL), "llmj_cuda_dequantize_f16");
                Cuda.check(CudaRuntime.cudaDeviceSynchronize(), "cudaDeviceSynchronize");
                dout.download(host);
            }
            QuantFormat f = QuantFormats.require(c.type());
            float[] ref = new float[c.cols()];
            for (int r = 0; r < c.rows(); r++) {
                f.dequantize(data, r * c.rowBytes(), ref, 0, c.cols());
                for (int i = 0; i < c.cols(); i++) {
                    short want = Float16.fromFloat(ref[i]);
                    short got = host.getAtIndex(ValueLayout.JAVA_SHORT, (long) r * c.cols() + i);
                    if (got != want) {
                        assertEquals(want, got, c + ": element (" + r + ", " + i + ") of " + ref[i]);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void embedMatchesJavaReference(Case c) {
        int[] ids = {c.rows() - 1, 0, c.rows() / 2, 0};
        float scale = c.cols() % 2 == 0 ? 0.37f : 1f;
        try (Arena arena = Arena.ofConfined(); CudaBackend gpu = new CudaBackend(); JavaBackend ref = new JavaBackend()) {
            MemorySegment data = weights(arena, c, new SplittableRandom(31L * c.toString().hashCode()));
            long[] shape = {c.cols(), c.rows()};
            Weight wg = gpu.weight("tok_embd", c.type(), shape, data);
            Weight wr = ref.weight("tok_embd", c.type(), shape, data);
            int n = ids.length * c.cols();
            try (Buffer og = gpu.allocate(n); Buffer or = ref.allocate(n)) {
                gpu.embed(wg, ids, scale, og);
                ref.embed(wr, ids, scale, or);
                float[] got = new float[n];
                float[] want = new float[n];
                gpu.read(og, 0, got, 0, n);
                ref.read(or, 0, want, 0, n);
                String diff = null;
                for (int i = 0; i < n && diff == null; i++) {
                    if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(want[i])) {
                        diff = "element " + i + ": got " + got[i] + ", reference " + want[i];
                    }
                }
                assertNull(diff, c::toString);
            }
        }
    }

    @Test
    void unsupportedTypeIsReported() {
        int status = LlmjCuda.llmj_cuda_dequantize_f16(GgmlType.Q8_1.id(), MemorySegment.NULL, 36, 1, 256,
                MemorySegment.NULL, MemorySegment.NULL);   // Q8_1 is an activation type: no weight kernels
        assertEquals(2, status);   // LLMJ_ERR_UNSUPPORTED
    }
}
