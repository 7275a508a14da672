package io.llmj.chat;

import io.llmj.chat.Py.PyError;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.List;
import java.util.Map;

/** Python's printf-style {@code str % args} and {@code str.format(...)} for the common conversions. */
final class Format {
    private Format() {}

    /** {@code fmt % arg}: a tuple gives positional arguments, a dict named ones ({@code %(name)s}). */
    static String percent(String fmt, Object arg) {
        List<?> args = arg instanceof Py.Tuple t ? t : List.of(arg == null ? NONE : arg);
        StringBuilder sb = new StringBuilder();
        int next = 0;
        boolean usedMapping = false;
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c != '%') {
                sb.append(c);
                continue;
            }
            if (++i >= fmt.length()) {
                throw new PyError("incomplete format");
            }
            Object value;
            String key = null;
            if (fmt.charAt(i) == '(') {
                int close = fmt.indexOf(')', i);
                if (close < 0) {
                    throw new PyError("incomplete format key");
                }
                key = fmt.substring(i + 1, close);
                i = close + 1;
            }
            int specStart = i;
            while (i < fmt.length() && "-+ #0".indexOf(fmt.charAt(i)) >= 0) {
                i++;
            }
            while (i < fmt.length() && (Character.isDigit(fmt.charAt(i)) || fmt.charAt(i) == '.')) {
                i++;
            }
            if (i >= fmt.length()) {
                throw new PyError("incomplete format");
            }
            char type = fmt.charAt(i);
            if (type == '%') {
                sb.append('%');
                continue;
            }
            if (key != null) {
                if (!(arg instanceof Map<?, ?> m)) {
                    throw new PyError("format requires a mapping");
                }
                usedMapping = true;
                value = m.containsKey(key) ? m.get(key) : fail("KeyError: " + Py.repr(key));
            } else {
                if (next >= args.size()) {
                    throw new PyError("not enough arguments for format string");
                }
                value = args.get(next++);
                if (value == NONE) {
                    value = null;
                }
            }
            String flags = fmt.substring(specStart, i);
            sb.append(convert(value, flags, type));
        }
        boolean mappingLike = arg instanceof Map || (arg instanceof List && !(arg instanceof Py.Tuple)) || arg instanceof String;
        if (next < args.size() && !usedMapping && !(next == 0 && mappingLike)) {
            throw new PyError("not all arguments converted during string formatting");
        }
        return sb.toString();
    }

    private static final Object NONE = new Object();

    private static Object fail(String msg) {
        throw new PyError(msg);
    }

    private static String convert(Object value, String flags, char type) {
        boolean left = false;
        boolean zero = false;
        boolean plus = false;
        boolean space = false;
        int k = 0;
        while (k < flags.length() && "-+ #0".indexOf(flags.charAt(k)) >= 0) {
            switch (flags.charAt(k)) {
                case '-' -> left = true;
                case '0' -> zero = true;
                case '+' -> plus = true;
                case ' ' -> space = true;
                default -> { }
            }
            k++;
        }
        String rest = flags.substring(k);
        int dot = rest.indexOf('.');
        int width = parseInt(dot < 0 ? rest : rest.substring(0, dot), 0);
        int precision = dot < 0 ? -1 : parseInt(rest.substring(dot + 1), 0);
        String body;
        boolean numeric = false;
        switch (type) {
            case 's' -> body = Py.str(value);
            case 'r', 'a' -> body = Py.repr(value);
            case 'd', 'i', 'u' -> {
                numeric = true;
                body = Long.toString(toInteger(value));
            }
            case 'x', 'X', 'o' -> {
                numeric = true;
                long v = toInteger(value);
                String digits = type == 'o' ? Long.toOctalString(Math.abs(v)) : Long.toHexString(Math.abs(v));
                body = (v < 0 ? "-" : "") + (type == 'X' ? digits.toUpperCase() : digits);
            }
            case 'f', 'F' -> {
                numeric = true;
                body = fixed(toDouble(value), precision < 0 ? 6 : precision);
            }
            case 'e', 'E', 'g', 'G' -> {
                numeric = true;
                double d = toDouble(value);
                body = String.format(java.util.Locale.ROOT, "%" + (precision < 0 ? "" : "." + precision) + type, d);
            }
            default -> throw new PyError("unsupported format character '" + type + "'");
        }
        if (type == 's' || type == 'r' || type == 'a') {
            if (precision >= 0 && body.length() > precision) {
                body = body.substring(0, precision);
            }
        }
        if (numeric && !body.startsWith("-")) {
            if (plus) {
                body = "+" + body;
            } else if (space) {
                body = " " + body;
            }
        }
        return pad(body, width, left, zero && numeric && !left);
    }

    private static int parseInt(String s, int dflt) {
        return s.isEmpty() ? dflt : Integer.parseInt(s);
    }

    private static long toInteger(Object v) {
        if (Py.isInt(v)) {
            return Py.toLong(v);
        }
        if (v instanceof Double d) {
            return (long) d.doubleValue();
        }
        throw new PyError("%d format: a real number is required, not " + Py.typeName(v));
    }

    private static double toDouble(Object v) {
        if (Py.isNumber(v)) {
            return Py.toDouble(v);
        }
        throw new PyError("must be real number, not " + Py.typeName(v));
    }

    private static String fixed(double d, int precision) {
        if (Double.isNaN(d) || Double.isInfinite(d)) {
            return Py.floatRepr(d);
        }
        return new BigDecimal(d).setScale(precision, RoundingMode.HALF_EVEN).toPlainString();
    }

    private static String pad(String body, int width, boolean left, boolean zero) {
        if (body.length() >= width) {
            return body;
        }
        String fill = (zero ? "0" : " ").repeat(width - body.length());
        if (left) {
            return body + fill;
        }
        if (zero && (body.startsWith("-") || body.startsWith("+") || body.startsWith(" "))) {
            return body.charAt(0) + fill + body.substring(1);
        }
        return fill + body;
    }

    /** {@code fmt.format(*args, **kwargs)} with {@code {}}, {@code {0}}, {@code {name}}, {@code !r/!s} and simple specs. */
    static String format(String fmt, List<Object> args, Map<String, Object> kwargs) {
        StringBuilder sb = new StringBuilder();
        int auto = 0;
        for (int i = 0; i < fmt.length(); i++) {
            char c = fmt.charAt(i);
            if (c == '{') {
                if (i + 1 < fmt.length() && fmt.charAt(i + 1) == '{') {
                    sb.append('{');
                    i++;
                    continue;
                }
                int close = fmt.indexOf('}', i);
                if (close < 0) {
                    throw new PyError("Single '{' encountered in format string");
                }
                String field = fmt.substring(i + 1, close);
                i = close;
                String spec = "";
                char conv = 0;
                int colon = field.indexOf(':');
                if (colon >= 0) {
                    spec = field.substring(colon + 1);
                    field = field.substring(0, colon);
                }
                int bang = field.indexOf('!');
                if (bang >= 0) {
                    conv = field.length() > bang + 1 ? field.charAt(bang + 1) : 0;
                    field = field.substring(0, bang);
                }
                Object value;
                if (field.isEmpty()) {
                    if (auto >= args.size()) {
                        throw new PyError("Replacement index " + auto + " out of range for positional args tuple");
                    }
                    value = args.get(auto++);
                } else if (field.chars().allMatch(Character::isDigit)) {
                    int idx = Integer.parseInt(field);
                    if (idx >= args.size()) {
                        throw new PyError("Replacement index " + idx + " out of range for positional args tuple");
                    }
                    value = args.get(idx);
                } else {
                    String name = field;
                    String attr = null;
                    int d = field.indexOf('.');
                    if (d >= 0) {
                        name = field.substring(0, d);
                        attr = field.substring(d + 1);
                    }
                    if (!kwargs.containsKey(name)) {
                        throw new PyError("KeyError: " + Py.repr(name));
                    }
                    value = kwargs.get(name);
                    if (attr != null) {
                        value = Builtins.getattr(value, attr);
                    }
                }
                if (conv == 'r') {
                    value = Py.repr(value);
                } else if (conv == 's') {
                    value = Py.str(value);
                }
                sb.append(applySpec(value, spec));
            } else if (c == '}') {
                if (i + 1 < fmt.length() && fmt.charAt(i + 1) == '}') {
                    sb.append('}');
                    i++;
                    continue;
                }
                throw new PyError("Single '}' encountered in format string");
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private static String applySpec(Object value, String spec) {
        if (spec.isEmpty()) {
            return Py.str(value);
        }
        int k = 0;
        char fill = ' ';
        char align = 0;
        if (spec.length() >= 2 && "<>^".indexOf(spec.charAt(1)) >= 0) {
            fill = spec.charAt(0);
            align = spec.charAt(1);
            k = 2;
        } else if ("<>^".indexOf(spec.charAt(0)) >= 0) {
            align = spec.charAt(0);
            k = 1;
        }
        boolean zero = false;
        if (k < spec.length() && spec.charAt(k) == '0') {
            zero = true;
            k++;
        }
        int ws = k;
        while (k < spec.length() && Character.isDigit(spec.charAt(k))) {
            k++;
        }
        int width = parseInt(spec.substring(ws, k), 0);
        int precision = -1;
        if (k < spec.length() && spec.charAt(k) == '.') {
            int ps = ++k;
            while (k < spec.length() && Character.isDigit(spec.charAt(k))) {
                k++;
            }
            precision = parseInt(spec.substring(ps, k), 0);
        }
        char type = k < spec.length() ? spec.charAt(k++) : 0;
        if (k != spec.length()) {
            throw new PyError("Invalid format specifier '" + spec + "'");
        }
        String body;
        boolean numeric = Py.isNumber(value) && !(value instanceof Boolean && type == 0);
        switch (type) {
            case 0 -> body = precision >= 0 && value instanceof Double d ? fixed(d, precision) : Py.str(value);
            case 's' -> {
                if (!(value instanceof String s)) {
                    throw new PyError("Unknown format code 's' for object of type '" + Py.typeName(value) + "'");
                }
                body = precision >= 0 && s.length() > precision ? s.substring(0, precision) : s;
            }
            case 'd' -> body = Long.toString(toIntegerStrict(value));
            case 'f', 'F' -> body = fixed(toDouble(value), precision < 0 ? 6 : precision);
            default -> throw new PyError("unsupported format code '" + type + "'");
        }
        if (precision >= 0 && type == 0 && value instanceof String s && s.length() > precision) {
            body = s.substring(0, precision);
        }
        if (body.length() >= width) {
            return body;
        }
        int padding = width - body.length();
        if (align == 0) {
            if (zero && numeric) {
                return body.startsWith("-") ? "-" + "0".repeat(padding) + body.substring(1) : "0".repeat(padding) + body;
            }
            align = numeric ? '>' : '<';
        }
        String f = String.valueOf(fill);
        return switch (align) {
            case '<' -> body + f.repeat(padding);
            case '>' -> f.repeat(padding) + body;
            default -> f.repeat(padding / 2) + body + f.repeat(padding - padding / 2);
        };
    }

    private static long toIntegerStrict(Object v) {
        if (Py.isInt(v)) {
            return Py.toLong(v);
        }
        throw new PyError("Unknown format code 'd' for object of type '" + Py.typeName(v) + "'");
    }
}
