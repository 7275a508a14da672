package io.llmj.ffm.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.backend.Backends;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** The native CPU provider's page memory for data prepared at load (repacked GPTQ layers). */
class HostPagesTest {
    @Test
    void providerGivesZeroedPageAlignedMemoryFreedWithItsArena() {
        long bytes = 3L * (1 << 20) + 12345;                  // not a whole number of pages
        MemorySegment s;
        try (Arena arena = Arena.ofConfined()) {
            s = new NativeCpuBackend.Provider().allocateHost(bytes, arena);
            assertNotNull(s);
            assertEquals(bytes, s.byteSize());
            assertEquals(0, s.address() % 4096, "page aligned");
            assertEquals(-1L, s.mismatch(MemorySegment.ofArray(new byte[(int) bytes])), "zero-filled");
            s.set(ValueLayout.JAVA_BYTE, bytes - 1, (byte) 7);   // writable to the last byte
            assertEquals(7, s.get(ValueLayout.JAVA_BYTE, bytes - 1));
            assertTrue(s.scope().isAlive());
        }
        assertFalse(s.scope().isAlive(), "freed with the arena");
        MemorySegment dead = s;
        assertThrows(IllegalStateException.class, () -> dead.get(ValueLayout.JAVA_BYTE, 0));
    }

    @Test
    void hostAllocatorTakesPagesForLargeRequestsOnly() {
        try (Arena arena = Arena.ofConfined()) {
            SegmentAllocator a = Backends.hostAllocator(arena);
            MemorySegment big = a.allocate(Backends.HOST_PAGES_MIN_BYTES, 64);
            assertEquals(Backends.HOST_PAGES_MIN_BYTES, big.byteSize());
            assertEquals(0, big.address() % 4096, "page memory");
            assertEquals(arena.scope(), big.scope());
            MemorySegment small = a.allocate(100, 64);
            assertEquals(100, small.byteSize());
            assertEquals(0, small.address() % 64);
            assertNotEquals(big.address(), small.address());
        }
    }
}
