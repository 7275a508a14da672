package io.llmj;

import java.util.function.Consumer;

/**
 * How to load a model.
 *
 * @param backend   "auto" (the best available: cuda, cpu, then the java reference), or a backend name,
 *                  optionally with a device: "cuda:1"
 * @param threads   CPU threads for the native kernels; 0 for the number of available processors
 * @param gpuLayers how many layers, counted from the first, go on the GPU when a GPU backend runs the
 *                  model; the others, the token embedding and the output projection run on the CPU.
 *                  -1 (the default): all of them, and the embedding and output too; 0: none (the model
 *                  runs on the CPU). Ignored by CPU backends.
 * @param device    index of the GPU to use ({@code "cuda:N"} sets it too); -1 (the default): the first
 * @param progress  told how far the load has come as weights are prepared (null: nobody)
 */
public record ModelOptions(String backend, int threads, int gpuLayers, int device, Consumer<LoadProgress> progress) {
    public ModelOptions {
        if (backend == null || backend.isBlank()) {
            throw new IllegalArgumentException("backend must be named (\"auto\", \"cpu\", \"cuda\", \"java\")");
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0: " + threads);
        }
        if (gpuLayers < -1) {
            throw new IllegalArgumentException("gpuLayers must be >= 0, or -1 for all: " + gpuLayers);
        }
        if (device < -1) {
            throw new IllegalArgumentException("device must be >= 0, or -1 for the first: " + device);
        }
        int colon = backend.indexOf(':');
        if (colon >= 0) {
            int d;
            try {
                d = Integer.parseInt(backend.substring(colon + 1).strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad device in backend '" + backend + "' (e.g. \"cuda:1\")");
            }
            if (d < 0 || (device >= 0 && device != d)) {
                throw new IllegalArgumentException("backend '" + backend + "' and device " + device + " disagree");
            }
            backend = backend.substring(0, colon).strip();
            device = d;
        }
    }

    /** The given backend and threads, all layers on the GPU, the first device, no progress listener. */
    public ModelOptions(String backend, int threads) {
        this(backend, threads, -1, -1, null);
    }

    /** Automatic backend, all available processors, every layer on the GPU if one is used. */
    public static ModelOptions defaults() {
        return new ModelOptions("auto", 0);
    }

    public ModelOptions withBackend(String name) {
        return new ModelOptions(name, threads, gpuLayers, name.indexOf(':') >= 0 ? -1 : device, progress);
    }

    public ModelOptions withThreads(int n) {
        return new ModelOptions(backend, n, gpuLayers, device, progress);
    }

    /** The first {@code n} layers on the GPU, the rest on the CPU (-1: all, 0: none); like llama.cpp's -ngl. */
    public ModelOptions withGpuLayers(int n) {
        return new ModelOptions(backend, threads, n, device, progress);
    }

    /** GPU number {@code index} (-1: the first). */
    public ModelOptions withDevice(int index) {
        return new ModelOptions(backend, threads, gpuLayers, index, progress);
    }

    /** Tells {@code listener} how far the load has come (bytes of weights prepared), and once more when done. */
    public ModelOptions withProgress(Consumer<LoadProgress> listener) {
        return new ModelOptions(backend, threads, gpuLayers, device, listener);
    }
}
