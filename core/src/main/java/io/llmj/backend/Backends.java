package io.llmj.backend;

import io.llmj.BackendUnavailableException;
import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SegmentAllocator;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;

/**
 * Finds backends through {@link ServiceLoader} and chooses one: the one named by the system property
 * {@code llmj.backend} if set, else the available backend of highest priority. The choice, and why
 * each better backend was passed over, is logged once per selection.
 */
public final class Backends {
    /** System property that forces a backend by name ("java", "cpu", "cuda"). */
    public static final String PROPERTY = "llmj.backend";

    private static final System.Logger LOG = System.getLogger("io.llmj.backend");

    private Backends() {}

    /** Every registered provider, highest priority first. */
    public static List<BackendProvider> providers() {
        List<BackendProvider> list = new ArrayList<>();
        ServiceLoader.load(BackendProvider.class, Backends.class.getClassLoader()).forEach(list::add);
        list.sort(Comparator.comparingInt(BackendProvider::priority).reversed());
        return list;
    }

    /** Creates the backend called {@code name}. @throws BackendUnavailableException if unknown or unavailable */
    public static Backend create(String name) {
        return create(name, 0);
    }

    /**
     * As {@link #create(String)}, with {@code threads} CPU threads where that applies (0: the backend's
     * default). A name may pick a device: "cuda:1".
     */
    public static Backend create(String name, int threads) {
        int colon = name.indexOf(':');
        if (colon < 0) {
            return create(name, threads, 0);
        }
        int device;
        try {
            device = Integer.parseInt(name.substring(colon + 1).strip());
        } catch (NumberFormatException e) {
            throw new BackendUnavailableException("bad device in backend name '" + name + "' (e.g. \"cuda:1\")");
        }
        return create(name.substring(0, colon), threads, device);
    }

    /** Allocations of at least this many bytes go to {@link BackendProvider#allocateHost} (smaller ones: the arena). */
    public static final long HOST_PAGES_MIN_BYTES = 1L << 20;

    /**
     * An allocator for large data prepared at load and freed with {@code owner}: requests of
     * {@link #HOST_PAGES_MIN_BYTES} or more with an alignment up to 4096 take the first page memory a
     * provider offers ({@link BackendProvider#allocateHost}: the native CPU provider's is mapped with
     * transparent huge pages, so filling it faults once per 2 MiB instead of once per 4 KiB), everything
     * else comes from {@code owner}. Either way the bytes start zeroed.
     */
    public static SegmentAllocator hostAllocator(Arena owner) {
        return hostAllocator(owner, providers());
    }

    /** {@link #hostAllocator(Arena)} over {@code list} (from {@link #providers()}, which loads them anew each call). */
    public static SegmentAllocator hostAllocator(Arena owner, List<BackendProvider> list) {
        return (bytes, alignment) -> {
            if (bytes >= HOST_PAGES_MIN_BYTES && alignment <= 4096) {
                for (BackendProvider p : list) {
                    MemorySegment s = p.allocateHost(bytes, owner);
                    if (s != null) {
                        return s;
                    }
                }
            }
            return owner.allocate(bytes, alignment);
        };
    }

    /** The provider called {@code name} (no device suffix), or null. */
    public static BackendProvider provider(String name) {
        for (BackendProvider p : providers()) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        return null;
    }

    /** Creates backend {@code name} on device {@code device} with {@code threads} CPU threads where that applies. */
    public static Backend create(String name, int threads, int device) {
        for (BackendProvider p : providers()) {
            if (p.name().equals(name)) {
                String why = p.unavailableReason();
                if (why != null) {
                    throw new BackendUnavailableException("backend '" + name + "' is unavailable: " + why);
                }
                return p.create(threads, device);
            }
        }
        throw new BackendUnavailableException("no backend named '" + name + "'; known: "
                + providers().stream().map(BackendProvider::name).toList());
    }

    /** The backend forced by {@value #PROPERTY}, or else the best available one. */
    public static Backend best() {
        String forced = System.getProperty(PROPERTY);
        if (forced != null && !forced.isBlank()) {
            Backend b = create(forced.strip());
            LOG.log(Level.INFO, "llmj: using backend ''{0}'' (forced by -D{1})", b.name(), PROPERTY);
            return b;
        }
        StringBuilder skipped = new StringBuilder();
        for (BackendProvider p : providers()) {
            String why = p.unavailableReason();
            if (why == null) {
                try {
                    Backend b = p.create();
                    LOG.log(Level.INFO, "llmj: using backend ''{0}''{1}", b.name(), skipped);
                    return b;
                } catch (BackendUnavailableException e) {
                    why = e.getMessage();
                }
            }
            skipped.append("; '").append(p.name()).append("' unavailable: ").append(why);
        }
        throw new BackendUnavailableException("no backend is available" + skipped);
    }
}
