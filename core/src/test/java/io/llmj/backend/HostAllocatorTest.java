package io.llmj.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@link Backends#hostAllocator}: which requests go to a provider's page memory, and the fallbacks. */
class HostAllocatorTest {
    /** A provider that hands out its own segments (or none) and records what it was asked for. */
    private static final class Pages implements BackendProvider {
        final boolean gives;
        final List<Long> asked = new ArrayList<>();
        final List<MemorySegment> given = new ArrayList<>();

        Pages(boolean gives) {
            this.gives = gives;
        }

        @Override public String name() { return "pages"; }
        @Override public int priority() { return 1; }
        @Override public String unavailableReason() { return null; }
        @Override public Backend create() { throw new UnsupportedOperationException(); }

        @Override
        public MemorySegment allocateHost(long bytes, Arena owner) {
            asked.add(bytes);
            if (!gives) {
                return null;
            }
            MemorySegment s = owner.allocate(bytes, 4096);
            given.add(s);
            return s;
        }
    }

    @Test
    void largeRequestsGoToTheFirstProviderThatGives() {
        Pages none = new Pages(false), some = new Pages(true), later = new Pages(true);
        try (Arena arena = Arena.ofConfined()) {
            SegmentAllocator a = Backends.hostAllocator(arena, List.of(none, some, later));
            long big = Backends.HOST_PAGES_MIN_BYTES + 1;
            MemorySegment s = a.allocate(big, 64);
            assertEquals(List.of(big), none.asked);
            assertEquals(List.of(big), some.asked);
            assertSame(some.given.get(0), s);
            assertEquals(List.of(), later.asked);
        }
    }

    @Test
    void smallOrStrictlyAlignedRequestsAndNoPagesFallBackToTheArena() {
        Pages some = new Pages(true), none = new Pages(false);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment small = Backends.hostAllocator(arena, List.of(some)).allocate(Backends.HOST_PAGES_MIN_BYTES - 1, 64);
            MemorySegment aligned = Backends.hostAllocator(arena, List.of(some)).allocate(Backends.HOST_PAGES_MIN_BYTES, 8192);
            assertEquals(List.of(), some.asked);
            assertEquals(0, aligned.address() % 8192);
            MemorySegment fallback = Backends.hostAllocator(arena, List.of(none)).allocate(Backends.HOST_PAGES_MIN_BYTES, 64);
            assertEquals(List.of(Backends.HOST_PAGES_MIN_BYTES), none.asked);
            assertEquals(Backends.HOST_PAGES_MIN_BYTES, fallback.byteSize());
            assertEquals(arena.scope(), fallback.scope());
            assertEquals(Backends.HOST_PAGES_MIN_BYTES - 1, small.byteSize());
            assertEquals(-1L, fallback.mismatch(MemorySegment.ofArray(new byte[(int) fallback.byteSize()])), "zero-filled");
        }
    }
}
