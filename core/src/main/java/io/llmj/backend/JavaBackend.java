package io.llmj.backend;

import io.llmj.quant.GgmlType;
import io.llmj.quant.QuantFormat;
import io.llmj.quant.QuantFormats;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The scalar Java reference backend: straightforward loops that accumulate in double. Slow and
 * obviously right; every native kernel is tested against it.
 */
public final class JavaBackend extends HostBackend {

    @Override
    public String name() {
        return "java";
    }

    @Override
    public boolean supports(Op op, GgmlType type) {
        if (type.isGptq()) {
            return op == Op.MATMUL;     // GPTQ layers multiply whole weights (HostBackend.gptqMatmul), no row-level matvec
        }
        QuantFormat f = QuantFormats.of(type);
        return f != null && (!type.isQuantized() || f.vecDotType() != null);
    }

    /**
     * Plain types: the weight widened to float times x, summed in double. Quantized types: x converted to
     * the type's vec_dot activation format as llama.cpp's x86 CPU backend does, then ggml's block dot
     * product summed in double, so the result is what ggml computes up to float rounding.
     */
    @Override
    public void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y, int rows, int cols) {
        if (!supports(Op.MATVEC, type)) {
            throw new UnsupportedOperationException("java backend: matvec for " + type + " is not implemented");
        }
        Backend.checkMatvec(type, w, rowBytes, x, y, rows, cols);
        QuantFormat f = QuantFormats.require(type);
        float[] xf = x.asSlice(0, 4L * cols).toArray(F32);
        if (type.isQuantized()) {
            GgmlType act = f.vecDotType();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment xq = arena.allocate(act.byteSize(cols), 16);
                QuantFormats.convertActivation(act, QuantFormats.ActivationConversion.CPU_X86, xf, 0, cols, xq, 0);
                for (int r = 0; r < rows; r++) {
                    y.setAtIndex(F32, r, (float) f.dot(w, r * rowBytes, xq, 0, cols));
                }
            }
            return;
        }
        float[] wr = new float[cols];
        for (int r = 0; r < rows; r++) {
            f.dequantize(w, r * rowBytes, wr, 0, cols);
            double sum = 0;
            for (int c = 0; c < cols; c++) {
                sum += (double) wr[c] * xf[c];
            }
            y.setAtIndex(F32, r, (float) sum);
        }
    }

    /** Registers the reference backend with {@link java.util.ServiceLoader}. */
    public static final class Provider implements BackendProvider {
        @Override
        public String name() {
            return "java";
        }

        @Override
        public int priority() {
            return 0;
        }

        @Override
        public String unavailableReason() {
            return null;
        }

        @Override
        public Backend create() {
            return new JavaBackend();
        }
    }
}
