package io.llmj.tokenizer;

import io.llmj.ModelFormatException;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import io.llmj.format.gguf.GgufFile;

/**
 * A llama.cpp-style vocabulary: token texts, scores and types, BPE merges, special ids and flags,
 * with llama.cpp@c392e50's defaults applied for absent keys. Built from GGUF metadata by
 * {@link #fromMetadata}; turned into a tokenizer by {@link LlamaCppTokenizer}.
 *
 * @param type           SPM ({@code llama}), BPE ({@code gpt2}) or WPM ({@code bert})
 * @param pre            {@code tokenizer.ggml.pre} ("default" when absent)
 * @param tokenTypes     GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
 * @param specialIds     see the {@code ID_*} indexes; -1 means none
 */
public record Vocabulary(
        Type type,
        String model,
        String pre,
        String[] tokens,
        float[] scores,
        int[] tokenTypes,
        List<String> merges,
        int[] specialIds,
        boolean addBos,
        boolean addEos,
        boolean addSpacePrefix,
        String generalName,
        Path file) {

    public enum Type { SPM, BPE, WPM }

    public static final int ID_BOS = 0, ID_EOS = 1, ID_EOT = 2, ID_EOM = 3, ID_UNK = 4, ID_SEP = 5, ID_PAD = 6,
            ID_MASK = 7, ID_COUNT = 8;

    public static final int TYPE_UNDEFINED = 0, TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3,
            TYPE_USER_DEFINED = 4, TYPE_UNUSED = 5, TYPE_BYTE = 6;

    private static final String[] ID_KEYS = {
        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.eot_token_id",
        "tokenizer.ggml.eom_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.mask_token_id"
    };

    public int special(int which) {
        return specialIds[which];
    }

    /** Reads the vocabulary from a GGUF file's metadata. */
    public static Vocabulary fromGguf(GgufFile g) {
        return fromMetadata(new TokenizerMetadata() {
            @Override
            public Optional<String> string(String key) {
                return g.string(key);
            }

            @Override
            public OptionalLong integer(String key) {
                return g.integer(key);
            }

            @Override
            public Optional<Boolean> bool(String key) {
                return g.bool(key);
            }

            @Override
            public List<String> stringArray(String key) {
                return g.stringArray(key);
            }

            @Override
            public float[] floatArray(String key) {
                return g.floatArray(key);
            }

            @Override
            public int[] intArray(String key) {
                return g.intArray(key);
            }

            @Override
            public Path file() {
                return g.path();
            }
        });
    }

    /** Reads {@code tokenizer.ggml.*} keys, applying llama.cpp's defaults. */
    public static Vocabulary fromMetadata(TokenizerMetadata md) {
        Path file = md.file();
        String model = md.string("tokenizer.ggml.model")
                .orElseThrow(() -> new ModelFormatException(file, "key tokenizer.ggml.model", "missing tokenizer model"));
        String pre = md.string("tokenizer.ggml.pre").orElse("");
        int[] ids = new int[ID_COUNT];
        java.util.Arrays.fill(ids, -1);
        Type type;
        boolean addBos = false;
        boolean addEos = false;
        boolean addSpacePrefix = false;
        List<String> merges = List.of();
        switch (model) {
            case "llama" -> {
                type = Type.SPM;
                ids[ID_BOS] = 1;
                ids[ID_EOS] = 2;
                ids[ID_UNK] = 0;
                addSpacePrefix = true;
                addBos = true;
            }
            case "bert" -> {
                type = Type.WPM;
                ids[ID_BOS] = 101;
                ids[ID_UNK] = 100;
                ids[ID_SEP] = 102;
                ids[ID_PAD] = 0;
                ids[ID_MASK] = 103;
                addBos = true;
            }
            case "gpt2" -> {
                type = Type.BPE;
                ids[ID_BOS] = 11;
                ids[ID_EOS] = 11;
                merges = md.stringArray("tokenizer.ggml.merges");
                if (merges.isEmpty()) {
                    throw new ModelFormatException(file, "key tokenizer.ggml.merges", "missing BPE merges");
                }
                if (pre.isEmpty()) {
                    pre = "default";
                }
                if (LlamaPreTokenizers.ADD_BOS.contains(pre)) {
                    addBos = true;
                }
            }
            default -> throw new ModelFormatException(file, "key tokenizer.ggml.model", "unsupported tokenizer model '" + model + "'");
        }
        if (type != Type.BPE) {
            pre = "default";
        }
        addSpacePrefix = md.bool("tokenizer.ggml.add_space_prefix").orElse(addSpacePrefix);

        List<String> tokens = md.stringArray("tokenizer.ggml.tokens");
        if (tokens.isEmpty()) {
            throw new ModelFormatException(file, "key tokenizer.ggml.tokens", "missing tokenizer vocabulary");
        }
        int n = tokens.size();
        String[] text = new String[n];
        java.util.Set<String> seen = new java.util.HashSet<>(n * 2);
        for (int i = 0; i < n; i++) {
            String w = tokens.get(i);
            if (w == null || w.isEmpty()) {
                w = "[EMPTY_" + i + "]";
            }
            if (!seen.add(w)) {
                throw new ModelFormatException(file, "key tokenizer.ggml.tokens[" + i + "]", "duplicate token '" + w + "'");
            }
            text[i] = w;
        }
        float[] scores = md.floatArray("tokenizer.ggml.scores");
        if (scores == null) {
            scores = new float[n];
        } else if (scores.length < n) {
            throw new ModelFormatException(file, "key tokenizer.ggml.scores", "has " + scores.length + " entries for " + n + " tokens");
        }
        int[] types = md.intArray("tokenizer.ggml.token_type");
        if (types == null) {
            types = new int[n];
            java.util.Arrays.fill(types, TYPE_NORMAL);
        } else if (types.length < n) {
            throw new ModelFormatException(file, "key tokenizer.ggml.token_type", "has " + types.length + " entries for " + n + " tokens");
        }
        for (int k = 0; k < ID_COUNT; k++) {
            if (ids[k] >= n) {
                ids[k] = -1;
            }
            OptionalLong v = md.integer(ID_KEYS[k]);
            if (v.isPresent()) {
                long id = v.getAsLong();
                if (id >= 0 && id < n) {
                    ids[k] = (int) id;
                } else if (id != -1 && id != 0xFFFFFFFFL) { // those two mean "none": llama.cpp keeps its default
                    throw new ModelFormatException(file, "key " + ID_KEYS[k], "token id " + id + " is outside the vocabulary of " + n + " tokens");
                }
            }
        }
        addBos = md.bool("tokenizer.ggml.add_bos_token").orElse(addBos);
        addEos = md.bool("tokenizer.ggml.add_eos_token").orElse(addEos);
        if (addBos && ids[ID_BOS] < 0) {
            throw new ModelFormatException(file, "key tokenizer.ggml.add_bos_token", "is true, but no BOS token id is set");
        }
        if (addEos && ids[ID_EOS] < 0) {
            throw new ModelFormatException(file, "key tokenizer.ggml.add_eos_token", "is true, but no EOS token id is set");
        }
        String name = md.string("general.name").orElse("");
        return new Vocabulary(type, model, pre, text, java.util.Arrays.copyOf(scores, n),
                java.util.Arrays.copyOf(types, n), merges, ids, addBos, addEos, addSpacePrefix, name, file);
    }
}
