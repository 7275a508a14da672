package io.llmj.ffm.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** The staging copy (split among threads when large) moves exactly the bytes asked for; runs without a GPU. */
class PinnedUploaderCopyTest {
    @Test
    void copiesExactlyTheRangeAskedFor() {
        long n = (21L << 20) + 7;               // above the parallel threshold, not a multiple of anything
        try (Arena a = Arena.ofConfined()) {
            MemorySegment src = a.allocate(n + 100);
            for (long i = 0; i < src.byteSize(); i++) {
                src.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 31 + (i >> 13)));
            }
            for (long len : new long[] {0, 1, 4095, 4L << 20, n}) {
                MemorySegment dst = a.allocate(len + 64);
                dst.fill((byte) 0x5A);
                PinnedUploader.copy(src, 13, dst, 32, Math.min(len, n - 13));
                long copied = Math.min(len, n - 13);
                for (long i = 0; i < dst.byteSize(); i++) {
                    byte want = i >= 32 && i < 32 + copied ? src.get(ValueLayout.JAVA_BYTE, 13 + i - 32) : 0x5A;
                    if (dst.get(ValueLayout.JAVA_BYTE, i) != want) {
                        assertEquals(want, dst.get(ValueLayout.JAVA_BYTE, i), "length " + len + ", byte " + i);
                    }
                }
            }
        }
    }
}
