package io.llmj.ffm;

import io.llmj.BackendUnavailableException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Finds and loads llmj's native libraries and the CUDA libraries they need, once per JVM.
 *
 * <p>llmj's own libraries come from {@code -Dllmj.library.path=DIR} when set, else from the
 * {@code llmj-native} jar ({@code io/llmj/native/OS-ARCH/}), extracted once into a folder named by
 * their content hash under {@code java.io.tmpdir}. The CUDA libraries are bound by their versioned
 * sonames ({@code libcudart.so.13}, {@code libcublas.so.13}) and searched in
 * {@code -Dllmj.cuda.path}, {@code CUDA_HOME}/{@code CUDA_PATH}, {@code LD_LIBRARY_PATH}, the usual
 * CUDA install folders and finally the dynamic linker's own search.
 *
 * <p>Every failure is remembered and reported as a {@link BackendUnavailableException} saying which
 * file, for which OS/arch, and what went wrong. Generated binding classes for a library are touched
 * only after that library loaded.
 */
public final class NativeLibraries {
    /** Folder holding libllmj.so (and libllmj_cuda.so), overriding the copies in the jar. */
    public static final String LIBRARY_PATH_PROPERTY = "llmj.library.path";
    /** Folder holding libcudart.so.13 and libcublas.so.13, searched first. */
    public static final String CUDA_PATH_PROPERTY = "llmj.cuda.path";

    public static final String CPU_LIBRARY = "libllmj.so";
    public static final String CUDA_LIBRARY = "libllmj_cuda.so";
    public static final String CUDART = "libcudart.so.13";
    public static final String CUBLAS = "libcublas.so.13";

    private static final Object LOCK = new Object();
    private static Result cpu;
    private static Result cudart;
    private static Result cublas;
    private static Result cudaKernels;

    /** Outcome of one load: the file loaded, or why nothing was. */
    public record Result(Path file, String failure) {
        public boolean ok() {
            return failure == null;
        }
    }

    private NativeLibraries() {}

    /** Loads libllmj.so. @throws BackendUnavailableException saying why it cannot be loaded */
    public static Path loadCpu() {
        synchronized (LOCK) {
            if (cpu == null) {
                cpu = loadOwn(CPU_LIBRARY);
            }
            return require(cpu);
        }
    }

    /** The CPU library's load result without throwing. */
    public static Result cpuStatus() {
        synchronized (LOCK) {
            if (cpu == null) {
                cpu = loadOwn(CPU_LIBRARY);
            }
            return cpu;
        }
    }

    /**
     * Loads libcudart.so.13 and then libllmj_cuda.so (which needs it and libllmj.so).
     *
     * @throws BackendUnavailableException saying which library is missing and where it was looked for
     */
    public static void loadCuda() {
        synchronized (LOCK) {
            loadCpu();
            if (cudart == null) {
                cudart = loadSystem(CUDART);
            }
            require(cudart);
            if (cudaKernels == null) {
                cudaKernels = loadOwn(CUDA_LIBRARY);
            }
            require(cudaKernels);
        }
    }

    /** The CUDA runtime's load result (loading it if not tried yet), without throwing. */
    public static Result cudartStatus() {
        synchronized (LOCK) {
            if (cudart == null) {
                cudart = loadSystem(CUDART);
            }
            return cudart;
        }
    }

    /** Loads libcublas.so.13. @throws BackendUnavailableException saying where it was looked for */
    public static Path loadCublas() {
        synchronized (LOCK) {
            loadCuda();
            if (cublas == null) {
                cublas = loadSystem(CUBLAS);
            }
            return require(cublas);
        }
    }

    /** cuBLAS's load result (loading it if not tried yet), without throwing. */
    public static Result cublasStatus() {
        synchronized (LOCK) {
            if (cublas == null) {
                cublas = loadSystem(CUBLAS);
            }
            return cublas;
        }
    }

    private static Path require(Result r) {
        if (!r.ok()) {
            throw new BackendUnavailableException(r.failure());
        }
        return r.file();
    }

    // ---- llmj's own libraries -------------------------------------------------------------

    private static Result loadOwn(String name) {
        return loadOwn(name, System.getProperty(LIBRARY_PATH_PROPERTY));
    }

    /** Loads llmj's library {@code name} from {@code dir}, or from the jar when {@code dir} is null. */
    static Result loadOwn(String name, String dir) {
        String platform = Platform.folder();
        Path file;
        if (dir != null && !dir.isBlank()) {
            file = Path.of(dir).resolve(name).toAbsolutePath();
            if (!Files.isRegularFile(file)) {
                return new Result(null, name + " not found at " + file + " (set by -D" + LIBRARY_PATH_PROPERTY + ")");
            }
        } else {
            if (platform == null) {
                return new Result(null, "llmj ships no native libraries for " + Platform.describe()
                        + " (supported: linux-x86_64); build them with CMake and point -D"
                        + LIBRARY_PATH_PROPERTY + " at them");
            }
            try {
                file = extract(platform, name);
            } catch (IOException | UncheckedIOException e) {
                return new Result(null, "cannot extract " + name + " for " + platform + ": " + e.getMessage());
            }
            if (file == null) {
                return new Result(null, name + " for " + platform + " is not in the llmj-native jar (resource /io/llmj/native/"
                        + platform + "/" + name + "); is llmj-native on the class path?"
                        + (name.equals(CUDA_LIBRARY) ? " It is built only where nvcc was found." : ""));
            }
        }
        return systemLoad(file);
    }

    private static Path extract(String platform, String name) throws IOException {
        String resource = "/io/llmj/native/" + platform + "/" + name;
        byte[] bytes;
        try (InputStream in = NativeLibraries.class.getResourceAsStream(resource)) {
            if (in == null) {
                return null;
            }
            bytes = in.readAllBytes();
        }
        String hash = sha256(bytes).substring(0, 16);
        String user = System.getProperty("user.name", "user").replaceAll("[^A-Za-z0-9._-]", "_");
        Path dir = Path.of(System.getProperty("java.io.tmpdir"), "llmj-" + user, hash);
        Path target = dir.resolve(name);
        if (Files.isRegularFile(target) && Files.size(target) == bytes.length) {
            return target;    // extracted by an earlier run: the folder name is the content hash
        }
        Files.createDirectories(dir);
        Path tmp = Files.createTempFile(dir, name, ".tmp");
        try {
            Files.write(tmp, bytes);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        return target;
    }

    private static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    // ---- system libraries (CUDA) ----------------------------------------------------------

    static Result loadSystem(String soname) {
        String platform = Platform.folder();
        if (platform == null || !platform.startsWith("linux-")) {
            return new Result(null, soname + " is a Linux library; this is " + Platform.describe());
        }
        List<Path> searched = new ArrayList<>();
        for (Path dir : cudaSearchPath()) {
            Path f = dir.resolve(soname);
            searched.add(dir);
            if (Files.isRegularFile(f)) {
                return systemLoad(f.toAbsolutePath());
            }
        }
        // Last resort: the dynamic linker's own search (ld.so.cache), then read back where it found it.
        Path viaLinker = locateWithDynamicLinker(soname);
        if (viaLinker != null) {
            return systemLoad(viaLinker);
        }
        return new Result(null, soname + " not found (searched " + searched + " and the dynamic linker's path);"
                + " install the CUDA 13 runtime or set -D" + CUDA_PATH_PROPERTY + "=DIR");
    }

    private static Set<Path> cudaSearchPath() {
        Set<Path> dirs = new LinkedHashSet<>();
        String prop = System.getProperty(CUDA_PATH_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            dirs.add(Path.of(prop));
        }
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String v = System.getenv(env);
            if (v != null && !v.isBlank()) {
                dirs.add(Path.of(v, "lib64"));
                dirs.add(Path.of(v, "targets", "x86_64-linux", "lib"));
            }
        }
        String ld = System.getenv("LD_LIBRARY_PATH");
        if (ld != null) {
            for (String d : ld.split(":")) {
                if (!d.isBlank()) {
                    dirs.add(Path.of(d));
                }
            }
        }
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        dirs.add(Path.of("/usr/local/cuda-13/lib64"));
        dirs.add(Path.of("/usr/local/cuda/targets/x86_64-linux/lib"));
        dirs.add(Path.of("/usr/lib/x86_64-linux-gnu"));
        dirs.add(Path.of("/usr/lib64"));
        return dirs;
    }

    private static Path locateWithDynamicLinker(String soname) {
        try {
            SymbolLookup.libraryLookup(soname, Arena.global());
        } catch (IllegalArgumentException e) {
            return null;
        }
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                int i = line.indexOf('/');
                if (i >= 0 && line.endsWith("/" + soname)) {
                    return Path.of(line.substring(i));
                }
            }
        } catch (IOException e) {
            return null;
        }
        return null;
    }

    private static Result systemLoad(Path file) {
        try {
            System.load(file.toString());
            return new Result(file, null);
        } catch (UnsatisfiedLinkError e) {
            return new Result(null, "cannot load " + file + " on " + Platform.describe() + ": " + e.getMessage());
        }
    }
}
