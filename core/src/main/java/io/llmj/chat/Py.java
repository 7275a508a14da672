package io.llmj.chat;

import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * Python value semantics for template values: {@code null} is None, {@link Undefined} is jinja2's
 * Undefined, Long/Double are int/float, Boolean, String, List (list and tuple), Map (dict),
 * {@link Namespace}, {@link Callable}.
 */
final class Py {
    private Py() {}

    /** A callable template value: macro, global function, bound method. */
    interface Callable {
        Object call(List<Object> args, Map<String, Object> kwargs);
    }

    /** jinja2's default Undefined: prints as empty, is falsy, iterates as empty; other uses fail. */
    record Undefined(String name) {
        @Override
        public String toString() {
            return "";
        }
    }

    /** A Python tuple: a list that prints with parentheses. */
    static final class Tuple extends ArrayList<Object> {
        Tuple(java.util.Collection<?> items) {
            super(items);
        }
    }

    /**
     * A Python generator or iterator, as jinja2's select/reject/map/items filters and reverse return:
     * computed on first use (so errors surface where Python would raise them), consumed by
     * iteration, always truthy, without len().
     */
    static final class Generator {
        final String kind;
        private java.util.function.Supplier<List<Object>> source;
        private List<Object> items;
        private int pos;

        Generator(String kind, java.util.function.Supplier<List<Object>> source) {
            this.kind = kind;
            this.source = source;
        }

        private List<Object> items() {
            if (items == null) {
                items = source.get();
                source = null;
            }
            return items;
        }

        /** The remaining items; the generator is exhausted afterwards. */
        List<Object> drain() {
            List<Object> l = items();
            List<Object> rest = new ArrayList<>(l.subList(pos, l.size()));
            pos = l.size();
            return rest;
        }

        /** The next item, or null when exhausted (check {@link #exhausted()} first). */
        boolean exhausted() {
            return pos >= items().size();
        }

        Object next() {
            return items().get(pos++);
        }
    }

    /** dict.keys()/values()/items(): a list that prints as Python's view does. */
    static final class View extends ArrayList<Object> {
        final String kind;

        View(String kind, java.util.Collection<?> items) {
            super(items);
            this.kind = kind;
        }
    }

    /** jinja2's namespace(): an object whose attributes can be assigned with {% set ns.x = ... %}. */
    static final class Namespace {
        final Map<String, Object> attrs = new java.util.LinkedHashMap<>();
    }

    /** Thrown for Python-level errors (TypeError, UndefinedError ...); the interpreter adds the position. */
    static final class PyError extends RuntimeException {
        PyError(String msg) {
            super(msg, null, false, false);
        }
    }

    static boolean isSpace(int c) {
        return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f) || c == 0x85 || c == 0xa0
                || (c > 0xff && (Character.isWhitespace(c) || Character.isSpaceChar(c)));
    }

    private static boolean strips(int c, String chars) {
        return chars == null ? isSpace(c) : chars.indexOf(c) >= 0;
    }

    static String rstrip(String s, String chars) {
        int e = s.length();
        while (e > 0 && strips(s.charAt(e - 1), chars)) {
            e--;
        }
        return s.substring(0, e);
    }

    static String lstrip(String s, String chars) {
        int b = 0;
        while (b < s.length() && strips(s.charAt(b), chars)) {
            b++;
        }
        return s.substring(b);
    }

    static String strip(String s, String chars) {
        return lstrip(rstrip(s, chars), chars);
    }

    static String typeName(Object v) {
        if (v == null) {
            return "NoneType";
        }
        if (v instanceof Undefined) {
            return "Undefined";
        }
        if (v instanceof Boolean) {
            return "bool";
        }
        if (v instanceof Long) {
            return "int";
        }
        if (v instanceof Double) {
            return "float";
        }
        if (v instanceof String) {
            return "str";
        }
        if (v instanceof Tuple) {
            return "tuple";
        }
        if (v instanceof View view) {
            return view.kind;
        }
        if (v instanceof Generator g) {
            return g.kind;
        }
        if (v instanceof List) {
            return "list";
        }
        if (v instanceof Map) {
            return "dict";
        }
        if (v instanceof Namespace) {
            return "Namespace";
        }
        if (v instanceof Callable) {
            return "function";
        }
        return v.getClass().getSimpleName();
    }

    static boolean truthy(Object v) {
        if (v == null || v instanceof Undefined) {
            return false;
        }
        if (v instanceof Boolean b) {
            return b;
        }
        if (v instanceof Long l) {
            return l != 0;
        }
        if (v instanceof Double d) {
            return d != 0.0;
        }
        if (v instanceof String s) {
            return !s.isEmpty();
        }
        if (v instanceof List<?> l) {
            return !l.isEmpty();
        }
        if (v instanceof Map<?, ?> m) {
            return !m.isEmpty();
        }
        return true;
    }

    /** Python str(). */
    static String str(Object v) {
        if (v instanceof String s) {
            return s;
        }
        if (v instanceof Undefined) {
            return "";
        }
        return repr(v);
    }

    /** Python repr(). */
    static String repr(Object v) {
        if (v == null) {
            return "None";
        }
        if (v instanceof Boolean b) {
            return b ? "True" : "False";
        }
        if (v instanceof Long l) {
            return l.toString();
        }
        if (v instanceof Double d) {
            return floatRepr(d);
        }
        if (v instanceof String s) {
            return strRepr(s);
        }
        if (v instanceof Undefined) {
            return "";
        }
        if (v instanceof View view) {
            StringBuilder sb = new StringBuilder(view.kind).append("([");
            for (int i = 0; i < view.size(); i++) {
                sb.append(i > 0 ? ", " : "").append(repr(view.get(i)));
            }
            return sb.append("])").toString();
        }
        if (v instanceof Generator g) {
            return "<" + (g.kind.equals("generator") ? "generator object" : g.kind + " object") + ">";
        }
        if (v instanceof List<?> l) {
            boolean tuple = v instanceof Tuple;
            StringBuilder sb = new StringBuilder(tuple ? "(" : "[");
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    sb.append(", ");
                }
                sb.append(repr(l.get(i)));
            }
            if (tuple && l.size() == 1) {
                sb.append(',');
            }
            return sb.append(tuple ? ')' : ']').toString();
        }
        if (v instanceof Map<?, ?> m) {
            StringBuilder sb = new StringBuilder("{");
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    sb.append(", ");
                }
                first = false;
                sb.append(repr(e.getKey())).append(": ").append(repr(e.getValue()));
            }
            return sb.append('}').toString();
        }
        if (v instanceof Namespace ns) {
            return "<Namespace " + repr(ns.attrs) + ">";
        }
        return "<" + typeName(v) + ">";
    }

    static String strRepr(String s) {
        char q = s.indexOf('\'') >= 0 && s.indexOf('"') < 0 ? '"' : '\'';
        StringBuilder sb = new StringBuilder().append(q);
        s.codePoints().forEach(c -> {
            if (c == q || c == '\\') {
                sb.append('\\').appendCodePoint(c);
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c == '\r') {
                sb.append("\\r");
            } else if (c == '\t') {
                sb.append("\\t");
            } else if (c < 0x20 || c == 0x7f) {
                sb.append(String.format("\\x%02x", c));
            } else {
                sb.appendCodePoint(c);
            }
        });
        return sb.append(q).toString();
    }

    /** Python's repr of a float: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
    static String floatRepr(double d) {
        if (Double.isNaN(d)) {
            return "nan";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "inf" : "-inf";
        }
        if (d == 0) {
            return (1 / d < 0) ? "-0.0" : "0.0";
        }
        BigDecimal bd = new BigDecimal(Double.toString(d)).stripTrailingZeros();
        String digits = bd.unscaledValue().abs().toString();
        int exp = digits.length() - 1 - bd.scale(); // decimal exponent of the first digit
        String sign = d < 0 ? "-" : "";
        if (exp < -4 || exp >= 16) {
            String mant = digits.length() == 1 ? digits : digits.charAt(0) + "." + digits.substring(1);
            return sign + mant + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
        }
        String plain = bd.abs().toPlainString();
        if (!plain.contains(".")) {
            plain += ".0";
        }
        return sign + plain;
    }

    static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Double || v instanceof Boolean;
    }

    static boolean isInt(Object v) {
        return v instanceof Long || v instanceof Boolean;
    }

    static long toLong(Object v) {
        if (v instanceof Boolean b) {
            return b ? 1 : 0;
        }
        return ((Number) v).longValue();
    }

    static double toDouble(Object v) {
        if (v instanceof Boolean b) {
            return b ? 1 : 0;
        }
        return ((Number) v).doubleValue();
    }

    static boolean eq(Object a, Object b) {
        if (a == b) {
            return true;
        }
        if (a == null || b == null) {
            return false;
        }
        if (a instanceof Undefined || b instanceof Undefined) {
            return a instanceof Undefined && b instanceof Undefined;
        }
        if (isNumber(a) && isNumber(b)) {
            if (isInt(a) && isInt(b)) {
                return toLong(a) == toLong(b);
            }
            return toDouble(a) == toDouble(b);
        }
        if (a instanceof String && b instanceof String) {
            return a.equals(b);
        }
        if (a instanceof List<?> la && b instanceof List<?> lb) {
            if (la.size() != lb.size() || !sameSequenceType(a, b)) {
                return false;
            }
            for (int i = 0; i < la.size(); i++) {
                if (!eq(la.get(i), lb.get(i))) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof Map<?, ?> ma && b instanceof Map<?, ?> mb) {
            if (ma.size() != mb.size()) {
                return false;
            }
            for (Map.Entry<?, ?> e : ma.entrySet()) {
                if (!mb.containsKey(e.getKey()) || !eq(e.getValue(), mb.get(e.getKey()))) {
                    return false;
                }
            }
            return true;
        }
        return false;
    }

    /** Python ordering for <, <=, >, >=; a TypeError for values that do not order. */
    static int compare(Object a, Object b, String op) {
        if (isNumber(a) && isNumber(b)) {
            if (isInt(a) && isInt(b)) {
                return Long.compare(toLong(a), toLong(b));
            }
            return Double.compare(toDouble(a), toDouble(b));
        }
        if (a instanceof String sa && b instanceof String sb) {
            return compareCodePoints(sa, sb);
        }
        if (a instanceof List<?> la && b instanceof List<?> lb && sameSequenceType(a, b) && !(a instanceof View)) {
            for (int i = 0; i < Math.min(la.size(), lb.size()); i++) {
                if (!eq(la.get(i), lb.get(i))) {
                    return compare(la.get(i), lb.get(i), op);
                }
            }
            return Integer.compare(la.size(), lb.size());
        }
        if (a instanceof Undefined || b instanceof Undefined) {
            throw undefinedError(a instanceof Undefined u ? u : (Undefined) b);
        }
        throw new PyError("'" + op + "' not supported between instances of '" + typeName(a) + "' and '" + typeName(b) + "'");
    }

    /** list == tuple is False in Python, and they do not order against each other. */
    private static boolean sameSequenceType(Object a, Object b) {
        if (a instanceof View || b instanceof View) {
            return a instanceof View va2 && b instanceof View vb && va2.kind.equals(vb.kind);
        }
        return (a instanceof Tuple) == (b instanceof Tuple);
    }

    private static int compareCodePoints(String a, String b) {
        Iterator<Integer> ia = a.codePoints().iterator();
        Iterator<Integer> ib = b.codePoints().iterator();
        while (ia.hasNext() && ib.hasNext()) {
            int c = Integer.compare(ia.next(), ib.next());
            if (c != 0) {
                return c;
            }
        }
        return Boolean.compare(ia.hasNext(), ib.hasNext());
    }

    static PyError undefinedError(Undefined u) {
        return new PyError(u.name() == null ? "value is undefined" : u.name());
    }

    /** Python's {@code x in container}. */
    static boolean contains(Object container, Object item) {
        if (container instanceof String s) {
            if (!(item instanceof String i)) {
                throw new PyError("'in <string>' requires string as left operand, not " + typeName(item));
            }
            return s.contains(i);
        }
        if (container instanceof List<?> l) {
            for (Object o : l) {
                if (eq(o, item)) {
                    return true;
                }
            }
            return false;
        }
        if (container instanceof Map<?, ?> m) {
            if ((item instanceof List && !(item instanceof Tuple)) || item instanceof Map) {
                throw new PyError("unhashable type: '" + typeName(item) + "'");
            }
            return m.containsKey(item) || (item instanceof Long || item instanceof Boolean) && m.keySet().stream().anyMatch(k -> eq(k, item));
        }
        if (container instanceof Undefined) {
            return false;
        }
        if (container instanceof Generator g) {
            while (!g.exhausted()) {
                if (eq(g.next(), item)) {
                    return true;
                }
            }
            return false;
        }
        throw new PyError("argument of type '" + typeName(container) + "' is not iterable");
    }

    /** Python iteration: lists, dict keys, string characters; Undefined is empty. */
    static List<Object> iterate(Object v) {
        if (v instanceof Generator g) {
            return g.drain();
        }
        if (v instanceof List<?> l) {
            return new ArrayList<>(l);
        }
        if (v instanceof Map<?, ?> m) {
            return new ArrayList<>(m.keySet());
        }
        if (v instanceof String s) {
            return chars(s);
        }
        if (v instanceof Undefined) {
            return new ArrayList<>();
        }
        throw new PyError("'" + typeName(v) + "' object is not iterable");
    }

    static List<Object> chars(String s) {
        List<Object> out = new ArrayList<>();
        s.codePoints().forEach(c -> out.add(new String(Character.toChars(c))));
        return out;
    }

    static int length(Object v) {
        if (v instanceof String s) {
            return s.codePointCount(0, s.length());
        }
        if (v instanceof List<?> l) {
            return l.size();
        }
        if (v instanceof Map<?, ?> m) {
            return m.size();
        }
        if (v instanceof Undefined) {
            return 0;
        }
        throw new PyError("object of type '" + typeName(v) + "' has no len()");
    }

    /** Python json.dumps(v, ensure_ascii=False, indent=indent, sort_keys=False) as HF's tojson filter does. */
    static String toJson(Object v, Integer indent) {
        StringBuilder sb = new StringBuilder();
        json(sb, v, indent, 0);
        return sb.toString();
    }

    private static void json(StringBuilder sb, Object v, Integer indent, int level) {
        if (level > 500) {
            throw new PyError("maximum recursion depth exceeded in tojson");
        }
        if (v == null) {
            sb.append("null");
        } else if (v instanceof Boolean b) {
            sb.append(b ? "true" : "false");
        } else if (v instanceof Long l) {
            sb.append(l);
        } else if (v instanceof Double d) {
            sb.append(Double.isNaN(d) ? "NaN" : Double.isInfinite(d) ? (d > 0 ? "Infinity" : "-Infinity") : floatRepr(d));
        } else if (v instanceof String s) {
            jsonString(sb, s);
        } else if (v instanceof List<?> l && !(v instanceof View)) {
            if (l.isEmpty()) {
                sb.append("[]");
                return;
            }
            sb.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) {
                    sb.append(indent == null ? ", " : ",");
                }
                newline(sb, indent, level + 1);
                json(sb, l.get(i), indent, level + 1);
            }
            newline(sb, indent, level);
            sb.append(']');
        } else if (v instanceof Map<?, ?> m) {
            if (m.isEmpty()) {
                sb.append("{}");
                return;
            }
            sb.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> e : m.entrySet()) {
                if (!first) {
                    sb.append(indent == null ? ", " : ",");
                }
                first = false;
                newline(sb, indent, level + 1);
                Object k = e.getKey();
                String key;
                if (k instanceof String s) {
                    key = s;
                } else if (k == null) {
                    key = "null";
                } else if (k instanceof Boolean b) {
                    key = b ? "true" : "false";
                } else if (k instanceof Long || k instanceof Double) {
                    key = repr(k);
                } else {
                    throw new PyError("keys must be str, int, float, bool or None, not " + typeName(k));
                }
                jsonString(sb, key);
                sb.append(": ");
                json(sb, e.getValue(), indent, level + 1);
            }
            newline(sb, indent, level);
            sb.append('}');
        } else {
            throw new PyError("Object of type " + typeName(v) + " is not JSON serializable");
        }
    }

    private static void newline(StringBuilder sb, Integer indent, int level) {
        if (indent != null) {
            sb.append('\n').append(" ".repeat(indent * level));
        }
    }

    private static void jsonString(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
