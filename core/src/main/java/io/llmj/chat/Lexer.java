package io.llmj.chat;

import io.llmj.ChatTemplateException;
import java.util.ArrayList;
import java.util.List;

/**
 * Splits a template into tokens the way jinja2's lexer does with {@code trim_blocks=True,
 * lstrip_blocks=True, keep_trailing_newline=False}: newlines normalized to {@code \n}, one trailing
 * newline dropped, {@code -} and {@code +} whitespace control, the first newline after a block or
 * comment tag removed, and spaces/tabs before a block or comment tag at the start of a line removed.
 */
final class Lexer {
    enum Type { TEXT, VAR_BEGIN, VAR_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INT, FLOAT, OP, EOF }

    record Token(Type type, String text, Object value, int line, int col) {
        boolean is(Type t, String s) {
            return type == t && text.equals(s);
        }

        boolean isOp(String s) {
            return type == Type.OP && text.equals(s);
        }

        boolean isName(String s) {
            return type == Type.NAME && text.equals(s);
        }

        @Override
        public String toString() {
            return switch (type) {
                case EOF -> "end of template";
                case VAR_END -> "end of print statement";
                case BLOCK_END -> "end of statement block";
                case STRING -> "string";
                default -> "'" + text + "'";
            };
        }
    }

    private static final String[] OPS = {"**", "//", "==", "!=", ">=", "<=", "+", "-", "*", "/", "%", "~", "[", "]",
        "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";"};

    private final String src;
    private final int[] lineStarts;
    private final List<Token> out = new ArrayList<>();
    private int pos;

    private Lexer(String src) {
        this.src = src;
        List<Integer> starts = new ArrayList<>();
        starts.add(0);
        for (int i = 0; i < src.length(); i++) {
            if (src.charAt(i) == '\n') {
                starts.add(i + 1);
            }
        }
        lineStarts = starts.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Normalizes newlines and drops one trailing newline, as jinja2 does before lexing. */
    static String normalize(String source) {
        String s = source.replace("\r\n", "\n").replace('\r', '\n');
        if (s.endsWith("\n")) {
            s = s.substring(0, s.length() - 1);
        }
        return s;
    }

    static List<Token> tokenize(String normalizedSource) {
        Lexer lx = new Lexer(normalizedSource);
        lx.run();
        return lx.out;
    }

    int line(int offset) {
        int lo = 0;
        int hi = lineStarts.length - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (lineStarts[mid] <= offset) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo + 1;
    }

    int col(int offset) {
        return offset - lineStarts[line(offset) - 1] + 1;
    }

    private ChatTemplateException error(String msg, int offset) {
        return new ChatTemplateException(ChatTemplateException.Kind.SYNTAX, msg, line(offset), col(offset));
    }

    private void add(Type t, String text, Object value, int offset) {
        out.add(new Token(t, text, value, line(offset), col(offset)));
    }

    private void run() {
        int n = src.length();
        boolean lineStarting = true;
        while (pos < n) {
            int idx = nextTag(pos);
            if (idx < 0) {
                add(Type.TEXT, src.substring(pos), null, pos);
                break;
            }
            String text = src.substring(pos, idx);
            char kind = src.charAt(idx + 1);
            char sign = idx + 2 < n && (src.charAt(idx + 2) == '-' || src.charAt(idx + 2) == '+') ? src.charAt(idx + 2) : 0;
            if (sign == '-') {
                text = Py.rstrip(text, null);
            } else if (sign != '+' && kind != '{') {
                int lpos = text.lastIndexOf('\n') + 1;
                if ((lpos > 0 || lineStarting) && lpos < text.length() && allWhitespace(text, lpos)) {
                    text = text.substring(0, lpos);
                }
            }
            if (!text.isEmpty()) {
                add(Type.TEXT, text, null, pos);
            }
            int start = idx + 2 + (sign != 0 ? 1 : 0);
            if (kind == '#') {
                int j = src.indexOf("#}", start);
                while (j >= 0 && j == start - 1) {
                    j = src.indexOf("#}", j + 1);
                }
                if (j < 0) {
                    throw error("missing end of comment tag", idx);
                }
                int after = j + 2;
                char endSign = j - 1 >= start ? src.charAt(j - 1) : 0;
                if (endSign == '-') {
                    after = skipWhitespace(after);
                } else if (endSign != '+' && after < n && src.charAt(after) == '\n') {
                    after++;
                }
                pos = after;
            } else if (kind == '%' && isRaw(start)) {
                pos = raw(idx, start);
            } else {
                add(kind == '{' ? Type.VAR_BEGIN : Type.BLOCK_BEGIN, src.substring(idx, start), null, idx);
                pos = tag(kind == '{' ? '}' : '%', start, idx);
            }
            lineStarting = pos > 0 && src.charAt(pos - 1) == '\n';
        }
        add(Type.EOF, "", null, n);
    }

    private int nextTag(int from) {
        int i = src.indexOf('{', from);
        while (i >= 0 && i + 1 < src.length()) {
            char c = src.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
            i = src.indexOf('{', i + 1);
        }
        return -1;
    }

    private static boolean allWhitespace(String s, int from) {
        for (int i = from; i < s.length(); i++) {
            if (!Py.isSpace(s.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    private int skipWhitespace(int p) {
        while (p < src.length() && Py.isSpace(src.charAt(p))) {
            p++;
        }
        return p;
    }

    private boolean isRaw(int p) {
        p = skipWhitespace(p);
        if (!src.startsWith("raw", p)) {
            return false;
        }
        p = skipWhitespace(p + 3);
        if (p < src.length() && src.charAt(p) == '-') {
            p++;
        }
        return src.startsWith("%}", p);
    }

    /** {% raw %}...{% endraw %}: the body is text. Returns the position after the end tag. */
    private int raw(int tagStart, int p) {
        p = skipWhitespace(p) + 3;
        p = skipWhitespace(p);
        boolean stripAfter = src.charAt(p) == '-';
        if (stripAfter) {
            p++;
        }
        p += 2;
        if (stripAfter) { // jinja2 applies no trim_blocks after {% raw %}
            p = skipWhitespace(p);
        }
        int search = p;
        while (true) {
            int j = src.indexOf("{%", search);
            if (j < 0) {
                throw error("missing endraw tag", tagStart);
            }
            int q = j + 2;
            char sign = q < src.length() && (src.charAt(q) == '-' || src.charAt(q) == '+') ? src.charAt(q) : 0;
            if (sign != 0) {
                q++;
            }
            q = skipWhitespace(q);
            if (src.startsWith("endraw", q)) {
                q = skipWhitespace(q + 6);
                char endSign = q < src.length() && (src.charAt(q) == '-' || src.charAt(q) == '+') ? src.charAt(q) : 0;
                if (endSign != 0) {
                    q++;
                }
                if (src.startsWith("%}", q)) {
                    String body = src.substring(p, j);
                    if (sign == '-') {
                        body = Py.rstrip(body, null);
                    } else if (sign != '+') {
                        int lpos = body.lastIndexOf('\n') + 1;
                        if (lpos > 0 && lpos < body.length() && allWhitespace(body, lpos)) {
                            body = body.substring(0, lpos);
                        }
                    }
                    if (!body.isEmpty()) {
                        add(Type.TEXT, body, null, p);
                    }
                    q += 2;
                    if (endSign == '-') {
                        q = skipWhitespace(q);
                    } else if (endSign != '+' && q < src.length() && src.charAt(q) == '\n') {
                        q++;
                    }
                    return q;
                }
            }
            search = j + 2;
        }
    }

    /** Tokenizes the inside of a {{ }} or {% %} tag; returns the position after its end. */
    private int tag(char endChar, int p, int tagStart) {
        int n = src.length();
        int depth = 0;
        Type endType = endChar == '}' ? Type.VAR_END : Type.BLOCK_END;
        while (true) {
            while (p < n && Py.isSpace(src.charAt(p))) {
                p++;
            }
            if (p >= n) {
                throw error(endChar == '}' ? "unexpected end of template, expected '}}'" : "unexpected end of template, expected '%}'", tagStart);
            }
            if (depth == 0) {
                char c = src.charAt(p);
                if ((c == '-' || c == '+') && p + 2 < n + 0 && src.charAt(p + 1) == endChar && p + 2 < n && src.charAt(p + 2) == '}') {
                    if (c == '+' && endChar == '}') {
                        // "+}}" is not an end marker in jinja2; fall through to operator lexing
                    } else {
                        add(endType, src.substring(p, p + 3), null, p);
                        p += 3;
                        if (c == '-') {
                            return skipWhitespace(p);
                        }
                        return p;
                    }
                } else if (c == endChar && p + 1 < n && src.charAt(p + 1) == '}') {
                    add(endType, src.substring(p, p + 2), null, p);
                    p += 2;
                    if (endChar == '%' && p < n && src.charAt(p) == '\n') {
                        p++;
                    }
                    return p;
                }
            }
            char c = src.charAt(p);
            if (c == '\'' || c == '"') {
                p = string(p);
            } else if (Character.isDigit(c)) {
                p = number(p);
            } else if (Character.isLetter(c) || c == '_') {
                int s = p;
                while (p < n && (Character.isLetterOrDigit(src.charAt(p)) || src.charAt(p) == '_')) {
                    p++;
                }
                add(Type.NAME, src.substring(s, p), null, s);
            } else {
                String op = null;
                for (String o : OPS) {
                    if (src.startsWith(o, p)) {
                        op = o;
                        break;
                    }
                }
                if (op == null) {
                    throw error("unexpected char '" + c + "'", p);
                }
                if (op.equals("(") || op.equals("[") || op.equals("{")) {
                    depth++;
                } else if (op.equals(")") || op.equals("]") || op.equals("}")) {
                    if (depth == 0) {
                        throw error("unexpected '" + op + "'", p);
                    }
                    depth--;
                }
                add(Type.OP, op, null, p);
                p += op.length();
            }
        }
    }

    private int number(int p) {
        int s = p;
        int n = src.length();
        p = digits(p);
        boolean isFloat = false;
        if (p + 1 < n && src.charAt(p) == '.' && Character.isDigit(src.charAt(p + 1))) {
            isFloat = true;
            p = digits(p + 1);
        }
        if (p < n && (src.charAt(p) == 'e' || src.charAt(p) == 'E')) {
            int q = p + 1;
            if (q < n && (src.charAt(q) == '+' || src.charAt(q) == '-')) {
                q++;
            }
            if (q < n && Character.isDigit(src.charAt(q))) {
                isFloat = true;
                p = digits(q);
            }
        }
        String text = src.substring(s, p);
        String clean = text.replace("_", "");
        if (isFloat) {
            add(Type.FLOAT, text, Double.parseDouble(clean), s);
        } else {
            try {
                add(Type.INT, text, Long.parseLong(clean), s);
            } catch (NumberFormatException e) {
                throw error("integer literal too large", s);
            }
        }
        return p;
    }

    private int digits(int p) {
        int n = src.length();
        while (p < n && (Character.isDigit(src.charAt(p)) || (src.charAt(p) == '_' && p + 1 < n && Character.isDigit(src.charAt(p + 1))))) {
            p++;
        }
        return p;
    }

    /** A string literal with Python "unicode-escape" semantics for backslashes. */
    private int string(int p) {
        int s = p;
        char q = src.charAt(p++);
        StringBuilder sb = new StringBuilder();
        int n = src.length();
        while (true) {
            if (p >= n) {
                throw error("unterminated string", s);
            }
            char c = src.charAt(p);
            if (c == q) {
                p++;
                break;
            }
            if (c == '\\' && p + 1 < n) {
                char e = src.charAt(p + 1);
                p += 2;
                switch (e) {
                    case 'n' -> sb.append('\n');
                    case 't' -> sb.append('\t');
                    case 'r' -> sb.append('\r');
                    case '\\' -> sb.append('\\');
                    case '\'' -> sb.append('\'');
                    case '"' -> sb.append('"');
                    case 'a' -> sb.append('\u0007');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'v' -> sb.append('\u000b');
                    case '\n' -> { }
                    case 'x', 'u', 'U' -> {
                        int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                        if (p + len > n) {
                            throw error("truncated \\" + e + " escape", p - 2);
                        }
                        try {
                            int cp = Integer.parseInt(src.substring(p, p + len), 16);
                            sb.appendCodePoint(cp);
                        } catch (IllegalArgumentException ex) {
                            throw error("bad \\" + e + " escape", p - 2);
                        }
                        p += len;
                    }
                    default -> {
                        if (e >= '0' && e <= '7') {
                            int v = e - '0';
                            for (int k = 0; k < 2 && p < n && src.charAt(p) >= '0' && src.charAt(p) <= '7'; k++) {
                                v = v * 8 + (src.charAt(p++) - '0');
                            }
                            sb.append((char) v);
                        } else {
                            sb.append('\\').append(e);
                        }
                    }
                }
                continue;
            }
            sb.append(c);
            p++;
        }
        add(Type.STRING, src.substring(s, p), sb.toString(), s);
        return p;
    }
}
