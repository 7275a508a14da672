package io.llmj.arch;

import java.util.Locale;

/** The model families llmj runs, by llama.cpp's {@code general.architecture} name. */
public enum Architecture {
    LLAMA, MISTRAL, QWEN2, QWEN3, PHI3, GEMMA2;

    /** The llama.cpp architecture name ("llama", "qwen2", ...). */
    public String ggufName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The architecture for a GGUF {@code general.architecture} value, or null if unsupported. */
    public static Architecture fromGguf(String name) {
        for (Architecture a : values()) {
            if (a.ggufName().equals(name)) {
                return a;
            }
        }
        return null;
    }
}
