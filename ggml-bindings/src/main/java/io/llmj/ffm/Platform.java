package io.llmj.ffm;

import java.util.Locale;

/** The OS/arch folder name native libraries are packaged under, e.g. {@code linux-x86_64}. */
public final class Platform {
    private Platform() {}

    /** Folder name for this JVM's OS and architecture, or null if llmj ships no native code for it. */
    public static String folder() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.startsWith("linux") ? "linux" : null;
        String a = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> null;
        };
        return o == null || a == null ? null : o + "-" + a;
    }

    /** Human-readable OS and architecture, for messages. */
    public static String describe() {
        return System.getProperty("os.name") + " " + System.getProperty("os.arch");
    }
}
