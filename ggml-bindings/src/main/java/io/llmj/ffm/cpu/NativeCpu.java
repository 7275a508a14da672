package io.llmj.ffm.cpu;

import io.llmj.ffm.NativeLibraries;
import io.llmj.ffm.NativeStatus;
import io.llmj.ffm.generated.llmj.Llmj;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * CPU features and the ISA level of the native kernels. The level can be forced with the system
 * property {@code llmj.cpu.isa} or the environment variable {@code LLMJ_CPU_ISA}
 * ({@code auto}, {@code scalar}, {@code avx2}, {@code avx512}), read when the library loads.
 */
public final class NativeCpu {
    public static final String ISA_PROPERTY = "llmj.cpu.isa";
    public static final String ISA_ENV = "LLMJ_CPU_ISA";

    /** Kernel instruction-set levels, in llmj.h order. */
    public enum Isa {
        AUTO, SCALAR, AVX2, AVX512;

        int code() {
            return ordinal();
        }

        static Isa of(int code) {
            return values()[code];
        }

        /** Parses "auto", "scalar", "avx2", "avx512" (case-insensitive). */
        public static Isa parse(String s) {
            try {
                return valueOf(s.strip().toUpperCase(Locale.ROOT).replace("-", ""));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown ISA level '" + s + "'; use auto, scalar, avx2 or avx512");
            }
        }
    }

    private static volatile boolean initialised;

    private NativeCpu() {}

    /** Loads libllmj.so (once) and applies a forced ISA level from the property or environment. */
    public static void init() {
        if (initialised) {
            return;
        }
        synchronized (NativeCpu.class) {
            if (initialised) {
                return;
            }
            NativeLibraries.loadCpu();
            String forced = System.getProperty(ISA_PROPERTY, System.getenv(ISA_ENV));
            if (forced != null && !forced.isBlank()) {
                setIsa(Isa.parse(forced));
            }
            initialised = true;
        }
    }

    /** Names of the CPU features the CPU and OS support ("avx2", "avx512f", ...). */
    public static List<String> features() {
        init();
        int bits = Llmj.llmj_cpu_features();
        String[] names = {"sse4.2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512dq",
                "avx512vnni", "avx512bf16", "avxvnni"};
        List<String> out = new ArrayList<>();
        for (int i = 0; i < names.length; i++) {
            if ((bits & (1 << i)) != 0) {
                out.add(names[i]);
            }
        }
        return out;
    }

    /** The best level this CPU supports. */
    public static Isa bestIsa() {
        init();
        return Isa.of(Llmj.llmj_cpu_best_isa());
    }

    /** The level kernels run with now. */
    public static Isa isa() {
        init();
        return Isa.of(Llmj.llmj_cpu_isa());
    }

    /** Forces a level process-wide. @throws UnsupportedOperationException if the CPU lacks it */
    public static void setIsa(Isa isa) {
        NativeLibraries.loadCpu();
        NativeStatus.check(Llmj.llmj_cpu_set_isa(isa.code()), "llmj_cpu_set_isa(" + isa + ")");
    }
}
