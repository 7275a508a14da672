package io.llmj.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.llmj.ModelFormatException;
import io.llmj.StreamingDecoder;
import io.llmj.Tokenizer;
import io.llmj.format.json.Json;
import io.llmj.testing.TestData;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Mutates the JSON tree of small tokenizer.json files (cut from the Mistral and Qwen3 files, plus
 * pipeline pieces of the other kinds): each must load and then work, or be rejected with
 * {@link ModelFormatException}. Case i uses {@code new Random(i)}; time-boxed by
 * {@code llmj.fuzz.seconds} (default 5).
 */
class TokenizerJsonFuzzTest {

    @SuppressWarnings("unchecked")
    static Map<String, Object> shrink(String folder, int keep) {
        Map<String, Object> root = (Map<String, Object>) Json.parse(TestData.require("hf-tokenizers/" + folder + "/tokenizer.json"));
        Map<String, Object> model = (Map<String, Object>) root.get("model");
        Map<String, Object> vocab = (Map<String, Object>) model.get("vocab");
        Map<String, Object> small = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : vocab.entrySet()) {
            if (((Number) e.getValue()).intValue() < keep) {
                small.put(e.getKey(), e.getValue());
            }
        }
        Set<String> have = new HashSet<>(small.keySet());
        List<Object> merges = new ArrayList<>();
        for (Object m : (List<?>) model.get("merges")) {
            String a;
            String b;
            if (m instanceof String s) {
                int sp = s.indexOf(' ', 1);
                a = s.substring(0, sp);
                b = s.substring(sp + 1);
            } else {
                a = (String) ((List<?>) m).get(0);
                b = (String) ((List<?>) m).get(1);
            }
            if (have.contains(a) && have.contains(b) && have.contains(a + b)) {
                merges.add(m);
            }
        }
        model.put("vocab", small);
        model.put("merges", merges);
        List<Object> added = new ArrayList<>();
        for (Object t : (List<?>) root.get("added_tokens")) {
            if (added.size() < 4) {
                added.add(t);
            }
        }
        root.put("added_tokens", added);
        return root;
    }

    static Object copy(Object o) {
        if (o instanceof Map<?, ?> m) {
            Map<String, Object> c = new LinkedHashMap<>();
            m.forEach((k, v) -> c.put((String) k, copy(v)));
            return c;
        }
        if (o instanceof List<?> l) {
            List<Object> c = new ArrayList<>();
            for (Object x : l) {
                c.add(copy(x));
            }
            return c;
        }
        return o;
    }

    /** All containers in the tree (the vocabulary map only as a whole, to keep mutation meaningful). */
    static void containers(Object o, List<Object> out, int depth) {
        if (o instanceof Map<?, ?> m) {
            out.add(m);
            if (m.size() < 50) {
                m.values().forEach(v -> containers(v, out, depth + 1));
            }
        } else if (o instanceof List<?> l) {
            out.add(l);
            if (l.size() < 50) {
                l.forEach(v -> containers(v, out, depth + 1));
            }
        }
    }

    static Object randomValue(Random r) {
        return switch (r.nextInt(10)) {
            case 0 -> null;
            case 1 -> (long) (r.nextInt(2000) - 100);
            case 2 -> r.nextBoolean();
            case 3 -> new String[] {"", "BPE", "WordPiece", "Sequence", "Isolated", "\u2581", " ", "<0x41>", "Ġ", "(", "[a-"}[r.nextInt(11)];
            case 4 -> new ArrayList<>(List.of("a b"));
            case 5 -> new LinkedHashMap<>(Map.of("type", "Sequence"));
            case 6 -> 1.5;
            case 7 -> new LinkedHashMap<>(Map.of("Regex", "\\p{L}+"));
            case 8 -> new ArrayList<>();
            default -> Long.MAX_VALUE;
        };
    }

    @SuppressWarnings("unchecked")
    static void mutate(Object root, Random r) {
        int ops = 1 + r.nextInt(3);
        for (int op = 0; op < ops; op++) {
            List<Object> cs = new ArrayList<>();
            containers(root, cs, 0);
            Object c = cs.get(r.nextInt(cs.size()));
            if (c instanceof Map<?, ?> m0 && !m0.isEmpty()) {
                Map<String, Object> m = (Map<String, Object>) m0;
                List<String> keys = new ArrayList<>(m.keySet());
                String k = keys.get(r.nextInt(keys.size()));
                if (r.nextInt(3) == 0) {
                    m.remove(k);
                } else {
                    m.put(k, randomValue(r));
                }
            } else if (c instanceof List<?> l0 && !l0.isEmpty()) {
                List<Object> l = (List<Object>) l0;
                int i = r.nextInt(l.size());
                if (r.nextInt(3) == 0) {
                    l.remove(i);
                } else {
                    l.set(i, randomValue(r));
                }
            }
        }
    }

    static final String[] TEXTS = {"Hello world", " x", "", "Führer 🐶 123 !!", "\n\n  \t", "<s></s><|im_end|>", "日本語"};

    @Test
    void mutatedTokenizerJsonLoadsOrIsRejected() {
        List<Map<String, Object>> seeds = new ArrayList<>();
        seeds.add(shrink("mistral-spm", 700));
        seeds.add(shrink("qwen3", 700));
        Map<String, Object> wp = (Map<String, Object>) copy(seeds.get(0));
        wp.put("normalizer", Map.of("type", "BertNormalizer", "lowercase", true));
        wp.put("pre_tokenizer", Map.of("type", "BertPreTokenizer"));
        wp.put("decoder", Map.of("type", "WordPiece", "prefix", "##", "cleanup", true));
        Map<String, Object> wpModel = new LinkedHashMap<>((Map<String, Object>) wp.get("model"));
        wpModel.put("type", "WordPiece");
        wpModel.remove("merges");
        wp.put("model", wpModel);
        seeds.add(wp);
        Map<String, Object> meta = (Map<String, Object>) copy(seeds.get(0));
        meta.put("normalizer", null);
        meta.put("pre_tokenizer", Map.of("type", "Metaspace", "replacement", "\u2581", "prepend_scheme", "first", "split", true));
        meta.put("decoder", Map.of("type", "Metaspace", "replacement", "\u2581", "prepend_scheme", "always"));
        seeds.add(meta);

        long deadline = System.nanoTime() + Long.getLong("llmj.fuzz.seconds", 5) * 1_000_000_000L;
        int loaded = 0;
        int rejected = 0;
        List<String> failures = new ArrayList<>();
        for (int i = 0; System.nanoTime() < deadline || i < seeds.size(); i++) {
            Random r = new Random(i);
            Map<String, Object> root = (Map<String, Object>) copy(seeds.get(i % seeds.size()));
            if (i >= seeds.size()) {
                mutate(root, r);
            }
            Tokenizer tok;
            try {
                tok = HfTokenizer.fromJson(root, null);
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
                    tok.decode(ids, r.nextBoolean());
                    StreamingDecoder sd = tok.newStreamingDecoder();
                    StringBuilder sb = new StringBuilder();
                    for (int id : ids) {
                        sb.append(sd.next(id));
                    }
                    sb.append(sd.flush());
                    assertEquals(tok.decode(ids), sb.toString());
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
