package io.llmj;

/**
 * How to load a model.
 *
 * @param backend "auto" (the best available: cuda, cpu, then the java reference), or a backend name
 * @param threads CPU threads for the native kernels; 0 for the number of available processors
 */
public record ModelOptions(String backend, int threads) {
    public ModelOptions {
        if (backend == null || backend.isBlank()) {
            throw new IllegalArgumentException("backend must be named (\"auto\", \"cpu\", \"cuda\", \"java\")");
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0: " + threads);
        }
    }

    /** Automatic backend, all available processors. */
    public static ModelOptions defaults() {
        return new ModelOptions("auto", 0);
    }

    public ModelOptions withBackend(String name) {
        return new ModelOptions(name, threads);
    }

    public ModelOptions withThreads(int n) {
        return new ModelOptions(backend, n);
    }
}
