package io.llmj.ffm;

import io.llmj.backend.JavaBackend;
import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Shared matvec test cases: awkward shapes, random data, the Java reference, and the tolerance.
 * Tolerance (float32 accumulation of {@code cols} products, compared with a double-accumulating
 * reference): {@code |y - ref| <= 1e-6 + 1e-5 * sum_c |W[r,c] * x[c]|}.
 */
public final class MatvecCases {
    public static final int[] COLS = {1, 3, 17, 31, 32, 33, 1000, 4097};
    public static final int[] ROWS = {1, 5, 64};
    public static final double ATOL = 1e-6;
    public static final double RTOL = 1e-5;
    /** Floats of sentinel before and after each output. */
    public static final int GUARD = 16;
    public static final float SENTINEL = Float.intBitsToFloat(0x7fc0beef);

    private MatvecCases() {}

    /** One case, printable so a failure can be rerun by name. */
    public record Case(GgmlType type, int rows, int cols) {
        @Override
        public String toString() {
            return "type=" + type + " rows=" + rows + " cols=" + cols;
        }

        /** Padded row stride, so kernels must honour rowBytes rather than assume rows are packed. */
        public long rowBytes() {
            return type.byteSize(cols) + 64;
        }
    }

    public static List<Case> all() {
        List<Case> list = new ArrayList<>();
        for (GgmlType t : new GgmlType[] {GgmlType.F32, GgmlType.F16, GgmlType.BF16}) {
            for (int c : COLS) {
                for (int r : ROWS) {
                    list.add(new Case(t, r, c));
                }
            }
        }
        return list;
    }

    /** Inputs of one case, off-heap, plus the reference output and per-row tolerances. */
    public static final class Data {
        public final MemorySegment w;
        public final MemorySegment x;
        public final float[] ref;
        public final double[] tol;

        public Data(Arena arena, Case c, long seed) {
            SplittableRandom rnd = new SplittableRandom(seed ^ (31L * c.rows() + c.cols()) ^ c.type().id());
            w = arena.allocate(c.rowBytes() * c.rows(), 64);
            x = arena.allocate(4L * c.cols(), 64);
            for (int i = 0; i < c.cols(); i++) {
                x.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble(-1, 1));
            }
            for (int r = 0; r < c.rows(); r++) {
                for (int i = 0; i < c.cols(); i++) {
                    float v = (float) rnd.nextDouble(-1, 1);
                    long off = r * c.rowBytes();
                    switch (c.type()) {
                        case F32 -> w.set(ValueLayout.JAVA_FLOAT, off + 4L * i, v);
                        case F16 -> w.set(ValueLayout.JAVA_SHORT, off + 2L * i, Float16.fromFloat(v));
                        default -> w.set(ValueLayout.JAVA_SHORT, off + 2L * i, Float16.floatToBf16(v));
                    }
                }
            }
            MemorySegment y = arena.allocate(4L * c.rows());
            new JavaBackend().matvec(c.type(), w, c.rowBytes(), x, y, c.rows(), c.cols());
            ref = y.toArray(ValueLayout.JAVA_FLOAT);
            tol = new double[c.rows()];
            for (int r = 0; r < c.rows(); r++) {
                double mag = 0;
                for (int i = 0; i < c.cols(); i++) {
                    long off = r * c.rowBytes();
                    float wv = switch (c.type()) {
                        case F32 -> w.get(ValueLayout.JAVA_FLOAT, off + 4L * i);
                        case F16 -> Float16.toFloat(w.get(ValueLayout.JAVA_SHORT, off + 2L * i));
                        default -> Float16.bf16ToFloat(w.get(ValueLayout.JAVA_SHORT, off + 2L * i));
                    };
                    mag += Math.abs((double) wv * x.getAtIndex(ValueLayout.JAVA_FLOAT, i));
                }
                tol[r] = ATOL + RTOL * mag;
            }
        }

        /** An output buffer with {@link #GUARD} sentinels on each side; the result goes at index GUARD. */
        public static MemorySegment guarded(Arena arena, int rows) {
            MemorySegment y = arena.allocate(4L * (rows + 2 * GUARD), 64);
            for (int i = 0; i < rows + 2 * GUARD; i++) {
                y.setAtIndex(ValueLayout.JAVA_FLOAT, i, SENTINEL);
            }
            return y;
        }

        /** Null if {@code guardedY} matches the reference and its guard bands are untouched, else what is wrong. */
        public String compare(MemorySegment guardedY, int rows) {
            for (int i = 0; i < GUARD; i++) {
                int before = Float.floatToRawIntBits(guardedY.getAtIndex(ValueLayout.JAVA_FLOAT, i));
                int after = Float.floatToRawIntBits(guardedY.getAtIndex(ValueLayout.JAVA_FLOAT, GUARD + rows + i));
                if (before != Float.floatToRawIntBits(SENTINEL) || after != Float.floatToRawIntBits(SENTINEL)) {
                    return "guard band overwritten near index " + i;
                }
            }
            for (int r = 0; r < rows; r++) {
                float got = guardedY.getAtIndex(ValueLayout.JAVA_FLOAT, GUARD + r);
                if (!(Math.abs(got - ref[r]) <= tol[r])) {
                    return "row " + r + ": got " + got + ", reference " + ref[r] + ", tolerance " + tol[r];
                }
            }
            return null;
        }
    }
}
