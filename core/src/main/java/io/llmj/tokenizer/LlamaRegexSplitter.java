package io.llmj.tokenizer;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Splits text into pre-tokens the way llama.cpp's {@code unicode_regex_split} does: each regex of a
 * list splits every piece from the previous step into matches and the gaps between them. The GPT-2
 * and Llama-3 patterns use hand-written splitters (as llama.cpp does); other patterns that use
 * {@code \p{L}}, {@code \p{N}} or {@code \p{P}} run on a "collapsed" text where each non-ASCII code
 * point is replaced by a marker for its category (letter, number, punctuation, other; whitespace
 * becomes U+000B), exactly reproducing llama.cpp's ASCII-only {@code std::regex} results. Offsets
 * are counted in code points.
 */
final class LlamaRegexSplitter {
    static final String GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
    static final String LLAMA3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    static final String LLAMA3_ORIG = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private static final char C_OTHER = '\u00D0';
    private static final char C_NUMBER = '\u00D1';
    private static final char C_LETTER = '\u00D2';
    private static final char C_PUNCT = '\u00D3';

    private final List<String> exprs;
    private final Pattern[] patterns; // null for custom splitters
    private final boolean[] collapsed;

    LlamaRegexSplitter(List<String> regexExprs) {
        this.exprs = List.copyOf(regexExprs);
        this.patterns = new Pattern[exprs.size()];
        this.collapsed = new boolean[exprs.size()];
        for (int i = 0; i < exprs.size(); i++) {
            String e = exprs.get(i);
            if (e.equals(GPT2) || e.equals(LLAMA3) || e.equals(LLAMA3_ORIG)) {
                continue;
            }
            boolean useCollapsed = e.contains("\\p{N}") || e.contains("\\p{L}") || e.contains("\\p{P}");
            collapsed[i] = useCollapsed;
            String j = useCollapsed ? collapseRegex(e) : e;
            if (j.endsWith("$") && !j.endsWith("\\$")) {
                j = j.substring(0, j.length() - 1) + "\\z";
            }
            patterns[i] = Pattern.compile(j);
        }
    }

    /** The pre-token pieces of {@code text} (not byte-encoded). */
    List<String> split(String text) {
        int[] cpts = text.codePoints().toArray();
        int n = cpts.length;
        // code point index -> char index
        int[] charAt = new int[n + 1];
        for (int i = 0, c = 0; i < n; i++) {
            charAt[i] = c;
            c += Character.charCount(cpts[i]);
            charAt[i + 1] = c;
        }
        IntList offsets = new IntList();
        offsets.add(n);
        String collapsedText = null;
        String wideText = null;
        int[] charToCp = null;
        for (int r = 0; r < exprs.size(); r++) {
            String e = exprs.get(r);
            IntList out = new IntList();
            if (patterns[r] == null) {
                if (e.equals(GPT2)) {
                    splitGpt2(cpts, offsets, out);
                } else {
                    splitLlama3(cpts, offsets, out);
                }
            } else if (collapsed[r]) {
                if (collapsedText == null) {
                    collapsedText = collapse(cpts);
                }
                splitRegex(patterns[r], collapsedText, null, offsets, out);
            } else {
                if (wideText == null) {
                    StringBuilder sb = new StringBuilder(text.length());
                    charToCp = new int[text.length() + 1];
                    for (int i = 0; i < n; i++) {
                        int cp = cpts[i];
                        if (cp > 0x7F && Unicode.isWhitespace(cp)) {
                            cp = 0x0B;
                        }
                        charToCp[sb.length()] = i;
                        sb.appendCodePoint(cp);
                    }
                    charToCp[sb.length()] = n;
                    wideText = sb.toString();
                }
                splitRegexWide(patterns[r], wideText, charAt, charToCp, offsets, out);
            }
            offsets = out;
        }
        List<String> words = new ArrayList<>(offsets.size());
        int start = 0;
        for (int i = 0; i < offsets.size(); i++) {
            int len = offsets.get(i);
            if (len > 0) {
                words.add(text.substring(charAt[start], charAt[start + len]));
            }
            start += len;
        }
        return words;
    }

    private static String collapse(int[] cpts) {
        char[] c = new char[cpts.length];
        for (int i = 0; i < cpts.length; i++) {
            int cp = cpts[i];
            if (cp <= 127) {
                c[i] = (char) cp;
            } else if (Unicode.isWhitespace(cp)) {
                c[i] = 0x0B;
            } else if (Unicode.isLetter(cp)) {
                c[i] = C_LETTER;
            } else if (Unicode.isNumber(cp)) {
                c[i] = C_NUMBER;
            } else if (Unicode.isPunctuation(cp)) {
                c[i] = C_PUNCT;
            } else {
                c[i] = C_OTHER;
            }
        }
        return new String(c);
    }

    /** Replaces the category classes by the collapsed markers plus their ASCII members (as llama.cpp does). */
    static String collapseRegex(String e) {
        StringBuilder sb = new StringBuilder();
        boolean inside = false;
        for (int i = 0; i < e.length(); i++) {
            char ch = e.charAt(i);
            if (ch == '[' && (i == 0 || e.charAt(i - 1) != '\\')) {
                sb.append('[');
                inside = true;
                continue;
            }
            if (inside && ch == ']' && e.charAt(i - 1) != '\\') {
                sb.append(']');
                inside = false;
                continue;
            }
            if (ch == '\\' && i + 4 < e.length() && e.charAt(i + 1) == 'p' && e.charAt(i + 2) == '{' && e.charAt(i + 4) == '}') {
                String members = switch (e.charAt(i + 3)) {
                    case 'N' -> C_NUMBER + "0-9";
                    case 'L' -> C_LETTER + "A-Za-z";
                    case 'P' -> C_PUNCT + "!-#%-*,-/:-;?-@\\[-\\]_\\{\\}";
                    default -> null;
                };
                if (members != null) {
                    sb.append(inside ? members : "[" + members + "]");
                    i += 4;
                    continue;
                }
            }
            sb.append(ch);
        }
        return sb.toString();
    }

    /** Text indices equal code point indices (collapsed text). */
    private static void splitRegex(Pattern p, String text, int[] unused, IntList offsets, IntList out) {
        Matcher m = p.matcher(text);
        int start = 0;
        for (int k = 0; k < offsets.size(); k++) {
            int len = offsets.get(k);
            int end = start + len;
            m.region(start, end);
            int pos = start;
            while (m.find()) {
                if (m.end() == m.start()) {
                    continue;
                }
                if (m.start() > pos) {
                    out.add(m.start() - pos);
                }
                out.add(m.end() - m.start());
                pos = m.end();
            }
            if (pos < end) {
                out.add(end - pos);
            }
            start = end;
        }
    }

    private static void splitRegexWide(Pattern p, String text, int[] charAt, int[] charToCp, IntList offsets, IntList out) {
        Matcher m = p.matcher(text);
        int start = 0;
        for (int k = 0; k < offsets.size(); k++) {
            int len = offsets.get(k);
            int end = start + len;
            m.region(charAt[start], charAt[end]);
            int pos = start;
            while (m.find()) {
                if (m.end() == m.start()) {
                    continue;
                }
                int ms = charToCp[m.start()];
                int me = charToCp[m.end()];
                if (ms > pos) {
                    out.add(ms - pos);
                }
                out.add(me - ms);
                pos = me;
            }
            if (pos < end) {
                out.add(end - pos);
            }
            start = end;
        }
    }

    // ---- llama.cpp's hand-written splitters ----

    private static final int OUT_OF_RANGE = -1;

    private static final class Cursor {
        final int[] cpts;
        final int ini;
        final int end;
        final IntList out;
        int prevEnd;

        Cursor(int[] cpts, int ini, int end, IntList out) {
            this.cpts = cpts;
            this.ini = ini;
            this.end = end;
            this.out = out;
            this.prevEnd = ini;
        }

        int cpt(int pos) {
            return pos >= ini && pos < end ? cpts[pos] : OUT_OF_RANGE;
        }

        boolean in(int pos) {
            return pos >= ini && pos < end;
        }

        boolean letter(int pos) {
            return in(pos) && Unicode.isLetter(cpts[pos]);
        }

        boolean number(int pos) {
            return in(pos) && Unicode.isNumber(cpts[pos]);
        }

        boolean space(int pos) {
            return in(pos) && Unicode.isWhitespace(cpts[pos]);
        }

        boolean defined(int pos) {
            return in(pos) && Unicode.isDefined(cpts[pos]);
        }

        /** [^\s\p{L}\p{N}] with llama.cpp's "flags non-zero" condition. */
        boolean other(int pos) {
            return in(pos) && !Unicode.isWhitespace(cpts[pos]) && !Unicode.isLetter(cpts[pos])
                    && !Unicode.isNumber(cpts[pos]) && Unicode.isDefined(cpts[pos]);
        }

        int addToken(int endPos) {
            int len = endPos - prevEnd;
            if (len > 0) {
                out.add(len);
            }
            prevEnd = endPos;
            return len;
        }
    }

    private static void splitGpt2(int[] cpts, IntList offsets, IntList out) {
        int start = 0;
        for (int k = 0; k < offsets.size(); k++) {
            int ini = start;
            int end = start + offsets.get(k);
            start = end;
            Cursor c = new Cursor(cpts, ini, end, out);
            for (int pos = ini; pos < end; ) {
                int cpt = c.cpt(pos);
                if (cpt == '\'' && pos + 1 < end) {
                    int n1 = c.cpt(pos + 1);
                    if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                        pos += c.addToken(pos + 2);
                        continue;
                    }
                    if (pos + 2 < end) {
                        int n2 = c.cpt(pos + 2);
                        if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                            pos += c.addToken(pos + 3);
                            continue;
                        }
                    }
                }
                int p2 = cpt == ' ' ? pos + 1 : pos;
                if (c.letter(p2)) {
                    pos = p2;
                    while (c.letter(pos)) {
                        pos++;
                    }
                    c.addToken(pos);
                    continue;
                }
                if (c.number(p2)) {
                    pos = p2;
                    while (c.number(pos)) {
                        pos++;
                    }
                    c.addToken(pos);
                    continue;
                }
                if (c.other(p2)) {
                    pos = p2;
                    while (c.other(pos)) {
                        pos++;
                    }
                    c.addToken(pos);
                    continue;
                }
                int nws = 0;
                while (c.space(pos + nws)) {
                    nws++;
                }
                if (nws > 1 && c.cpt(pos + nws) != OUT_OF_RANGE) {
                    pos += nws - 1;
                    c.addToken(pos);
                    continue;
                }
                if (nws > 0) {
                    pos += nws;
                    c.addToken(pos);
                    continue;
                }
                c.addToken(++pos);
            }
        }
    }

    private static void splitLlama3(int[] cpts, IntList offsets, IntList out) {
        int start = 0;
        for (int k = 0; k < offsets.size(); k++) {
            int ini = start;
            int end = start + offsets.get(k);
            start = end;
            Cursor c = new Cursor(cpts, ini, end, out);
            for (int pos = ini; pos < end; ) {
                int cpt = c.cpt(pos);
                if (cpt == '\'' && pos + 1 < end) {
                    int n1 = lower(c.cpt(pos + 1));
                    if (n1 == 's' || n1 == 't' || n1 == 'm' || n1 == 'd') {
                        pos += c.addToken(pos + 2);
                        continue;
                    }
                    if (pos + 2 < end) {
                        int n2 = lower(c.cpt(pos + 2));
                        if ((n1 == 'r' && n2 == 'e') || (n1 == 'v' && n2 == 'e') || (n1 == 'l' && n2 == 'l')) {
                            pos += c.addToken(pos + 3);
                            continue;
                        }
                    }
                }
                // [^\r\n\p{L}\p{N}]?\p{L}+
                if (!(cpt == '\r' || cpt == '\n' || c.number(pos))) {
                    if (c.letter(pos) || c.letter(pos + 1)) {
                        pos++;
                        while (c.letter(pos)) {
                            pos++;
                        }
                        c.addToken(pos);
                        continue;
                    }
                }
                // \p{N}{1,3}
                if (c.number(pos)) {
                    int i0 = pos;
                    while (c.number(pos)) {
                        if (++pos - i0 >= 3) {
                            c.addToken(pos);
                            i0 = pos;
                        }
                    }
                    c.addToken(pos);
                    continue;
                }
                // <space>?[^\s\p{L}\p{N}]+[\r\n]*
                int p2 = cpt == ' ' ? pos + 1 : pos;
                if (!c.space(p2) && !c.letter(p2) && !c.number(p2) && c.defined(pos)) { // llama.cpp tests flags of pos here
                    pos = p2;
                    while (c.other(pos)) {
                        pos++;
                    }
                    int c2 = c.cpt(pos);
                    while (c2 == '\r' || c2 == '\n') {
                        c2 = c.cpt(++pos);
                    }
                    c.addToken(pos);
                    continue;
                }
                int nws = 0;
                int lastRN = 0;
                while (c.space(pos + nws)) {
                    int c2 = c.cpt(pos + nws);
                    if (c2 == '\r' || c2 == '\n') {
                        lastRN = pos + nws + 1;
                    }
                    nws++;
                }
                if (lastRN > 0) {
                    pos = lastRN;
                    c.addToken(pos);
                    continue;
                }
                if (nws > 1 && c.cpt(pos + nws) != OUT_OF_RANGE) {
                    pos += nws - 1;
                    c.addToken(pos);
                    continue;
                }
                if (nws > 0) {
                    pos += nws;
                    c.addToken(pos);
                    continue;
                }
                c.addToken(++pos);
            }
        }
    }

    private static int lower(int cp) {
        return cp < 0 ? cp : Unicode.toLower(cp);
    }
}
