package io.llmj;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.arch.Forwards;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.HfModelSource;
import io.llmj.arch.ModelConfig;
import io.llmj.arch.Placement;
import io.llmj.arch.TensorSource;
import io.llmj.backend.Backend;
import io.llmj.backend.BackendProvider;
import io.llmj.backend.Backends;
import io.llmj.backend.Op;
import io.llmj.format.gguf.GgufFile;
import io.llmj.format.hf.HfConfig;
import io.llmj.format.safetensors.SafetensorsCheckpoint;
import io.llmj.quant.GgmlType;
import io.llmj.tokenizer.LlamaCppTokenizer;
import io.llmj.tokenizer.Tokenizers;
import io.llmj.tokenizer.Vocabulary;
import java.io.UncheckedIOException;
import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * A loaded language model: weights memory-mapped from a GGUF file or a Hugging Face folder, its
 * tokenizer, and a compute backend. Thread-safe: any number of {@link Generator}s may run on one model
 * at once, each with its own KV cache. Closing the model unmaps the files; close its generators first.
 *
 * <pre>{@code
 * try (Model model = Model.load(Path.of("stories260K.gguf"))) {
 *     Generator g = model.generator(GenerationOptions.builder().maxTokens(64).build());
 *     g.stream("Once upon a time").forEach(t -> System.out.print(t.text()));
 * }
 * }</pre>
 */
public final class Model implements AutoCloseable {
    private static final System.Logger LOG = System.getLogger("io.llmj");

    private final Path path;
    private final Arena arena;
    private final AutoCloseable file;
    private final List<Backend> backends;
    private final Forward forward;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    /** Whether the tokenizer prepends BOS when asked to add special tokens. */
    private final boolean addsBos;

    private Model(Path path, Arena arena, AutoCloseable file, List<Backend> backends, Forward forward, Tokenizer tokenizer,
                  ChatTemplate chatTemplate) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.backends = backends;
        this.forward = forward;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        int[] withBos = tokenizer.encode("", true, false);
        this.addsBos = withBos.length > 0 && withBos[0] == tokenizer.bos();
    }

    /** Loads a GGUF file or a Hugging Face folder with the default options. */
    public static Model load(Path path) {
        return load(path, ModelOptions.defaults());
    }

    /**
     * Loads a GGUF file or a Hugging Face folder (config.json, safetensors, tokenizer.json).
     *
     * @throws ModelFormatException if the files are malformed or the architecture unsupported
     * @throws BackendUnavailableException if the requested backend cannot run here or cannot run this model
     * @throws UncheckedIOException if a file cannot be read
     */
    public static Model load(Path path, ModelOptions options) {
        if (!Files.exists(path)) {
            throw new UncheckedIOException("model not found: " + path, new NoSuchFileException(path.toString()));
        }
        Arena arena = Arena.ofShared();
        AutoCloseable file = null;
        try {
            ModelConfig config;
            TensorSource tensors;
            Tokenizer tokenizer;
            ChatTemplate chat;
            if (Files.isDirectory(path)) {
                SafetensorsCheckpoint ckpt = SafetensorsCheckpoint.open(path, arena);
                file = ckpt;
                HfModelSource src = new HfModelSource(path, HfConfig.read(path.resolve("config.json")), ckpt);
                config = src.config();
                tensors = src;
                tokenizer = Tokenizers.load(path);
                Path tc = path.resolve("tokenizer_config.json");
                chat = Files.isRegularFile(tc) ? ChatTemplate.fromTokenizerConfig(tc) : ChatTemplate.chatml(null, null);
            } else {
                GgufFile g = GgufFile.open(path, arena);
                file = g;
                GgufModelSource src = new GgufModelSource(g);
                config = src.config();
                tensors = src;
                tokenizer = new LlamaCppTokenizer(Vocabulary.fromGguf(g));
                chat = ChatTemplate.fromGguf(g);
            }
            Loaded loaded = build(config, tensors, options);
            return new Model(path, arena, file, loaded.backends(), loaded.forward(), tokenizer, chat);
        } catch (RuntimeException | Error e) {
            try {
                if (file != null) {
                    file.close();
                }
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            arena.close();
            throw e;
        }
    }

    /** The backends a model runs on and its forward pass. */
    private record Loaded(List<Backend> backends, Forward forward) {}

    /**
     * The backend named (with "auto": the best available one that has kernels for every weight type
     * and on which the weights fit), the model's layers placed on it as {@code gpuLayers} asks, and the
     * forward pass with its weights prepared. With "auto", a backend that fails (a GPU out of memory,
     * say) is closed and the next one tried; the choice and every backend passed over are logged.
     */
    private static Loaded build(ModelConfig config, TensorSource tensors, ModelOptions o) {
        Set<GgmlType> types = tensors.matrixTypes();
        if (!o.backend().equals("auto")) {
            Backend b = Backends.create(o.backend(), o.threads(), Math.max(0, o.device()));
            for (GgmlType t : types) {
                if (!b.supports(Op.MATMUL, t) && !b.supports(Op.MATVEC, t)) {
                    b.close();
                    throw new BackendUnavailableException("backend '" + o.backend() + "' cannot multiply " + t + " weights yet");
                }
            }
            Loaded l = place(b, config, tensors, o, types);
            LOG.log(Level.INFO, "llmj: {0}", describe(l.forward().placement()));
            return l;
        }
        StringBuilder passed = new StringBuilder();
        for (BackendProvider p : Backends.providers()) {
            String why = p.unavailableReason();
            if (why == null && p.accelerator() && o.gpuLayers() == 0) {
                why = "gpuLayers is 0";
            }
            if (why == null) {
                try {
                    Backend b = p.create(o.threads(), p.accelerator() ? Math.max(0, o.device()) : 0);
                    GgmlType missing = types.stream().filter(t -> !b.supports(Op.MATMUL, t)).findFirst().orElse(null);
                    if (missing == null) {
                        Loaded l = place(b, config, tensors, o, types);
                        LOG.log(Level.INFO, "llmj: {0}{1}", describe(l.forward().placement()), passed);
                        return l;
                    }
                    b.close();
                    why = "no " + missing + " kernels yet";
                } catch (BackendUnavailableException e) {     // a GPU out of memory among others; all freed again
                    why = e.getMessage();
                    LOG.log(Level.WARNING, "llmj: backend ''{0}'' failed, trying the next one: {1}", p.name(), why);
                }
            }
            passed.append("; '").append(p.name()).append("' passed over: ").append(why);
        }
        throw new BackendUnavailableException("no backend can run this model" + passed);
    }

    private static String describe(Placement p) {
        return "running on " + p.describe();
    }

    /**
     * The model's layers on {@code main}: all of them, or for an accelerator the first
     * {@code gpuLayers} with the rest on the best host backend. Closes every backend it has (main
     * included) if anything fails, and those it does not use.
     */
    private static Loaded place(Backend main, ModelConfig config, TensorSource tensors, ModelOptions o, Set<GgmlType> types) {
        int n = config.nLayers();
        Backend host = null;
        try {
            Placement placement;
            if (!main.accelerator() || o.gpuLayers() < 0 || o.gpuLayers() >= n) {
                placement = Placement.single(main, n);
            } else {
                host = hostBackend(o.threads(), types);
                placement = o.gpuLayers() == 0 ? Placement.single(host, n) : Placement.split(main, o.gpuLayers(), host, n);
            }
            Forward forward = Forwards.create(config, tensors, placement.withProgress(o.progress()));
            List<Backend> used = placement.backends();
            for (Backend b : new Backend[] {main, host}) {
                if (b != null && !used.contains(b)) {
                    b.close();
                }
            }
            return new Loaded(used, forward);
        } catch (RuntimeException | Error e) {
            main.close();
            if (host != null) {
                host.close();
            }
            throw e;
        }
    }

    /** The best available backend in host memory with kernels for every type in {@code types}. */
    private static Backend hostBackend(int threads, Set<GgmlType> types) {
        StringBuilder passed = new StringBuilder();
        for (BackendProvider p : Backends.providers()) {
            if (p.accelerator()) {
                continue;
            }
            String why = p.unavailableReason();
            if (why == null) {
                Backend b = p.create(threads);
                GgmlType missing = types.stream().filter(t -> !b.supports(Op.MATMUL, t)).findFirst().orElse(null);
                if (missing == null) {
                    return b;
                }
                b.close();
                why = "no " + missing + " kernels yet";
            }
            passed.append("; '").append(p.name()).append("': ").append(why);
        }
        throw new BackendUnavailableException("no CPU backend can run the layers not on the GPU" + passed);
    }

    /** The model's tokenizer. */
    public Tokenizer tokenizer() {
        return tokenizer;
    }

    /**
     * The model's chat template (GGUF {@code tokenizer.chat_template} or Hugging Face
     * {@code tokenizer_config.json}); ChatML when the model has none ({@link ChatTemplate#isFallback()}).
     */
    public ChatTemplate chatTemplate() {
        return chatTemplate;
    }

    /**
     * Token ids of a conversation rendered with the chat template and an assistant turn opened:
     * special-token text in the rendering becomes special tokens, and BOS is added when the tokenizer
     * adds one and the template did not.
     */
    public int[] chatPrompt(java.util.List<ChatMessage> messages) {
        int[] ids = tokenizer.encode(chatTemplate.render(messages, true), false, true);
        if (addsBos && (ids.length == 0 || ids[0] != tokenizer.bos())) {
            int[] out = new int[ids.length + 1];
            out[0] = tokenizer.bos();
            System.arraycopy(ids, 0, out, 1, ids.length);
            return out;
        }
        return ids;
    }

    /** A generator with its own KV cache. */
    public Generator generator(GenerationOptions options) {
        return new Generator(this, options);
    }

    /** A generator with {@link GenerationOptions#defaults()}. */
    public Generator generator() {
        return generator(GenerationOptions.defaults());
    }

    /** The file or folder the model was loaded from. */
    public Path path() {
        return path;
    }

    /** The architecture name ("llama", "qwen2", ...). */
    public String architecture() {
        return forward.config().architecture().ggufName();
    }

    /** The context length the model was trained with. */
    public int contextLength() {
        return forward.config().contextLength();
    }

    public int vocabSize() {
        return forward.config().vocabSize();
    }

    /**
     * The name of the backend running the model ("cpu", "cuda", "java"), or of both when the model is
     * split between a GPU and the CPU ("cuda+cpu").
     */
    public String backendName() {
        return forward.placement().name();
    }

    /** Where the model runs, e.g. "cuda #0 NVIDIA H100 ...: layers 0-11 (12/32); cpu: layers 12-31, embedding and output". */
    public String backendDescription() {
        return forward.placement().describe();
    }

    /** How many layers run on a GPU (0 when none does). */
    public int gpuLayers() {
        Placement p = forward.placement();
        int n = 0;
        for (int l = 0; l < p.nLayers(); l++) {
            n += p.layer(l).accelerator() ? 1 : 0;
        }
        return n;
    }

    /** The number of decoder layers. */
    public int layerCount() {
        return forward.config().nLayers();
    }

    /**
     * Runs {@code ids} from position 0 in one batch and returns the logits of the last position, or of every
     * position when {@code all} ({@code ids.length} rows).
     */
    public float[][] logits(int[] ids, boolean all) {
        if (ids.length == 0) {
            throw new IllegalArgumentException("no token ids");
        }
        int v = vocabSize();
        try (ForwardState s = forward.newState(ids.length, ids.length, all ? ids.length : 1, GgmlType.F32)) {
            float[] out = new float[(all ? ids.length : 1) * v];
            forward.forward(s, ids, 0, all, out);
            float[][] rows = new float[all ? ids.length : 1][];
            for (int r = 0; r < rows.length; r++) {
                rows[r] = java.util.Arrays.copyOfRange(out, r * v, (r + 1) * v);
            }
            return rows;
        }
    }

    Forward forward() {
        return forward;
    }

    @Override
    public void close() {
        try {
            if (file != null) {
                file.close();
            }
        } catch (Exception e) {
            throw new LlmjException("closing " + path + " failed", e);
        } finally {
            backends.forEach(Backend::close);
            if (arena.scope().isAlive()) {
                arena.close();
            }
        }
    }
}
