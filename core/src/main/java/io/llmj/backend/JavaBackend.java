package io.llmj.backend;

import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
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
        return type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.BF16;
    }

    @Override
    public void matvec(GgmlType type, MemorySegment w, long rowBytes, MemorySegment x, MemorySegment y, int rows, int cols) {
        if (!supports(Op.MATVEC, type)) {
            throw new UnsupportedOperationException("java backend: matvec for " + type + " is not implemented");
        }
        Backend.checkMatvec(type, w, rowBytes, x, y, rows, cols);
        for (int r = 0; r < rows; r++) {
            long base = r * rowBytes;
            double sum = 0;
            for (int c = 0; c < cols; c++) {
                sum += (double) weight(type, w, base, c) * x.getAtIndex(F32, c);
            }
            y.setAtIndex(F32, r, (float) sum);
        }
    }

    /** Element {@code c} of the row starting at byte {@code base}, widened to float. */
    static float weight(GgmlType type, MemorySegment w, long base, int c) {
        return switch (type) {
            case F32 -> w.get(F32, base + 4L * c);
            case F16 -> Float16.toFloat(w.get(I16, base + 2L * c));
            case BF16 -> Float16.bf16ToFloat(w.get(I16, base + 2L * c));
            default -> throw new UnsupportedOperationException(type.toString());
        };
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
