package io.llmj.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.llmj.quant.Float16;
import io.llmj.quant.GgmlType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

class JavaBackendTest {
    private final JavaBackend backend = new JavaBackend();

    @Test
    void matvecF32HandWorked() {
        try (Arena arena = Arena.ofConfined()) {
            // W = [[1, 2, 3], [-1, 0.5, 4]] stored with a padded stride of 4 floats
            MemorySegment w = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1, 2, 3, 99, -1, 0.5f, 4, 99);
            MemorySegment x = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 2, -1, 0.25f);
            MemorySegment y = arena.allocate(ValueLayout.JAVA_FLOAT, 2);
            backend.matvec(GgmlType.F32, w, 16, x, y, 2, 3);
            assertArrayEquals(new float[] {0.75f, -1.5f}, y.toArray(ValueLayout.JAVA_FLOAT));
        }
    }

    @Test
    void matvecF16HandWorked() {
        try (Arena arena = Arena.ofConfined()) {
            short[] h = {Float16.fromFloat(1.5f), Float16.fromFloat(-2f), Float16.fromFloat(0.125f)};
            MemorySegment w = arena.allocateFrom(ValueLayout.JAVA_SHORT, h);
            MemorySegment x = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 2, 1, 8);
            MemorySegment y = arena.allocate(ValueLayout.JAVA_FLOAT, 1);
            backend.matvec(GgmlType.F16, w, 6, x, y, 1, 3);
            assertArrayEquals(new float[] {2f}, y.toArray(ValueLayout.JAVA_FLOAT));
        }
    }

    @Test
    void rejectsShortSegments() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment w = arena.allocate(8);
            MemorySegment x = arena.allocate(12);
            MemorySegment y = arena.allocate(8);
            assertThrows(IllegalArgumentException.class, () -> backend.matvec(GgmlType.F32, w, 12, x, y, 2, 3));
        }
    }

    @Test
    void float16RoundTripsAndRoundsToNearestEven() {
        // 1 + 2^-11 is halfway between 1 and the next binary16 (1 + 2^-10): ties go to even (1.0)
        assertArrayEquals(new float[] {1f, 1.0009765625f},
                new float[] {Float16.toFloat(Float16.fromFloat(1.00048828125f)),
                        Float16.toFloat(Float16.fromFloat(1.0009765625f))});
        // bf16 rounding: 1 + 2^-8 ties to even (1.0); 1 + 3*2^-8 rounds up to 1 + 2^-6
        assertArrayEquals(new float[] {1f, 1.015625f},
                new float[] {Float16.bf16ToFloat(Float16.floatToBf16(1.00390625f)),
                        Float16.bf16ToFloat(Float16.floatToBf16(1.01171875f))});
    }
}
