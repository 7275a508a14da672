package io.llmj.tokenizer;

import io.llmj.ModelFormatException;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A tokenizer that behaves like llama.cpp@c392e50's {@code llama_vocab}: SentencePiece-BPE with
 * scores ({@code llama}), byte-level BPE with a pre-tokenizer ({@code gpt2}) and WordPiece
 * ({@code bert}); special-token partitioning ({@code tokenizer_st_partition}), BOS/EOS rules,
 * {@code token_to_piece} and {@code detokenize}.
 */
public final class LlamaCppTokenizer extends AbstractTokenizer {
    // token attributes (llama_token_attr)
    static final int ATTR_UNDEFINED = 0, ATTR_UNKNOWN = 1, ATTR_UNUSED = 2, ATTR_NORMAL = 4, ATTR_CONTROL = 8,
            ATTR_USER_DEFINED = 16, ATTR_BYTE = 32, ATTR_LSTRIP = 128, ATTR_RSTRIP = 256;

    private final Vocabulary.Type type;
    private final String[] text;
    private final float[] score;
    private final int[] attr;
    private final Map<String, Integer> tokenToId;
    private final int bos, eos, eot, eom, unk, sep;
    private final boolean addBos, addEos, addSpacePrefix, cleanSpaces, ignoreMerges;
    private final int[] specialCache;
    private final Set<Integer> eog = new HashSet<>();
    private final byte[][] pieces;
    private final int maxTokenLen;
    // SPM
    private final LongIntMap spmPairs;
    private final int[] byteTokens;
    // BPE
    private final BpeMerger merger;
    private final LlamaRegexSplitter splitter;
    private final Map<String, int[]> wordCache = new ConcurrentHashMap<>();

    public LlamaCppTokenizer(Vocabulary v) {
        this.type = v.type();
        this.text = v.tokens();
        this.score = v.scores();
        int n = text.length;
        this.attr = new int[n];
        this.tokenToId = new HashMap<>(n * 2);
        int maxLen = 0;
        for (int i = 0; i < n; i++) {
            tokenToId.put(text[i], i);
            maxLen = Math.max(maxLen, text[i].length());
            attr[i] = switch (v.tokenTypes()[i]) {
                case Vocabulary.TYPE_UNKNOWN -> ATTR_UNKNOWN;
                case Vocabulary.TYPE_UNUSED -> ATTR_UNUSED;
                case Vocabulary.TYPE_NORMAL -> ATTR_NORMAL;
                case Vocabulary.TYPE_CONTROL -> ATTR_CONTROL;
                case Vocabulary.TYPE_USER_DEFINED -> ATTR_USER_DEFINED;
                case Vocabulary.TYPE_BYTE -> ATTR_BYTE;
                default -> ATTR_UNDEFINED;
            };
        }
        this.maxTokenLen = maxLen;
        int[] sp = v.specialIds();
        this.bos = sp[Vocabulary.ID_BOS];
        this.eos = sp[Vocabulary.ID_EOS];
        this.unk = sp[Vocabulary.ID_UNK];
        this.sep = sp[Vocabulary.ID_SEP];
        this.addBos = v.addBos();
        this.addEos = v.addEos();
        this.addSpacePrefix = v.addSpacePrefix();

        if (type == Vocabulary.Type.BPE) {
            LlamaPreTokenizers.Pre pre = LlamaPreTokenizers.forName(v.pre());
            if (pre == null) {
                throw new ModelFormatException(v.file(), "key tokenizer.ggml.pre", "unknown pre-tokenizer type '" + v.pre() + "'");
            }
            this.cleanSpaces = pre.cleanSpaces();
            this.ignoreMerges = pre.ignoreMerges();
            this.splitter = new LlamaRegexSplitter(pre.regexes());
            this.merger = new BpeMerger(tokenToId, n,
                    BpeMerger.splitMerges(v.merges(), v.file(), "key tokenizer.ggml.merges"), true, v.file(),
                    "key tokenizer.ggml.merges");
        } else {
            this.cleanSpaces = type == Vocabulary.Type.WPM;
            this.ignoreMerges = false;
            this.splitter = null;
            this.merger = null;
        }

        // EOT / EOM detection by text, EOG set (llama_vocab::impl::load)
        int eotId = sp[Vocabulary.ID_EOT];
        int eomId = sp[Vocabulary.ID_EOM];
        Set<String> eotNames = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>");
        Set<String> eogNames = Set.of("<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
                "<|eom_id|>", "<EOT>", "_<EOT>");
        for (int i = 0; i < n; i++) {
            if (eotId < 0 && eotNames.contains(text[i])) {
                eotId = i;
                attr[i] |= ATTR_CONTROL;
            }
            if (eomId < 0 && text[i].equals("<|eom_id|>")) {
                eomId = i;
                attr[i] |= ATTR_CONTROL;
            }
        }
        for (int i = 0; i < n; i++) {
            if ((attr[i] & ATTR_CONTROL) != 0 && (attr[i] & ATTR_UNUSED) == 0 && text[i].contains("unused")) {
                attr[i] |= ATTR_UNUSED;
            }
            if (eogNames.contains(text[i])) {
                eog.add(i);
                attr[i] |= ATTR_CONTROL;
            }
        }
        this.eot = eotId;
        this.eom = eomId;
        for (int id : new int[] {eos, eot, eom}) {
            if (id >= 0) {
                eog.add(id);
            }
        }

        // special tokens cache: control, user-defined and unknown tokens, longest first
        List<Integer> special = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            if ((attr[i] & (ATTR_CONTROL | ATTR_USER_DEFINED | ATTR_UNKNOWN)) != 0) {
                special.add(i);
            }
        }
        special.sort((a, b) -> Integer.compare(text[b].getBytes(StandardCharsets.UTF_8).length,
                text[a].getBytes(StandardCharsets.UTF_8).length));
        this.specialCache = special.stream().mapToInt(Integer::intValue).toArray();

        // per-model attribute fix-ups
        String name = v.generalName().toLowerCase(java.util.Locale.ROOT);
        if (name.contains("phi-3") || name.contains("phi3")) {
            for (int id : specialCache) {
                attr[id] |= ATTR_RSTRIP;
            }
            setAttr("</s>", ATTR_RSTRIP, true);
            for (String t : new String[] {"<unk>", "<s>", "<|endoftext|>"}) {
                setAttr(t, ATTR_RSTRIP, false);
            }
        }

        if (type == Vocabulary.Type.SPM) {
            this.byteTokens = new int[256];
            for (int b = 0; b < 256; b++) {
                Integer id = tokenToId.get(String.format("<0x%02X>", b));
                if (id == null && b < 0x80) {
                    id = tokenToId.get(String.valueOf((char) b));
                }
                byteTokens[b] = id == null ? -1 : id;
            }
            this.spmPairs = buildSpmPairs();
        } else {
            this.byteTokens = null;
            this.spmPairs = null;
        }

        this.pieces = new byte[n][];
        for (int i = 0; i < n; i++) {
            pieces[i] = computePiece(i);
        }
    }

    private void setAttr(String token, int a, boolean on) {
        Integer id = tokenToId.get(token);
        if (id != null) {
            attr[id] = on ? attr[id] | a : attr[id] & ~a;
        }
    }

    /** All (left, right) -> token splits at code point boundaries where both halves are tokens. */
    private LongIntMap buildSpmPairs() {
        LongIntMap m = new LongIntMap(text.length * 4);
        for (int t = 0; t < text.length; t++) {
            String s = text[t];
            for (int k = Character.charCount(s.codePointAt(0)); k < s.length(); k += Character.charCount(s.codePointAt(k))) {
                Integer a = tokenToId.get(s.substring(0, k));
                if (a == null) {
                    continue;
                }
                Integer b = tokenToId.get(s.substring(k));
                if (b != null) {
                    m.putIfAbsent(LongIntMap.pair(a, b), t);
                }
            }
        }
        return m;
    }

    // ------------------------------------------------------------------ encode

    @Override
    public int[] encode(String raw, boolean addSpecial, boolean parseSpecial) {
        List<Object> fragments = partition(raw, parseSpecial);
        IntList out = new IntList(Math.max(16, raw.length() / 3));
        switch (type) {
            case SPM -> {
                boolean prevSpecial = true;
                if (addSpecial && addBos) {
                    out.add(bos);
                }
                for (Object f : fragments) {
                    if (f instanceof String s) {
                        String t = (addSpacePrefix && prevSpecial) ? " " + s : s;
                        spmTokenize(t.replace(' ', '\u2581'), out);
                        prevSpecial = false;
                    } else {
                        out.add((Integer) f);
                        prevSpecial = true;
                    }
                }
                if (addSpecial && addEos) {
                    out.add(eos);
                }
            }
            case BPE -> {
                if (addSpecial && addBos) {
                    out.add(bos);
                }
                for (Object f : fragments) {
                    if (f instanceof String s) {
                        bpeTokenize(s, out);
                    } else {
                        out.add((Integer) f);
                    }
                }
                if (addSpecial && addEos) {
                    out.add(eos);
                }
            }
            case WPM -> {
                if (addSpecial) {
                    out.add(bos);
                }
                for (Object f : fragments) {
                    if (f instanceof String s) {
                        wpmTokenize(s, out);
                    } else {
                        out.add((Integer) f);
                    }
                }
                if (addSpecial) {
                    out.add(sep);
                }
            }
        }
        return out.toArray();
    }

    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == 0x0B || c == '\f' || c == '\r';
    }

    /** llama.cpp's tokenizer_st_partition: Strings are raw text, Integers are token ids. */
    private List<Object> partition(String raw, boolean parseSpecial) {
        List<Object> buf = new ArrayList<>();
        if (raw.isEmpty()) {
            return buf;
        }
        buf.add(raw);
        for (int id : specialCache) {
            if (!parseSpecial && (attr[id] & (ATTR_CONTROL | ATTR_UNKNOWN)) != 0) {
                continue;
            }
            String tok = text[id];
            List<Object> next = null;
            for (int k = 0; k < buf.size(); k++) {
                Object f = buf.get(k);
                if (!(f instanceof String s) || s.indexOf(tok) < 0) {
                    if (next != null) {
                        next.add(f);
                    }
                    continue;
                }
                if (next == null) {
                    next = new ArrayList<>(buf.subList(0, k));
                }
                int off = 0;
                int end = s.length();
                while (true) {
                    int match = s.indexOf(tok, off);
                    if (match < 0) {
                        next.add(s.substring(off, end));
                        break;
                    }
                    if (match > off) {
                        int len = match - off;
                        if ((attr[id] & ATTR_LSTRIP) != 0) {
                            while (len > 0 && isSpace(s.charAt(off + len - 1))) {
                                len--;
                            }
                        }
                        if (len > 0) {
                            next.add(s.substring(off, off + len));
                        }
                    }
                    next.add(id);
                    off = match + tok.length();
                    if (off < end) {
                        if ((attr[id] & ATTR_RSTRIP) != 0) {
                            while (off < end && isSpace(s.charAt(off))) {
                                off++;
                            }
                        }
                        if (off >= end) {
                            break;
                        }
                    } else {
                        break;
                    }
                }
            }
            if (next != null) {
                buf = next;
            }
        }
        return buf;
    }

    // ---- SPM: llm_tokenizer_spm_session ----

    private void spmTokenize(String s, IntList out) {
        int n = s.codePointCount(0, s.length());
        if (n == 0) {
            return;
        }
        int[] start = new int[n + 1];
        int[] id = new int[n];
        int[] len = new int[n]; // in chars; 0 = merged away
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0, c = 0; i < n; i++) {
            int cp = s.codePointAt(c);
            int cl = Character.charCount(cp);
            start[i] = c;
            len[i] = cl;
            Integer t = tokenToId.get(s.substring(c, c + cl));
            id[i] = t == null ? -1 : t;
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            c += cl;
        }
        LongHeap heap = new LongHeap();
        for (int i = 1; i < n; i++) {
            spmAdd(heap, s, start, id, len, i - 1, i);
        }
        while (!heap.isEmpty()) {
            long e = heap.poll();
            int left = (int) e;
            if (len[left] == 0) {
                continue;
            }
            int right = next[left];
            if (right < 0) {
                continue;
            }
            int tok = spmLookup(s, start, id, len, left, right);
            if (tok < 0 || (int) (e >>> 32) != ~sortable(score[tok])) {
                continue;
            }
            id[left] = tok;
            len[left] += len[right];
            len[right] = 0;
            next[left] = next[right];
            if (next[right] >= 0) {
                prev[next[right]] = left;
            }
            if (prev[left] >= 0) {
                spmAdd(heap, s, start, id, len, prev[left], left);
            }
            if (next[left] >= 0) {
                spmAdd(heap, s, start, id, len, left, next[left]);
            }
        }
        for (int i = 0; i >= 0; i = next[i]) {
            if (id[i] >= 0) {
                out.add(id[i]);
            } else {
                for (byte b : s.substring(start[i], start[i] + len[i]).getBytes(StandardCharsets.UTF_8)) {
                    int bt = byteTokens[b & 0xFF];
                    if (bt < 0) {
                        throw new IllegalStateException("vocabulary has no byte token for 0x" + Integer.toHexString(b & 0xFF));
                    }
                    out.add(bt);
                }
            }
        }
    }

    private int spmLookup(String s, int[] start, int[] id, int[] len, int left, int right) {
        if (id[left] >= 0 && id[right] >= 0) {
            return spmPairs.get(LongIntMap.pair(id[left], id[right]));
        }
        Integer t = tokenToId.get(s.substring(start[left], start[right] + len[right]));
        return t == null ? -1 : t;
    }

    private void spmAdd(LongHeap heap, String s, int[] start, int[] id, int[] len, int left, int right) {
        int tok = spmLookup(s, start, id, len, left, right);
        if (tok < 0) {
            return;
        }
        // highest score first, then leftmost
        heap.add(((long) ~sortable(score[tok]) << 32) | left);
    }

    private static int sortable(float f) {
        int bits = Float.floatToIntBits(f);
        return bits ^ ((bits >> 31) & 0x7FFFFFFF);
    }

    // ---- BPE: llm_tokenizer_bpe_session ----

    private void bpeTokenize(String s, IntList out) {
        for (String word : splitter.split(s)) {
            String enc = Unicode.byteEncode(word);
            int[] ids = wordCache.get(enc);
            if (ids == null) {
                ids = bpeWord(enc);
                if (wordCache.size() > 200_000) {
                    wordCache.clear();
                }
                wordCache.put(enc, ids);
            }
            out.addAll(ids);
        }
    }

    private int[] bpeWord(String w) {
        if (ignoreMerges) {
            Integer t = tokenToId.get(w);
            if (t != null) {
                return new int[] {t};
            }
        }
        int[] sym = new int[w.length()];
        int n = 0;
        for (int i = 0; i < w.length(); i++) { // byte-level characters are all in the BMP
            Integer t = tokenToId.get(String.valueOf(w.charAt(i)));
            sym[n++] = t == null ? -1 - w.charAt(i) : t;
        }
        n = merger.merge(sym, n);
        IntList out = new IntList(n);
        for (int i = 0; i < n; i++) {
            int id = sym[i];
            if (id >= 0 && !merger.isPseudo(id)) {
                out.add(id);
                continue;
            }
            String str = id < 0 ? String.valueOf((char) (-1 - id)) : merger.pseudoText(id);
            for (byte b : str.getBytes(StandardCharsets.UTF_8)) {
                if (b >= 0) {
                    Integer t = tokenToId.get(String.valueOf((char) b));
                    if (t != null) {
                        out.add(t);
                    }
                }
            }
        }
        return out.toArray();
    }

    // ---- WPM: llm_tokenizer_wpm_session ----

    private void wpmTokenize(String s, IntList out) {
        for (String word : wpmPreprocess(s)) {
            String w = "\u2581" + word;
            int n = w.length();
            int before = out.size();
            for (int i = 0; i < n; i++) {
                boolean match = false;
                for (int j = Math.min(n, i + maxTokenLen + 1); j > i; j--) {
                    Integer id = tokenToId.get(w.substring(i, j));
                    if (id != null) {
                        out.add(id);
                        match = true;
                        i = j - 1;
                        break;
                    }
                }
                if (!match) { // discard all tokens of this word
                    out.truncate(before);
                    break;
                }
            }
            if (out.size() == before) {
                out.add(unk);
            }
        }
    }

    private static List<String> wpmPreprocess(String text) {
        List<String> words = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        for (int k = 0; k < text.length(); ) {
            int cp0 = text.codePointAt(k);
            k += Character.charCount(cp0);
            int cp = Unicode.nfdBase(cp0);
            if (Unicode.isWhitespace(cp)) {
                if (cur.length() > 0) {
                    words.add(cur.toString());
                    cur.setLength(0);
                }
                continue;
            }
            if (cp == 0 || cp == 0xFFFD || Unicode.isControl(cp)) {
                continue;
            }
            int lower = Unicode.toLower(cp);
            if (Unicode.isPunctuation(cp) || (cp < 0x7F && Unicode.isSymbol(cp)) || isChineseChar(cp)) {
                if (cur.length() > 0) {
                    words.add(cur.toString());
                    cur.setLength(0);
                }
                words.add(new String(Character.toChars(lower)));
            } else {
                cur.appendCodePoint(lower);
            }
        }
        if (cur.length() > 0) {
            words.add(cur.toString());
        }
        return words;
    }

    private static boolean isChineseChar(int cp) {
        return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF)
                || (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF)
                || (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
    }

    // ------------------------------------------------------------------ decode

    /** token_to_piece(special = true) without lstrip. */
    private byte[] computePiece(int id) {
        int a = attr[id];
        String t = text[id];
        if ((a & (ATTR_UNKNOWN | ATTR_CONTROL | ATTR_USER_DEFINED)) != 0) {
            return t.getBytes(StandardCharsets.UTF_8);
        }
        if ((a & ATTR_NORMAL) != 0) {
            if (type == Vocabulary.Type.BPE) {
                ByteArrayOutputStream o = new ByteArrayOutputStream(t.length());
                for (int i = 0; i < t.length(); ) {
                    int cp = t.codePointAt(i);
                    int cl = Character.charCount(cp);
                    int b = Unicode.charToByte(cp);
                    if (b >= 0) {
                        o.write(b);
                    } else {
                        byte[] u = t.substring(i, i + cl).getBytes(StandardCharsets.UTF_8);
                        StringBuilder sb = new StringBuilder("[UNK_BYTE_0x");
                        for (byte x : u) {
                            sb.append(String.format("%02x", x & 0xFF));
                        }
                        sb.append(t).append(']');
                        o.writeBytes(sb.toString().getBytes(StandardCharsets.UTF_8));
                    }
                    i += cl;
                }
                return o.toByteArray();
            }
            return t.replace('\u2581', ' ').getBytes(StandardCharsets.UTF_8);
        }
        if ((a & ATTR_BYTE) != 0 && type != Vocabulary.Type.WPM && t.length() >= 6) {
            return new byte[] {(byte) Integer.parseInt(t.substring(3, 5), 16)};
        }
        return new byte[0];
    }

    @Override
    void appendPiece(ByteArrayOutputStream out, int id, boolean first, boolean renderSpecial) {
        if (!renderSpecial && (attr[id] & (ATTR_UNKNOWN | ATTR_CONTROL)) != 0) {
            return;
        }
        byte[] p = pieces[id];
        int off = (first && addSpacePrefix && p.length > 0 && p[0] == ' ') ? 1 : 0;
        out.write(p, off, p.length - off);
    }

    @Override
    boolean hasCleanUp() {
        return cleanSpaces;
    }

    @Override
    String cleanUp(String s) {
        if (!cleanSpaces || s.isEmpty()) {
            return s;
        }
        char[] t = s.toCharArray();
        int total = t.length;
        // pass 1: " ?", " !", " .", " ,"
        int n1 = total;
        total = 1;
        for (int i = 1; i < n1; i++) {
            char x = t[i];
            if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) {
                total--;
            }
            t[total++] = x;
        }
        // pass 2: " ' "
        int n2 = total;
        total = 1;
        for (int i = 1; i < n2; i++) {
            char x = t[i];
            if (x == '\'' && i + 1 < n2 && t[i - 1] == ' ' && t[i + 1] == ' ') {
                total--;
                t[++i] = '\0';
            }
            t[total++] = x;
        }
        // pass 3: " 's", " 'm", " 're", " 've"
        int n3 = total;
        total = 1;
        for (int i = 1; i < n3; i++) {
            char x = t[i];
            if (t[i - 1] == ' ' && x == '\'' && i + 1 < n3) {
                char x1 = t[i + 1];
                if (x1 == 's' || x1 == 'm') {
                    total--;
                } else if (x1 != 't' && x1 != 'd' && i + 2 < n3) {
                    char x2 = t[i + 2];
                    if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) {
                        total--;
                    }
                }
            }
            t[total++] = x;
        }
        return new String(t, 0, total);
    }

    @Override
    public byte[] tokenBytes(int id) {
        checkId(id);
        return pieces[id].clone();
    }

    @Override
    public int vocabSize() {
        return text.length;
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

    /** The vocabulary text of a token (e.g. {@code ▁Once}, {@code <0x0A>}). */
    public String tokenText(int id) {
        checkId(id);
        return text[id];
    }

    Vocabulary.Type type() {
        return type;
    }

    static String hex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            sb.append(String.format("%02x", x & 0xFF));
        }
        return sb.toString();
    }

    @Override
    public String toString() {
        return "LlamaCppTokenizer[" + type + ", " + text.length + " tokens" + Arrays.toString(new int[] {bos, eos}) + "]";
    }
}
