package io.llmj;

import io.llmj.arch.Forward;
import io.llmj.arch.ForwardState;
import io.llmj.arch.Forwards;
import io.llmj.arch.GgufModelSource;
import io.llmj.arch.HfModelSource;
import io.llmj.arch.ModelConfig;
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
    private final Backend backend;
    private final Forward forward;
    private final Tokenizer tokenizer;
    private final ChatTemplate chatTemplate;
    /** Whether the tokenizer prepends BOS when asked to add special tokens. */
    private final boolean addsBos;

    private Model(Path path, Arena arena, AutoCloseable file, Backend backend, Forward forward, Tokenizer tokenizer,
                  ChatTemplate chatTemplate) {
        this.path = path;
        this.arena = arena;
        this.file = file;
        this.backend = backend;
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
        Backend backend = null;
        try {
            ModelConfig config;
            io.llmj.arch.TensorSource tensors;
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
            backend = chooseBackend(options.backend(), options.threads(), tensors.matrixTypes());
            Forward forward = Forwards.create(config, tensors, backend);
            return new Model(path, arena, file, backend, forward, tokenizer, chat);
        } catch (RuntimeException | Error e) {
            if (backend != null) {
                backend.close();
            }
            arena.close();
            throw e;
        }
    }

    /** The backend named, or the best available one that runs every weight type in {@code types}. */
    private static Backend chooseBackend(String name, int threads, Set<GgmlType> types) {
        if (!name.equals("auto")) {
            Backend b = Backends.create(name, threads);
            for (GgmlType t : types) {
                if (!b.supports(Op.MATMUL, t) && !b.supports(Op.MATVEC, t)) {
                    b.close();
                    throw new BackendUnavailableException("backend '" + name + "' cannot multiply " + t + " weights yet");
                }
            }
            return b;
        }
        StringBuilder skipped = new StringBuilder();
        for (BackendProvider p : Backends.providers()) {
            String why = p.unavailableReason();
            if (why == null) {
                Backend b = p.create(threads);
                GgmlType missing = types.stream().filter(t -> !b.supports(Op.MATMUL, t)).findFirst().orElse(null);
                if (missing == null) {
                    LOG.log(Level.DEBUG, "llmj: backend ''{0}''{1}", b.name(), skipped);
                    return b;
                }
                b.close();
                why = "no " + missing + " kernels yet";
            }
            skipped.append("; '").append(p.name()).append("' passed over: ").append(why);
        }
        throw new BackendUnavailableException("no backend can run this model" + skipped);
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

    /** The name of the backend running the model ("cpu", "cuda", "java"). */
    public String backendName() {
        return backend.name();
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
            backend.close();
            if (arena.scope().isAlive()) {
                arena.close();
            }
        }
    }
}
