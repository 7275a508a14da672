package io.llmj.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ModelFormatException;
import io.llmj.StreamingDecoder;
import io.llmj.format.gguf.GgufFile;
import io.llmj.testing.TestData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Mutates tokenizer metadata (small SPM, BPE and WordPiece vocabularies cut from the test data) at
 * the value level: every mutated vocabulary must either load and then encode, decode and stream
 * without error, or be rejected with {@link ModelFormatException}. Case i uses {@code new Random(i)};
 * time-boxed by {@code llmj.fuzz.seconds} (default 5).
 */
class TokenizerMetadataFuzzTest {

    /** Metadata held in a map (values: String, Long, Boolean, List<String>, float[], int[]). */
    record MapMetadata(Map<String, Object> m) implements TokenizerMetadata {
        @Override
        public Optional<String> string(String key) {
            return m.get(key) instanceof String s ? Optional.of(s) : Optional.empty();
        }

        @Override
        public OptionalLong integer(String key) {
            return m.get(key) instanceof Long l ? OptionalLong.of(l) : OptionalLong.empty();
        }

        @Override
        public Optional<Boolean> bool(String key) {
            return m.get(key) instanceof Boolean b ? Optional.of(b) : Optional.empty();
        }

        @Override
        @SuppressWarnings("unchecked")
        public List<String> stringArray(String key) {
            return m.get(key) instanceof List<?> l ? (List<String>) l : List.of();
        }

        @Override
        public float[] floatArray(String key) {
            return m.get(key) instanceof float[] f ? f : null;
        }

        @Override
        public int[] intArray(String key) {
            return m.get(key) instanceof int[] i ? i : null;
        }
    }

    static Map<String, Object> read(String file, int maxTokens) {
        Map<String, Object> m = new HashMap<>();
        try (GgufFile g = GgufFile.open(TestData.require(file))) {
            for (String k : g.metadata().keySet()) {
                if (!k.startsWith("tokenizer.") && !k.equals("general.name")) {
                    continue;
                }
                switch (g.type(k)) {
                    case STRING -> m.put(k, g.string(k).orElseThrow());
                    case BOOL -> m.put(k, g.bool(k).orElseThrow());
                    case ARRAY -> {
                        var a = g.array(k);
                        if (a.elementType() == io.llmj.format.gguf.GgufValueType.STRING) {
                            m.put(k, new ArrayList<>(g.stringArray(k)));
                        } else if (a.elementType() == io.llmj.format.gguf.GgufValueType.FLOAT32) {
                            m.put(k, g.floatArray(k));
                        } else {
                            m.put(k, g.intArray(k));
                        }
                    }
                    default -> {
                        if (g.type(k).isInteger()) {
                            m.put(k, g.integer(k).orElseThrow());
                        }
                    }
                }
            }
        }
        @SuppressWarnings("unchecked")
        List<String> tokens = (List<String>) m.get("tokenizer.ggml.tokens");
        if (tokens.size() > maxTokens) {
            List<String> kept = new ArrayList<>(tokens.subList(0, maxTokens));
            m.put("tokenizer.ggml.tokens", kept);
            if (m.get("tokenizer.ggml.scores") instanceof float[] f) {
                m.put("tokenizer.ggml.scores", java.util.Arrays.copyOf(f, maxTokens));
            }
            if (m.get("tokenizer.ggml.token_type") instanceof int[] t) {
                m.put("tokenizer.ggml.token_type", java.util.Arrays.copyOf(t, maxTokens));
            }
            if (m.get("tokenizer.ggml.merges") instanceof List<?> merges) {
                Set<String> have = new HashSet<>(kept);
                List<String> ok = new ArrayList<>();
                for (Object o : merges) {
                    String s = (String) o;
                    int sp = s.indexOf(' ', 1);
                    String a = s.substring(0, sp);
                    String b = s.substring(sp + 1);
                    if (have.contains(a) && have.contains(b) && have.contains(a + b)) {
                        ok.add(s);
                    }
                }
                m.put("tokenizer.ggml.merges", ok);
            }
            for (String k : new ArrayList<>(m.keySet())) {
                if (k.endsWith("_token_id") && m.get(k) instanceof Long l && l >= maxTokens && l != 0xFFFFFFFFL) {
                    m.remove(k);
                }
            }
        }
        return m;
    }

    static final String[] TEXTS = {"Hello world", " x", "", "Führer 🐶 123 !!", "\n\n  \t", "<s></s><|endoftext|>[CLS]",
        "it's 'ok' ,.", "日本語"};
    static final String[] KEYS = {"tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens",
        "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges", "tokenizer.ggml.bos_token_id",
        "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.seperator_token_id",
        "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
        "tokenizer.ggml.add_space_prefix", "general.name"};

    @SuppressWarnings("unchecked")
    static void mutate(Map<String, Object> m, Random r) {
        int ops = 1 + r.nextInt(3);
        for (int op = 0; op < ops; op++) {
            String key = KEYS[r.nextInt(KEYS.length)];
            Object v = m.get(key);
            switch (r.nextInt(8)) {
                case 0 -> m.remove(key);
                case 1 -> m.put(key, (long) (r.nextInt(3) == 0 ? 0xFFFFFFFFL : r.nextInt(1200) - 100));
                case 2 -> m.put(key, r.nextBoolean());
                case 3 -> m.put(key, new String[] {"llama", "gpt2", "bert", "t5", "", "gpt-2", "llama-bpe", "qwen2",
                    "falcon", "deepseek-llm", "deepseek-coder", "starcoder", "default", "phi-3", "nope"}[r.nextInt(15)]);
                case 4 -> {
                    if (v instanceof List<?> l && !l.isEmpty()) {
                        List<String> c = new ArrayList<>((List<String>) l);
                        int i = r.nextInt(c.size());
                        String[] choices = {"", c.get(r.nextInt(c.size())), "<0xZZ>", "<0x4", "a b", " ", "\u2581",
                            "x y z", "ab", new String(Character.toChars(0x1F600 + r.nextInt(50))), "<s>", "[UNK]"};
                        c.set(i, choices[r.nextInt(choices.length)]);
                        if (r.nextInt(4) == 0) {
                            c.subList(r.nextInt(c.size()), c.size()).clear();
                        }
                        m.put(key, c);
                    }
                }
                case 5 -> {
                    if (v instanceof int[] a && a.length > 0) {
                        int[] c = a.clone();
                        c[r.nextInt(c.length)] = r.nextInt(12) - 2;
                        m.put(key, r.nextInt(4) == 0 ? java.util.Arrays.copyOf(c, r.nextInt(c.length)) : c);
                    } else if (v instanceof float[] f && f.length > 0) {
                        float[] c = f.clone();
                        c[r.nextInt(c.length)] = new float[] {Float.NaN, Float.POSITIVE_INFINITY, -1e30f, 0f}[r.nextInt(4)];
                        m.put(key, r.nextInt(4) == 0 ? java.util.Arrays.copyOf(c, r.nextInt(c.length)) : c);
                    }
                }
                case 6 -> {
                    // all tokens of one type
                    if (m.get("tokenizer.ggml.token_type") instanceof int[] a) {
                        int[] c = a.clone();
                        java.util.Arrays.fill(c, r.nextInt(8));
                        m.put("tokenizer.ggml.token_type", c);
                    }
                }
                default -> m.put(key, List.of("a", "b"));
            }
        }
    }

    @Test
    void mutatedMetadataLoadsOrIsRejected() {
        List<Map<String, Object>> seeds = List.of(read("models/stories260K.gguf", 512),
                read("vocab/ggml-vocab-gpt-2.gguf", 1500), read("vocab/ggml-vocab-bert-bge.gguf", 3000),
                read("vocab/ggml-vocab-deepseek-llm.gguf", 1500));
        long deadline = System.nanoTime() + Long.getLong("llmj.fuzz.seconds", 5) * 1_000_000_000L;
        int loaded = 0;
        int rejected = 0;
        List<String> failures = new ArrayList<>();
        for (int i = 0; System.nanoTime() < deadline || i < seeds.size(); i++) {
            Random r = new Random(i);
            Map<String, Object> m = new HashMap<>(seeds.get(i % seeds.size()));
            if (i >= seeds.size()) {
                mutate(m, r);
            }
            LlamaCppTokenizer tok;
            try {
                tok = new LlamaCppTokenizer(Vocabulary.fromMetadata(new MapMetadata(m)));
            } catch (ModelFormatException e) {
                rejected++;
                continue;
            } catch (RuntimeException e) {
                failures.add("case " + i + " load: " + e);
                continue;
            }
            loaded++;
            try {
                for (String t : TEXTS) {
                    int[] ids = tok.encode(t, r.nextBoolean(), r.nextBoolean());
                    String d = tok.decode(ids, r.nextBoolean());
                    StreamingDecoder sd = tok.newStreamingDecoder();
                    StringBuilder sb = new StringBuilder();
                    for (int id : ids) {
                        sb.append(sd.next(id));
                    }
                    sb.append(sd.flush());
                    assertEquals(tok.decode(ids), sb.toString());
                    assertTrue(d != null);
                }
            } catch (RuntimeException | AssertionError e) {
                failures.add("case " + i + " use: " + e);
            }
            if (failures.size() > 20) {
                break;
            }
        }
        assertEquals("", String.join("\n", failures), failures.size() + " failures; loaded " + loaded + ", rejected " + rejected);
        assertTrue(loaded > 4 && rejected > 0, "loaded " + loaded + ", rejected " + rejected);
    }
}
