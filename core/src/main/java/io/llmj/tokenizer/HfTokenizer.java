package io.llmj.tokenizer;

import io.llmj.ModelFormatException;
import io.llmj.format.json.Json;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.text.Normalizer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A Hugging Face {@code tokenizer.json} tokenizer (the Rust {@code tokenizers} pipeline): added
 * tokens, normalizer, pre-tokenizer, BPE model (byte-level or SentencePiece-style with byte
 * fallback), post-processor and decoder. {@code tokenizer_config.json} beside it supplies the BOS/EOS
 * tokens and {@code add_bos_token}/{@code add_eos_token}.
 */
final class HfTokenizer extends AbstractTokenizer {

    record AddedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip, boolean normalized,
            boolean special) {}

    private final Path file;
    private final Map<String, Integer> vocab;
    private final String[] idToToken;
    private final boolean[] special;
    private final List<AddedToken> added;
    private final UnaryOperator<String> normalizer;
    private final PreTokenizer preTokenizer;
    // BPE model
    private final BpeMerger merger;
    private final Integer unkId;
    private final boolean byteFallback, fuseUnk, ignoreMerges;
    private final int[] byteFallbackIds = new int[256];
    private final Map<String, int[]> cache = new ConcurrentHashMap<>();
    // post-processing
    private final int[] prefixIds;
    private final int[] suffixIds;
    // decoding
    private final List<Map<String, Object>> decoders;
    private final int bos, eos;
    private final Set<Integer> eog = new HashSet<>();

    static HfTokenizer load(Path tokenizerJson) {
        Object root = Json.parse(tokenizerJson);
        Map<String, Object> config = null;
        Path cfg = tokenizerJson.resolveSibling("tokenizer_config.json");
        if (Files.isRegularFile(cfg)) {
            config = obj(Json.parse(cfg), cfg, "root");
        }
        return new HfTokenizer(obj(root, tokenizerJson, "root"), config, tokenizerJson);
    }

    @SuppressWarnings("unchecked")
    HfTokenizer(Map<String, Object> root, Map<String, Object> config, Path file) {
        this.file = file;
        Map<String, Object> model = obj(root.get("model"), file, "model");
        Object mtype = model.get("type");
        if (mtype != null && !"BPE".equals(mtype)) {
            throw new ModelFormatException(file, "model.type", "unsupported model type '" + mtype + "' (only BPE)");
        }
        Object vocabObj = model.get("vocab");
        if (!(vocabObj instanceof Map)) {
            throw new ModelFormatException(file, "model.vocab", "missing vocabulary");
        }
        Map<String, Object> vocabJson = (Map<String, Object>) vocabObj;
        if (vocabJson.isEmpty()) {
            throw new ModelFormatException(file, "model.vocab", "empty vocabulary");
        }
        this.vocab = new HashMap<>(vocabJson.size() * 2);
        int maxId = -1;
        for (Map.Entry<String, Object> e : vocabJson.entrySet()) {
            int id = id(e.getValue(), "model.vocab." + e.getKey());
            vocab.put(e.getKey(), id);
            maxId = Math.max(maxId, id);
        }
        int modelSize = maxId + 1;
        // added tokens
        List<AddedToken> addedList = new ArrayList<>();
        Object at = root.get("added_tokens");
        if (at instanceof List<?> l) {
            for (int i = 0; i < l.size(); i++) {
                Map<String, Object> t = obj(l.get(i), file, "added_tokens[" + i + "]");
                Object content = t.get("content");
                if (!(content instanceof String c) || c.isEmpty()) {
                    throw new ModelFormatException(file, "added_tokens[" + i + "]", "missing content");
                }
                int id = id(t.get("id"), "added_tokens[" + i + "].id");
                addedList.add(new AddedToken(id, c, bool(t, "single_word", false), bool(t, "lstrip", false),
                        bool(t, "rstrip", false), bool(t, "normalized", !bool(t, "special", false)), bool(t, "special", false)));
                maxId = Math.max(maxId, id);
            }
        }
        this.added = addedList;
        int size = maxId + 1;
        this.idToToken = new String[size];
        this.special = new boolean[size];
        for (Map.Entry<String, Integer> e : vocab.entrySet()) {
            if (idToToken[e.getValue()] != null) {
                throw new ModelFormatException(file, "model.vocab." + e.getKey(), "id " + e.getValue() + " is used twice");
            }
            idToToken[e.getValue()] = e.getKey();
        }
        for (AddedToken t : added) {
            idToToken[t.id()] = t.content();
            special[t.id()] = t.special();
        }

        // BPE model
        List<String[]> merges = new ArrayList<>();
        Object mergesObj = model.get("merges");
        if (mergesObj instanceof List<?> ml) {
            for (int i = 0; i < ml.size(); i++) {
                Object m = ml.get(i);
                if (m instanceof String s) {
                    merges.addAll(BpeMerger.splitMerges(List.of(s), file, "model.merges[" + i + "]"));
                } else if (m instanceof List<?> pair && pair.size() == 2 && pair.get(0) instanceof String a
                        && pair.get(1) instanceof String b) {
                    merges.add(new String[] {a, b});
                } else {
                    throw new ModelFormatException(file, "model.merges[" + i + "]", "not a merge: " + m);
                }
            }
        } else if (mergesObj != null) {
            throw new ModelFormatException(file, "model.merges", "not an array");
        }
        this.merger = new BpeMerger(vocab, modelSize, merges, false, file, "model.merges");
        Object unk = model.get("unk_token");
        if (unk instanceof String u) {
            this.unkId = vocab.get(u);
            if (unkId == null) {
                throw new ModelFormatException(file, "model.unk_token", "'" + u + "' is not in the vocabulary");
            }
        } else {
            this.unkId = null;
        }
        this.byteFallback = bool(model, "byte_fallback", false);
        this.fuseUnk = bool(model, "fuse_unk", false);
        this.ignoreMerges = bool(model, "ignore_merges", false);
        for (int b = 0; b < 256; b++) {
            Integer id = vocab.get(String.format("<0x%02X>", b));
            byteFallbackIds[b] = id == null ? -1 : id;
        }
        String prefix = (String) model.get("continuing_subword_prefix");
        String suffix = (String) model.get("end_of_word_suffix");
        if ((prefix != null && !prefix.isEmpty()) || (suffix != null && !suffix.isEmpty())) {
            throw new ModelFormatException(file, "model", "continuing_subword_prefix / end_of_word_suffix are not supported");
        }

        this.normalizer = normalizer(root.get("normalizer"), "normalizer");
        this.preTokenizer = preTokenizer(root.get("pre_tokenizer"), "pre_tokenizer");
        this.decoders = flattenDecoders(root.get("decoder"), "decoder");

        // special tokens from tokenizer_config.json
        this.bos = configToken(config, "bos_token");
        this.eos = configToken(config, "eos_token");

        // post-processor: the ids around a single sequence
        IntList pre = new IntList();
        IntList post = new IntList();
        postProcessor(root.get("post_processor"), "post_processor", pre, post);
        if (config != null) {
            if (Boolean.TRUE.equals(config.get("add_bos_token")) && bos >= 0 && !contains(pre, bos)) {
                IntList p2 = new IntList();
                p2.add(bos);
                for (int i = 0; i < pre.size(); i++) {
                    p2.add(pre.get(i));
                }
                pre = p2;
            }
            if (Boolean.TRUE.equals(config.get("add_eos_token")) && eos >= 0 && !contains(post, eos)) {
                post.add(eos);
            }
        }
        this.prefixIds = pre.toArray();
        this.suffixIds = post.toArray();

        if (eos >= 0) {
            eog.add(eos);
        }
        for (String name : new String[] {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "</s>"}) {
            Integer id = tokenId(name);
            if (id != null && (special.length > id && special[id] || name.equals("</s>") && id == eos)) {
                eog.add(id);
            }
        }
    }

    private static boolean contains(IntList l, int v) {
        for (int i = 0; i < l.size(); i++) {
            if (l.get(i) == v) {
                return true;
            }
        }
        return false;
    }

    private Integer tokenId(String s) {
        for (AddedToken t : added) {
            if (t.content().equals(s)) {
                return t.id();
            }
        }
        return vocab.get(s);
    }

    private int configToken(Map<String, Object> config, String key) {
        if (config == null) {
            return -1;
        }
        Object v = config.get(key);
        if (v instanceof Map<?, ?> m) {
            v = m.get("content");
        }
        if (v instanceof String s) {
            Integer id = tokenId(s);
            if (id == null) {
                throw new ModelFormatException(file.resolveSibling("tokenizer_config.json"), key, "token '" + s + "' is not in the vocabulary");
            }
            return id;
        }
        return -1;
    }

    // ------------------------------------------------------------------ JSON helpers

    @SuppressWarnings("unchecked")
    static Map<String, Object> obj(Object o, Path file, String where) {
        if (o instanceof Map) {
            return (Map<String, Object>) o;
        }
        throw new ModelFormatException(file, where, o == null ? "missing" : "expected an object");
    }

    private int id(Object v, String where) {
        if (v instanceof Long l && l >= 0 && l < Integer.MAX_VALUE - 8) {
            return (int) (long) l;
        }
        throw new ModelFormatException(file, where, "bad token id " + v);
    }

    private static boolean bool(Map<String, Object> m, String k, boolean dflt) {
        Object v = m.get(k);
        return v instanceof Boolean b ? b : dflt;
    }

    private static String str(Map<String, Object> m, String k, String dflt) {
        Object v = m.get(k);
        return v instanceof String s ? s : dflt;
    }

    private Pattern pattern(Object p, String where) {
        Map<String, Object> m = obj(p, file, where);
        if (m.get("String") instanceof String s) {
            return Pattern.compile(Pattern.quote(s));
        }
        if (m.get("Regex") instanceof String r) {
            try {
                return Pattern.compile(r, Pattern.UNICODE_CHARACTER_CLASS);
            } catch (RuntimeException e) {
                throw new ModelFormatException(file, where, "unsupported regex: " + e.getMessage(), e);
            }
        }
        throw new ModelFormatException(file, where, "pattern is neither String nor Regex");
    }

    // ------------------------------------------------------------------ normalizers

    private UnaryOperator<String> normalizer(Object o, String where) {
        if (o == null) {
            return UnaryOperator.identity();
        }
        Map<String, Object> m = obj(o, file, where);
        String type = str(m, "type", "");
        switch (type) {
            case "Sequence": {
                List<?> list = (List<?>) m.get("normalizers");
                List<UnaryOperator<String>> ops = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    ops.add(normalizer(list.get(i), where + ".normalizers[" + i + "]"));
                }
                return s -> {
                    for (UnaryOperator<String> op : ops) {
                        s = op.apply(s);
                    }
                    return s;
                };
            }
            case "NFC":
                return s -> Normalizer.normalize(s, Normalizer.Form.NFC);
            case "NFD":
                return s -> Normalizer.normalize(s, Normalizer.Form.NFD);
            case "NFKC":
                return s -> Normalizer.normalize(s, Normalizer.Form.NFKC);
            case "NFKD":
                return s -> Normalizer.normalize(s, Normalizer.Form.NFKD);
            case "Lowercase":
                return s -> s.toLowerCase(java.util.Locale.ROOT);
            case "Prepend": {
                String p = str(m, "prepend", "");
                return s -> s.isEmpty() ? s : p + s;
            }
            case "Replace": {
                Pattern p = pattern(m.get("pattern"), where + ".pattern");
                String content = Matcher.quoteReplacement(str(m, "content", ""));
                return s -> p.matcher(s).replaceAll(content);
            }
            case "Strip": {
                boolean left = bool(m, "left", true);
                boolean right = bool(m, "right", true);
                return s -> {
                    int a = 0;
                    int b = s.length();
                    while (left && a < b && Character.isWhitespace(s.charAt(a))) {
                        a++;
                    }
                    while (right && b > a && Character.isWhitespace(s.charAt(b - 1))) {
                        b--;
                    }
                    return s.substring(a, b);
                };
            }
            default:
                throw new ModelFormatException(file, where, "unsupported normalizer '" + type + "'");
        }
    }

    // ------------------------------------------------------------------ pre-tokenizers

    /** Splits each piece into sub-pieces. */
    interface PreTokenizer {
        void split(String piece, boolean firstPiece, List<String> out);
    }

    private static final Pattern GPT2_REGEX = Pattern.compile(
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", Pattern.UNICODE_CHARACTER_CLASS);

    private PreTokenizer preTokenizer(Object o, String where) {
        if (o == null) {
            return (p, first, out) -> out.add(p);
        }
        Map<String, Object> m = obj(o, file, where);
        String type = str(m, "type", "");
        switch (type) {
            case "Sequence": {
                List<?> list = (List<?>) m.get("pretokenizers");
                List<PreTokenizer> pts = new ArrayList<>();
                for (int i = 0; i < list.size(); i++) {
                    pts.add(preTokenizer(list.get(i), where + ".pretokenizers[" + i + "]"));
                }
                return (p, first, out) -> {
                    List<String> cur = List.of(p);
                    List<Boolean> firsts = List.of(first);
                    for (PreTokenizer pt : pts) {
                        List<String> next = new ArrayList<>();
                        List<Boolean> nf = new ArrayList<>();
                        for (int i = 0; i < cur.size(); i++) {
                            int before = next.size();
                            pt.split(cur.get(i), firsts.get(i), next);
                            for (int k = before; k < next.size(); k++) {
                                nf.add(firsts.get(i) && k == before);
                            }
                        }
                        cur = next;
                        firsts = nf;
                    }
                    out.addAll(cur);
                };
            }
            case "Split": {
                Pattern p = pattern(m.get("pattern"), where + ".pattern");
                String behavior = str(m, "behavior", "Isolated");
                boolean invert = bool(m, "invert", false);
                return (s, first, out) -> split(p, behavior, invert, s, out);
            }
            case "ByteLevel": {
                boolean prefixSpace = bool(m, "add_prefix_space", false);
                boolean useRegex = bool(m, "use_regex", true);
                return (s, first, out) -> {
                    String t = prefixSpace && !s.startsWith(" ") ? " " + s : s;
                    if (useRegex) {
                        List<String> parts = new ArrayList<>();
                        split(GPT2_REGEX, "Isolated", false, t, parts);
                        for (String x : parts) {
                            out.add(Unicode.byteEncode(x));
                        }
                    } else {
                        out.add(Unicode.byteEncode(t));
                    }
                };
            }
            case "Metaspace": {
                String rep = str(m, "replacement", "\u2581");
                String scheme = str(m, "prepend_scheme", bool(m, "add_prefix_space", true) ? "always" : "never");
                boolean splitOn = bool(m, "split", true);
                return (s, first, out) -> {
                    String t = s.replace(" ", rep);
                    if (!t.startsWith(rep) && (scheme.equals("always") || (scheme.equals("first") && first))) {
                        t = rep + t;
                    }
                    if (splitOn) {
                        split(Pattern.compile(Pattern.quote(rep)), "MergedWithNext", false, t, out);
                    } else {
                        out.add(t);
                    }
                };
            }
            case "Digits": {
                boolean individual = bool(m, "individual_digits", false);
                Pattern p = Pattern.compile(individual ? "\\p{Nd}" : "\\p{Nd}+", Pattern.UNICODE_CHARACTER_CLASS);
                return (s, first, out) -> split(p, "Isolated", false, s, out);
            }
            case "WhitespaceSplit": {
                Pattern p = Pattern.compile("\\s+", Pattern.UNICODE_CHARACTER_CLASS);
                return (s, first, out) -> split(p, "Removed", false, s, out);
            }
            case "Whitespace": {
                Pattern p = Pattern.compile("\\w+|[^\\w\\s]+", Pattern.UNICODE_CHARACTER_CLASS);
                return (s, first, out) -> split(p, "Removed", true, s, out);
            }
            default:
                throw new ModelFormatException(file, where, "unsupported pre_tokenizer '" + type + "'");
        }
    }

    /** HF {@code NormalizedString::split} with a pattern and a SplitDelimiterBehavior. */
    static void split(Pattern p, String behavior, boolean invert, String s, List<String> out) {
        // (start, end, isMatch) spans covering s
        List<int[]> spans = new ArrayList<>();
        Matcher mt = p.matcher(s);
        int pos = 0;
        while (mt.find()) {
            if (mt.end() == mt.start()) {
                continue;
            }
            if (mt.start() > pos) {
                spans.add(new int[] {pos, mt.start(), invert ? 1 : 0});
            }
            spans.add(new int[] {mt.start(), mt.end(), invert ? 0 : 1});
            pos = mt.end();
        }
        if (pos < s.length()) {
            spans.add(new int[] {pos, s.length(), invert ? 1 : 0});
        }
        switch (behavior) {
            case "Isolated" -> {
                for (int[] sp : spans) {
                    out.add(s.substring(sp[0], sp[1]));
                }
            }
            case "Removed" -> {
                for (int[] sp : spans) {
                    if (sp[2] == 0) {
                        out.add(s.substring(sp[0], sp[1]));
                    }
                }
            }
            case "MergedWithPrevious" -> {
                List<int[]> merged = new ArrayList<>();
                for (int[] sp : spans) {
                    if (sp[2] == 1 && !merged.isEmpty()) {
                        merged.get(merged.size() - 1)[1] = sp[1];
                    } else {
                        merged.add(new int[] {sp[0], sp[1]});
                    }
                }
                for (int[] sp : merged) {
                    out.add(s.substring(sp[0], sp[1]));
                }
            }
            case "MergedWithNext" -> {
                List<int[]> merged = new ArrayList<>();
                boolean pendingMatch = false;
                for (int[] sp : spans) {
                    if (pendingMatch) {
                        merged.get(merged.size() - 1)[1] = sp[1];
                    } else {
                        merged.add(new int[] {sp[0], sp[1]});
                    }
                    pendingMatch = sp[2] == 1;
                }
                for (int[] sp : merged) {
                    out.add(s.substring(sp[0], sp[1]));
                }
            }
            case "Contiguous" -> {
                List<int[]> merged = new ArrayList<>();
                int prevKind = -1;
                for (int[] sp : spans) {
                    if (sp[2] == 1 && prevKind == 1) {
                        merged.get(merged.size() - 1)[1] = sp[1];
                    } else {
                        merged.add(new int[] {sp[0], sp[1]});
                    }
                    prevKind = sp[2];
                }
                for (int[] sp : merged) {
                    out.add(s.substring(sp[0], sp[1]));
                }
            }
            default -> throw new IllegalArgumentException("unsupported split behavior " + behavior);
        }
    }

    // ------------------------------------------------------------------ post-processors

    private void postProcessor(Object o, String where, IntList pre, IntList post) {
        if (o == null) {
            return;
        }
        Map<String, Object> m = obj(o, file, where);
        String type = str(m, "type", "");
        switch (type) {
            case "ByteLevel" -> { }
            case "Sequence" -> {
                List<?> list = (List<?>) m.get("processors");
                for (int i = 0; i < list.size(); i++) {
                    postProcessor(list.get(i), where + ".processors[" + i + "]", pre, post);
                }
            }
            case "TemplateProcessing" -> {
                Map<String, Object> specials = m.get("special_tokens") instanceof Map<?, ?> ? obj(m.get("special_tokens"), file, where) : Map.of();
                List<?> single = (List<?>) m.get("single");
                if (single == null) {
                    throw new ModelFormatException(file, where + ".single", "missing template");
                }
                boolean seenA = false;
                for (int i = 0; i < single.size(); i++) {
                    Map<String, Object> item = obj(single.get(i), file, where + ".single[" + i + "]");
                    if (item.containsKey("Sequence")) {
                        seenA = true;
                    } else if (item.get("SpecialToken") instanceof Map<?, ?> st) {
                        String name = (String) st.get("id");
                        Object spec = specials.get(name);
                        if (!(spec instanceof Map<?, ?> sm) || !(sm.get("ids") instanceof List<?> ids)) {
                            throw new ModelFormatException(file, where + ".special_tokens", "no ids for '" + name + "'");
                        }
                        for (Object id : ids) {
                            int v = id(id, where + ".special_tokens." + name);
                            (seenA ? post : pre).add(v);
                        }
                    }
                }
            }
            case "RobertaProcessing", "BertProcessing" -> {
                List<?> cls = (List<?>) m.get("cls");
                List<?> sep = (List<?>) m.get("sep");
                pre.add(id(cls.get(1), where + ".cls"));
                post.add(id(sep.get(1), where + ".sep"));
            }
            default -> throw new ModelFormatException(file, where, "unsupported post_processor '" + type + "'");
        }
    }

    // ------------------------------------------------------------------ decoders

    private List<Map<String, Object>> flattenDecoders(Object o, String where) {
        List<Map<String, Object>> out = new ArrayList<>();
        if (o == null) {
            return out;
        }
        Map<String, Object> m = obj(o, file, where);
        String type = str(m, "type", "");
        switch (type) {
            case "Sequence" -> {
                List<?> list = (List<?>) m.get("decoders");
                for (int i = 0; i < list.size(); i++) {
                    out.addAll(flattenDecoders(list.get(i), where + ".decoders[" + i + "]"));
                }
            }
            case "ByteLevel", "ByteFallback", "Fuse", "Strip", "Metaspace" -> out.add(m);
            case "Replace" -> {
                Map<String, Object> copy = new HashMap<>(m);
                copy.put("compiled", pattern(m.get("pattern"), where + ".pattern"));
                out.add(copy);
            }
            default -> throw new ModelFormatException(file, where, "unsupported decoder '" + type + "'");
        }
        return out;
    }

    /**
     * The decoder chain applied to one token. A value is a String until a byte-producing step
     * (ByteLevel, ByteFallback on {@code <0xXX>}) turns it into bytes. {@code fused} tracks whether a
     * Fuse step has run, after which Strip/Metaspace start handling concerns only the first token.
     */
    @Override
    void appendPiece(ByteArrayOutputStream out, int id, boolean first, boolean renderSpecial) {
        if (!renderSpecial && special[id]) {
            return;
        }
        String tok = idToToken[id];
        if (tok == null) {
            return;
        }
        Object v = tok;
        boolean fused = false;
        for (Map<String, Object> d : decoders) {
            String type = (String) d.get("type");
            switch (type) {
                case "ByteLevel" -> {
                    if (v instanceof String s) {
                        byte[] b = new byte[s.length()];
                        boolean ok = true;
                        for (int i = 0; i < s.length(); i++) {
                            int x = Unicode.charToByte(s.charAt(i));
                            if (x < 0) {
                                ok = false;
                                break;
                            }
                            b[i] = (byte) x;
                        }
                        v = ok ? b : s.getBytes(StandardCharsets.UTF_8);
                    }
                }
                case "ByteFallback" -> {
                    if (v instanceof String s && s.length() == 6 && s.startsWith("<0x") && s.endsWith(">")) {
                        try {
                            v = new byte[] {(byte) Integer.parseInt(s.substring(3, 5), 16)};
                        } catch (NumberFormatException e) {
                            // not a byte token
                        }
                    }
                }
                case "Fuse" -> fused = true;
                case "Replace" -> {
                    if (v instanceof String s) {
                        v = ((Pattern) d.get("compiled")).matcher(s).replaceAll(Matcher.quoteReplacement(str(d, "content", "")));
                    }
                }
                case "Strip" -> {
                    String content = str(d, "content", " ");
                    int start = ((Number) d.getOrDefault("start", 0L)).intValue();
                    if ((first || !fused) && v instanceof String s) {
                        int cut = 0;
                        while (cut < start && s.startsWith(content, cut * content.length())) {
                            cut++;
                        }
                        v = s.substring(cut * content.length());
                    }
                }
                case "Metaspace" -> {
                    if (v instanceof String s) {
                        String rep = str(d, "replacement", "\u2581");
                        String t = s.replace(rep, " ");
                        String scheme = str(d, "prepend_scheme", bool(d, "add_prefix_space", true) ? "always" : "never");
                        if (first && !scheme.equals("never") && t.startsWith(" ")) {
                            t = t.substring(1);
                        }
                        v = t;
                    }
                }
                default -> { }
            }
        }
        byte[] b = v instanceof String s ? s.getBytes(StandardCharsets.UTF_8) : (byte[]) v;
        out.write(b, 0, b.length);
    }

    // ------------------------------------------------------------------ encode

    @Override
    public int[] encode(String text, boolean addSpecial, boolean parseSpecial) {
        IntList out = new IntList(Math.max(16, text.length() / 3));
        if (addSpecial) {
            out.addAll(prefixIds);
        }
        // 1. added tokens matched on the raw text (non-normalized ones)
        List<Object> pieces = splitAdded(text, false, parseSpecial);
        boolean firstPiece = true;
        for (Object p : pieces) {
            if (p instanceof Integer id) {
                out.add(id);
                continue;
            }
            String normalized = normalizer.apply((String) p);
            // 2. added tokens with normalized=true are matched on the normalized text
            for (Object q : splitAdded(normalized, true, parseSpecial)) {
                if (q instanceof Integer id) {
                    out.add(id);
                    continue;
                }
                List<String> words = new ArrayList<>();
                preTokenizer.split((String) q, firstPiece, words);
                firstPiece = false;
                for (String w : words) {
                    out.addAll(tokenizeWord(w));
                }
            }
        }
        if (addSpecial) {
            out.addAll(suffixIds);
        }
        return out.toArray();
    }

    private List<Object> splitAdded(String s, boolean normalizedOnes, boolean parseSpecial) {
        List<Object> out = new ArrayList<>();
        int pos = 0;
        int textStart = 0;
        while (pos < s.length()) {
            AddedToken best = null;
            for (AddedToken t : added) {
                if (t.normalized() != normalizedOnes || (t.special() && !parseSpecial)) {
                    continue;
                }
                if (s.startsWith(t.content(), pos) && (best == null || t.content().length() > best.content().length())) {
                    if (t.singleWord() && !isWordBoundary(s, pos, pos + t.content().length())) {
                        continue;
                    }
                    best = t;
                }
            }
            if (best == null) {
                pos++;
                continue;
            }
            int start = pos;
            int end = pos + best.content().length();
            if (best.lstrip()) {
                while (start > textStart && Character.isWhitespace(s.charAt(start - 1))) {
                    start--;
                }
            }
            if (best.rstrip()) {
                while (end < s.length() && Character.isWhitespace(s.charAt(end))) {
                    end++;
                }
            }
            if (start > textStart) {
                out.add(s.substring(textStart, start));
            }
            out.add(best.id());
            pos = end;
            textStart = end;
        }
        if (textStart < s.length()) {
            out.add(s.substring(textStart));
        }
        return out;
    }

    private static boolean isWordBoundary(String s, int start, int end) {
        boolean leftOk = start == 0 || !Character.isLetterOrDigit(s.codePointBefore(start)) && s.charAt(start - 1) != '_';
        boolean rightOk = end >= s.length() || !Character.isLetterOrDigit(s.codePointAt(end)) && s.charAt(end) != '_';
        return leftOk && rightOk;
    }

    private int[] tokenizeWord(String w) {
        if (w.isEmpty()) {
            return new int[0];
        }
        int[] ids = cache.get(w);
        if (ids != null) {
            return ids;
        }
        ids = bpe(w);
        if (cache.size() > 200_000) {
            cache.clear();
        }
        cache.put(w, ids);
        return ids;
    }

    private int[] bpe(String w) {
        if (ignoreMerges) {
            Integer id = vocab.get(w);
            if (id != null) {
                return new int[] {id};
            }
        }
        IntList sym = new IntList(w.length());
        int unkPending = -1;
        for (int i = 0; i < w.length(); ) {
            int cp = w.codePointAt(i);
            int cl = Character.charCount(cp);
            String c = w.substring(i, i + cl);
            i += cl;
            Integer id = vocab.get(c);
            if (id != null) {
                if (unkPending >= 0) {
                    sym.add(unkPending);
                    unkPending = -1;
                }
                sym.add(id);
                continue;
            }
            if (byteFallback) {
                byte[] bytes = c.getBytes(StandardCharsets.UTF_8);
                boolean all = true;
                for (byte b : bytes) {
                    all &= byteFallbackIds[b & 0xFF] >= 0;
                }
                if (all) {
                    for (byte b : bytes) {
                        sym.add(byteFallbackIds[b & 0xFF]);
                    }
                    continue;
                }
            }
            if (unkId != null) {
                if (unkPending >= 0 && !fuseUnk) {
                    sym.add(unkPending);
                }
                unkPending = unkId;
            }
        }
        if (unkPending >= 0) {
            sym.add(unkPending);
        }
        int[] a = sym.toArray();
        int n = merger.merge(a, a.length);
        return java.util.Arrays.copyOf(a, n);
    }

    // ------------------------------------------------------------------ misc

    @Override
    public byte[] tokenBytes(int id) {
        checkId(id);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        appendPiece(out, id, false, true);
        return out.toByteArray();
    }

    @Override
    public int vocabSize() {
        return idToToken.length;
    }

    @Override
    public int bos() {
        return bos;
    }

    @Override
    public int eos() {
        return eos;
    }

    @Override
    public boolean isEndOfGeneration(int id) {
        return eog.contains(id);
    }

    @Override
    public String toString() {
        return "HfTokenizer[" + file + ", " + idToToken.length + " ids]";
    }
}
