package io.llmj.chat;

import io.llmj.chat.Py.Callable;
import io.llmj.chat.Py.Namespace;
import io.llmj.chat.Py.PyError;
import io.llmj.chat.Py.Tuple;
import io.llmj.chat.Py.Undefined;
import java.time.ZonedDateTime;
import java.time.format.TextStyle;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** Attribute and item access, operators, filters, tests and the Python methods templates call. */
final class Builtins {
    private Builtins() {}

    static final int MAX_RANGE = 100_000; // jinja2.sandbox.MAX_RANGE

    /** The {@code loop} variable of a for loop. */
    record Loop(List<Object> items, int index0, Object parentLoop) {
        Object attr(String name) {
            int n = items.size();
            return switch (name) {
                case "index0" -> (long) index0;
                case "index" -> (long) index0 + 1;
                case "revindex" -> (long) (n - index0);
                case "revindex0" -> (long) (n - index0 - 1);
                case "first" -> index0 == 0;
                case "last" -> index0 == n - 1;
                case "length" -> (long) n;
                case "depth" -> (long) depth();
                case "depth0" -> (long) depth() - 1;
                case "previtem" -> index0 > 0 ? items.get(index0 - 1) : new Undefined("there is no previous item");
                case "nextitem" -> index0 < n - 1 ? items.get(index0 + 1) : new Undefined("there is no next item");
                case "cycle" -> (Callable) (args, kw) -> {
                    if (args.isEmpty()) {
                        throw new PyError("no items for cycling given");
                    }
                    return args.get(index0 % args.size());
                };
                default -> new Undefined("'LoopContext object' has no attribute '" + name + "'");
            };
        }

        private int depth() {
            return parentLoop instanceof Loop p ? p.depth() + 1 : 1;
        }
    }

    /** A method of a str, list or dict value, bound to it. */
    record Method(Object self, String name) implements Callable {
        @Override
        public Object call(List<Object> args, Map<String, Object> kwargs) {
            return callMethod(self, name, args, kwargs);
        }
    }

    private static final Set<String> STR_METHODS = Set.of("strip", "lstrip", "rstrip", "startswith", "endswith", "split", "rsplit",
            "upper", "lower", "title", "capitalize", "replace", "find", "rfind", "count", "splitlines", "join", "isdigit", "isalpha",
            "isalnum", "isspace", "isupper", "islower", "format");
    private static final Set<String> DICT_METHODS = Set.of("get", "items", "keys", "values", "pop", "popitem", "setdefault", "update", "clear", "copy");
    private static final Set<String> LIST_METHODS = Set.of("index", "count", "append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear", "copy");
    private static final Set<String> UNSAFE = Set.of("append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear", "popitem", "setdefault", "update");

    // ---- access ----

    static Object getattr(Object obj, String name) {
        if (obj instanceof Undefined u) {
            throw Py.undefinedError(u);
        }
        if (obj instanceof Map<?, ?> m) {
            if (DICT_METHODS.contains(name)) {
                return new Method(m, name);
            }
            if (m.containsKey(name)) {
                return m.get(name);
            }
            return new Undefined("'dict object' has no attribute '" + name + "'");
        }
        if (obj instanceof String s && STR_METHODS.contains(name)) {
            return new Method(s, name);
        }
        if (obj instanceof List<?> l && LIST_METHODS.contains(name)) {
            return new Method(l, name);
        }
        if (obj instanceof Namespace ns) {
            return ns.attrs.containsKey(name) ? ns.attrs.get(name) : new Undefined("'Namespace object' has no attribute '" + name + "'");
        }
        if (obj instanceof Loop loop) {
            return loop.attr(name);
        }
        return new Undefined("'" + Py.typeName(obj) + " object' has no attribute '" + name + "'");
    }

    static Object getitem(Object obj, Object key) {
        if (obj instanceof Undefined u) {
            throw Py.undefinedError(u);
        }
        if (obj instanceof Map<?, ?> m) {
            if (m.containsKey(key)) {
                return m.get(key);
            }
            if (Py.isNumber(key)) {
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    if (Py.eq(e.getKey(), key)) {
                        return e.getValue();
                    }
                }
            }
            if (key instanceof String s && DICT_METHODS.contains(s)) {
                return new Method(m, s);
            }
            return new Undefined("'dict object' has no attribute '" + Py.str(key) + "'");
        }
        if (obj instanceof List<?> l && Py.isInt(key) && !(obj instanceof Py.View)) {
            long k = Py.toLong(key);
            if (k < 0) {
                k += l.size();
            }
            return k >= 0 && k < l.size() ? l.get((int) k) : new Undefined(Py.typeName(obj) + " object has no element " + key);
        }
        if (obj instanceof String s && Py.isInt(key)) {
            List<Object> chars = Py.chars(s);
            long k = Py.toLong(key);
            if (k < 0) {
                k += chars.size();
            }
            return k >= 0 && k < chars.size() ? chars.get((int) k) : new Undefined("str object has no element " + key);
        }
        if (key instanceof String s) {
            return getattr(obj, s);
        }
        return new Undefined("'" + Py.typeName(obj) + " object' has no attribute '" + Py.str(key) + "'");
    }

    static Object slice(Object obj, Object start, Object stop, Object step) {
        if (obj instanceof Undefined u) {
            throw Py.undefinedError(u);
        }
        List<Object> seq;
        if (obj instanceof String s) {
            seq = Py.chars(s);
        } else if (obj instanceof List<?> l && !(obj instanceof Py.View)) {
            seq = new ArrayList<>(l);
        } else {
            throw new PyError("'" + Py.typeName(obj) + "' object is not subscriptable");
        }
        int n = seq.size();
        long st = step == null ? 1 : sliceIndex(step);
        if (st == 0) {
            throw new PyError("slice step cannot be zero");
        }
        long lo;
        long hi;
        if (st > 0) {
            lo = start == null ? 0 : clamp(sliceIndex(start), n, 0, n);
            hi = stop == null ? n : clamp(sliceIndex(stop), n, 0, n);
        } else {
            lo = start == null ? n - 1 : clamp(sliceIndex(start), n, -1, n - 1);
            hi = stop == null ? -1 : clamp(sliceIndex(stop), n, -1, n - 1);
        }
        List<Object> res = new ArrayList<>();
        for (long k = lo; st > 0 ? k < hi : k > hi; k += st) {
            res.add(seq.get((int) k));
        }
        if (obj instanceof String) {
            StringBuilder sb = new StringBuilder();
            res.forEach(c -> sb.append((String) c));
            return sb.toString();
        }
        return obj instanceof Tuple ? new Tuple(res) : res;
    }

    private static long sliceIndex(Object v) {
        if (!Py.isInt(v)) {
            throw new PyError("slice indices must be integers or None");
        }
        return Py.toLong(v);
    }

    private static long clamp(long k, int n, long lo, long hi) {
        if (k < 0) {
            k += n;
        }
        return Math.max(lo, Math.min(hi, k));
    }

    // ---- operators ----

    static Object binary(String op, Object a, Object b, JinjaTemplate.Limits limits) {
        if (op.equals("~")) {
            return checkLen(Py.str(a) + Py.str(b), limits);
        }
        if (a instanceof Undefined u) {
            throw Py.undefinedError(u);
        }
        if (b instanceof Undefined u && !(op.equals("%") && a instanceof String)) {
            throw Py.undefinedError(u);
        }
        boolean nums = Py.isNumber(a) && Py.isNumber(b);
        boolean ints = Py.isInt(a) && Py.isInt(b);
        switch (op) {
            case "+" -> {
                if (ints) {
                    return Math.addExact(Py.toLong(a), Py.toLong(b));
                }
                if (nums) {
                    return Py.toDouble(a) + Py.toDouble(b);
                }
                if (a instanceof String sa && b instanceof String sb) {
                    return checkLen(sa + sb, limits);
                }
                if (a instanceof List<?> la && b instanceof List<?> lb) {
                    List<Object> r = new ArrayList<>(la);
                    r.addAll(lb);
                    return a instanceof Tuple ? new Tuple(r) : r;
                }
                if (a instanceof String) {
                    throw new PyError("can only concatenate str (not \"" + Py.typeName(b) + "\") to str");
                }
                if (a instanceof List && !(a instanceof Tuple)) {
                    throw new PyError("can only concatenate list (not \"" + Py.typeName(b) + "\") to list");
                }
            }
            case "-" -> {
                if (ints) {
                    return Math.subtractExact(Py.toLong(a), Py.toLong(b));
                }
                if (nums) {
                    return Py.toDouble(a) - Py.toDouble(b);
                }
            }
            case "*" -> {
                if (ints) {
                    return Math.multiplyExact(Py.toLong(a), Py.toLong(b));
                }
                if (nums) {
                    return Py.toDouble(a) * Py.toDouble(b);
                }
                if (a instanceof String s && Py.isInt(b)) {
                    return repeat(s, Py.toLong(b), limits);
                }
                if (b instanceof String s && Py.isInt(a)) {
                    return repeat(s, Py.toLong(a), limits);
                }
                if (a instanceof List<?> l && Py.isInt(b)) {
                    return repeatList(l, Py.toLong(b), limits);
                }
                if (b instanceof List<?> l && Py.isInt(a)) {
                    return repeatList(l, Py.toLong(a), limits);
                }
            }
            case "/" -> {
                if (nums) {
                    double d = Py.toDouble(b);
                    if (d == 0) {
                        throw new PyError("division by zero");
                    }
                    return Py.toDouble(a) / d;
                }
            }
            case "//" -> {
                if (ints) {
                    if (Py.toLong(b) == 0) {
                        throw new PyError("integer division or modulo by zero");
                    }
                    return Math.floorDiv(Py.toLong(a), Py.toLong(b));
                }
                if (nums) {
                    if (Py.toDouble(b) == 0) {
                        throw new PyError("float floor division by zero");
                    }
                    return Math.floor(Py.toDouble(a) / Py.toDouble(b));
                }
            }
            case "%" -> {
                if (ints) {
                    if (Py.toLong(b) == 0) {
                        throw new PyError("integer division or modulo by zero");
                    }
                    return Math.floorMod(Py.toLong(a), Py.toLong(b));
                }
                if (nums) {
                    double x = Py.toDouble(a);
                    double y = Py.toDouble(b);
                    if (y == 0) {
                        throw new PyError("float modulo");
                    }
                    double r = x % y;
                    if (r != 0 && (r < 0) != (y < 0)) {
                        r += y;
                    }
                    return r;
                }
                if (a instanceof String fmt) {
                    return checkLen(Format.percent(fmt, b), limits);
                }
            }
            case "**" -> {
                if (ints && Py.toLong(b) >= 0) {
                    long base = Py.toLong(a);
                    long r = 1;
                    for (long k = 0; k < Py.toLong(b); k++) {
                        r = Math.multiplyExact(r, base);
                        if (r == 0 || r == 1 && base == 1) {
                            break;
                        }
                    }
                    return r;
                }
                if (nums) {
                    return Math.pow(Py.toDouble(a), Py.toDouble(b));
                }
            }
            default -> throw new PyError("unknown operator " + op);
        }
        throw new PyError("unsupported operand type(s) for " + op + ": '" + Py.typeName(a) + "' and '" + Py.typeName(b) + "'");
    }

    private static String checkLen(String s, JinjaTemplate.Limits limits) {
        if (s.length() > limits.maxOutputChars()) {
            throw new PyError("string longer than " + limits.maxOutputChars() + " characters");
        }
        return s;
    }

    private static String repeat(String s, long n, JinjaTemplate.Limits limits) {
        if (n <= 0 || s.isEmpty()) {
            return "";
        }
        if ((double) s.length() * n > limits.maxOutputChars()) {
            throw new PyError("string longer than " + limits.maxOutputChars() + " characters");
        }
        return s.repeat((int) n);
    }

    private static List<Object> repeatList(List<?> l, long n, JinjaTemplate.Limits limits) {
        List<Object> r = new ArrayList<>();
        if ((double) l.size() * n > limits.maxOutputChars()) {
            throw new PyError("list too long");
        }
        for (long k = 0; k < n; k++) {
            r.addAll(l);
        }
        return r;
    }

    static boolean compare(String op, Object a, Object b) {
        return switch (op) {
            case "==" -> Py.eq(a, b);
            case "!=" -> !Py.eq(a, b);
            case "<" -> Py.compare(a, b, op) < 0;
            case "<=" -> Py.compare(a, b, op) <= 0;
            case ">" -> Py.compare(a, b, op) > 0;
            case ">=" -> Py.compare(a, b, op) >= 0;
            case "in" -> Py.contains(b, a);
            case "not in" -> !Py.contains(b, a);
            default -> throw new PyError("unknown comparison " + op);
        };
    }

    static List<Object> range(List<Object> args) {
        for (Object a : args) {
            if (!Py.isInt(a)) {
                throw new PyError("'" + Py.typeName(a) + "' object cannot be interpreted as an integer");
            }
        }
        long start = 0;
        long stop;
        long step = 1;
        switch (args.size()) {
            case 1 -> stop = Py.toLong(args.get(0));
            case 2 -> {
                start = Py.toLong(args.get(0));
                stop = Py.toLong(args.get(1));
            }
            case 3 -> {
                start = Py.toLong(args.get(0));
                stop = Py.toLong(args.get(1));
                step = Py.toLong(args.get(2));
            }
            default -> throw new PyError("range expected 1 to 3 arguments, got " + args.size());
        }
        if (step == 0) {
            throw new PyError("range() arg 3 must not be zero");
        }
        List<Object> r = new ArrayList<>();
        for (long k = start; step > 0 ? k < stop : k > stop; k += step) {
            if (r.size() >= MAX_RANGE) {
                throw new PyError("Range too big. The sandbox blocks ranges larger than MAX_RANGE (" + MAX_RANGE + ").");
            }
            r.add(k);
        }
        return r;
    }

    // ---- methods ----

    private static Object arg(List<Object> args, Map<String, Object> kw, int i, String name, Object dflt) {
        if (i < args.size()) {
            return args.get(i);
        }
        return kw.containsKey(name) ? kw.get(name) : dflt;
    }

    private static String strArg(Object v, String what) {
        if (v == null) {
            return null;
        }
        if (v instanceof String s) {
            return s;
        }
        throw new PyError(what + " arg must be None or str");
    }

    static Object callMethod(Object self, String name, List<Object> args, Map<String, Object> kw) {
        if (UNSAFE.contains(name) && !(self instanceof String)) {
            throw new PyError("access to attribute '" + name + "' of '" + Py.typeName(self) + "' object is unsafe.");
        }
        if (self instanceof String s) {
            return stringMethod(s, name, args, kw);
        }
        if (self instanceof Map<?, ?> m) {
            switch (name) {
                case "get" -> {
                    Object key = arg(args, kw, 0, "key", null);
                    Object d = arg(args, kw, 1, "default", null);
                    return m.containsKey(key) ? m.get(key) : d;
                }
                case "items" -> {
                    return new Py.View("dict_items", items(m));
                }
                case "keys" -> {
                    return new Py.View("dict_keys", m.keySet());
                }
                case "values" -> {
                    return new Py.View("dict_values", m.values());
                }
                case "copy" -> {
                    return new java.util.LinkedHashMap<Object, Object>(m);
                }
                default -> { }
            }
        }
        if (self instanceof List<?> l) {
            switch (name) {
                case "index" -> {
                    for (int k = 0; k < l.size(); k++) {
                        if (Py.eq(l.get(k), args.get(0))) {
                            return (long) k;
                        }
                    }
                    throw new PyError(Py.repr(args.get(0)) + " is not in list");
                }
                case "count" -> {
                    return l.stream().filter(x -> Py.eq(x, args.get(0))).count();
                }
                case "copy" -> {
                    return new ArrayList<Object>(l);
                }
                default -> { }
            }
        }
        throw new PyError("'" + Py.typeName(self) + "' object has no attribute '" + name + "'");
    }

    static List<Object> items(Map<?, ?> m) {
        List<Object> r = new ArrayList<>();
        m.forEach((k, v) -> r.add(new Tuple(java.util.Arrays.asList(k, v))));
        return r;
    }

    private static Object stringMethod(String s, String name, List<Object> args, Map<String, Object> kw) {
        switch (name) {
            case "strip":
                return Py.strip(s, strArg(arg(args, kw, 0, "chars", null), "strip"));
            case "lstrip":
                return Py.lstrip(s, strArg(arg(args, kw, 0, "chars", null), "lstrip"));
            case "rstrip":
                return Py.rstrip(s, strArg(arg(args, kw, 0, "chars", null), "rstrip"));
            case "startswith":
            case "endswith": {
                Object p = arg(args, kw, 0, "prefix", null);
                List<Object> options = p instanceof List<?> l ? new ArrayList<>(l) : List.of(p == null ? new Object() : p);
                for (Object o : options) {
                    if (!(o instanceof String prefix)) {
                        throw new PyError(name + " first arg must be str or a tuple of str, not " + Py.typeName(o));
                    }
                    if (name.equals("startswith") ? s.startsWith(prefix) : s.endsWith(prefix)) {
                        return true;
                    }
                }
                return false;
            }
            case "split":
            case "rsplit": {
                String sep = strArg(arg(args, kw, 0, "sep", null), "split");
                long max = Py.toLong(arg(args, kw, 1, "maxsplit", -1L));
                return split(s, sep, max, name.equals("rsplit"));
            }
            case "upper":
                return s.toUpperCase(Locale.ROOT);
            case "lower":
                return s.toLowerCase(Locale.ROOT);
            case "title":
                return pyTitle(s);
            case "capitalize":
                return s.isEmpty() ? s : s.substring(0, s.offsetByCodePoints(0, 1)).toUpperCase(Locale.ROOT)
                        + s.substring(s.offsetByCodePoints(0, 1)).toLowerCase(Locale.ROOT);
            case "replace": {
                String old = strArg(arg(args, kw, 0, "old", null), "replace");
                String neu = strArg(arg(args, kw, 1, "new", null), "replace");
                long count = Py.toLong(arg(args, kw, 2, "count", -1L));
                return replace(s, old, neu, count);
            }
            case "find":
                return (long) cpIndex(s, s.indexOf(strArg(args.get(0), "find")));
            case "rfind":
                return (long) cpIndex(s, s.lastIndexOf(strArg(args.get(0), "rfind")));
            case "count": {
                String sub = strArg(args.get(0), "count");
                if (sub.isEmpty()) {
                    return (long) s.codePointCount(0, s.length()) + 1;
                }
                long c = 0;
                for (int k = s.indexOf(sub); k >= 0; k = s.indexOf(sub, k + sub.length())) {
                    c++;
                }
                return c;
            }
            case "splitlines": {
                List<Object> r = new ArrayList<>();
                for (String line : s.split("\r\n|\n|\r", -1)) {
                    r.add(line);
                }
                if (!r.isEmpty() && r.get(r.size() - 1).equals("")) {
                    r.remove(r.size() - 1);
                }
                return r;
            }
            case "join": {
                StringBuilder sb = new StringBuilder();
                List<Object> items = Py.iterate(args.get(0));
                for (int k = 0; k < items.size(); k++) {
                    if (!(items.get(k) instanceof String item)) {
                        throw new PyError("sequence item " + k + ": expected str instance, " + Py.typeName(items.get(k)) + " found");
                    }
                    if (k > 0) {
                        sb.append(s);
                    }
                    sb.append(item);
                }
                return sb.toString();
            }
            case "isdigit":
                return !s.isEmpty() && s.codePoints().allMatch(Character::isDigit);
            case "isalpha":
                return !s.isEmpty() && s.codePoints().allMatch(Character::isLetter);
            case "isalnum":
                return !s.isEmpty() && s.codePoints().allMatch(Character::isLetterOrDigit);
            case "isspace":
                return !s.isEmpty() && s.codePoints().allMatch(Py::isSpace);
            case "isupper":
                return s.codePoints().anyMatch(Character::isLetter) && s.equals(s.toUpperCase(Locale.ROOT));
            case "islower":
                return s.codePoints().anyMatch(Character::isLetter) && s.equals(s.toLowerCase(Locale.ROOT));
            case "format":
                return Format.format(s, args, kw);
            default:
                throw new PyError("str." + name + "() is not supported");
        }
    }

    private static int cpIndex(String s, int charIndex) {
        return charIndex < 0 ? -1 : s.codePointCount(0, charIndex);
    }

    static String replace(String s, String old, String neu, long count) {
        if (count < 0) {
            if (old.isEmpty()) {
                StringBuilder sb = new StringBuilder(neu);
                s.codePoints().forEach(c -> sb.appendCodePoint(c).append(neu));
                return sb.toString();
            }
            return s.replace(old, neu);
        }
        StringBuilder sb = new StringBuilder();
        int from = 0;
        for (long k = 0; k < count; k++) {
            int at = s.indexOf(old, from);
            if (at < 0) {
                break;
            }
            sb.append(s, from, at).append(neu);
            from = at + old.length();
            if (old.isEmpty()) {
                if (from >= s.length()) {
                    from = s.length() + 1;
                    break;
                }
                int next = s.offsetByCodePoints(from, 1);
                sb.append(s, from, next);
                from = next;
            }
        }
        if (from <= s.length()) {
            sb.append(s.substring(from));
        }
        return sb.toString();
    }

    static List<Object> split(String s, String sep, long max, boolean fromRight) {
        List<Object> r = new ArrayList<>();
        if (sep == null) {
            List<String> words = new ArrayList<>();
            int n = s.length();
            if (!fromRight) {
                int k = 0;
                while (true) {
                    while (k < n && Py.isSpace(s.charAt(k))) {
                        k++;
                    }
                    if (k >= n) {
                        break;
                    }
                    if (max >= 0 && words.size() == max) {
                        words.add(Py.rstrip(s.substring(k), null));
                        break;
                    }
                    int b = k;
                    while (k < n && !Py.isSpace(s.charAt(k))) {
                        k++;
                    }
                    words.add(s.substring(b, k));
                }
            } else {
                int k = n;
                while (true) {
                    while (k > 0 && Py.isSpace(s.charAt(k - 1))) {
                        k--;
                    }
                    if (k <= 0) {
                        break;
                    }
                    if (max >= 0 && words.size() == max) {
                        words.add(Py.lstrip(s.substring(0, k), null));
                        break;
                    }
                    int e = k;
                    while (k > 0 && !Py.isSpace(s.charAt(k - 1))) {
                        k--;
                    }
                    words.add(s.substring(k, e));
                }
                Collections.reverse(words);
            }
            r.addAll(words);
            return r;
        }
        if (sep.isEmpty()) {
            throw new PyError("empty separator");
        }
        if (!fromRight) {
            int from = 0;
            int at;
            while ((max < 0 || r.size() < max) && (at = s.indexOf(sep, from)) >= 0) {
                r.add(s.substring(from, at));
                from = at + sep.length();
            }
            r.add(s.substring(from));
        } else {
            int end = s.length();
            int at;
            while ((max < 0 || r.size() < max) && end - sep.length() >= 0 && (at = s.lastIndexOf(sep, end - sep.length())) >= 0) {
                r.add(s.substring(at + sep.length(), end));
                end = at;
            }
            r.add(s.substring(0, end));
            Collections.reverse(r);
        }
        return r;
    }

    private static String pyTitle(String s) {
        StringBuilder sb = new StringBuilder();
        boolean prevCased = false;
        for (int k = 0; k < s.length(); ) {
            int c = s.codePointAt(k);
            k += Character.charCount(c);
            if (Character.isLetter(c)) {
                sb.appendCodePoint(prevCased ? Character.toLowerCase(c) : Character.toTitleCase(c));
                prevCased = true;
            } else {
                sb.appendCodePoint(c);
                prevCased = false;
            }
        }
        return sb.toString();
    }

    // ---- filters ----

    static Object filter(String name, Object v, List<Object> args, Map<String, Object> kw, JinjaTemplate.Limits limits) {
        switch (name) {
            case "trim":
                return Py.strip(Py.str(v), strArg(arg(args, kw, 0, "chars", null), "trim"));
            case "length":
            case "count":
                return (long) Py.length(v);
            case "tojson": {
                Object indent = arg(args, kw, 0, "indent", null);
                return Py.toJson(v, indent == null ? null : (int) Py.toLong(indent));
            }
            case "upper":
                return Py.str(v).toUpperCase(Locale.ROOT);
            case "lower":
                return Py.str(v).toLowerCase(Locale.ROOT);
            case "capitalize":
                return stringMethod(Py.str(v), "capitalize", List.of(), Map.of());
            case "title":
                return jinjaTitle(Py.str(v));
            case "string":
                return Py.str(v);
            case "safe":
                return Py.str(v);
            case "e":
            case "escape":
                return Py.str(v).replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
                        .replace("'", "&#39;").replace("\"", "&#34;");
            case "default":
            case "d": {
                Object dflt = arg(args, kw, 0, "default_value", "");
                boolean bool = Py.truthy(arg(args, kw, 1, "boolean", false));
                return v instanceof Undefined || (bool && !Py.truthy(v)) ? dflt : v;
            }
            case "first": {
                if (v instanceof Py.Generator g) {
                    return g.exhausted() ? new Undefined("No first item, sequence was empty.") : g.next();
                }
                List<Object> items = Py.iterate(v);
                return items.isEmpty() ? new Undefined("No first item, sequence was empty.") : items.get(0);
            }
            case "last": {
                if (v instanceof Py.Generator g) {
                    throw new PyError("'" + g.kind + "' object is not reversible");
                }
                List<Object> items = Py.iterate(v);
                return items.isEmpty() ? new Undefined("No last item, sequence was empty.") : items.get(items.size() - 1);
            }
            case "join": {
                String sep = Py.str(arg(args, kw, 0, "d", ""));
                Object attr = arg(args, kw, 1, "attribute", null);
                StringBuilder sb = new StringBuilder();
                List<Object> items = Py.iterate(v);
                for (int k = 0; k < items.size(); k++) {
                    if (k > 0) {
                        sb.append(sep);
                    }
                    Object item = attr == null ? items.get(k) : attrPath(items.get(k), attr);
                    sb.append(Py.str(item));
                }
                return checkLen(sb.toString(), limits);
            }
            case "replace": {
                Object count = arg(args, kw, 2, "count", null);
                return replace(Py.str(v), Py.str(arg(args, kw, 0, "old", "")), Py.str(arg(args, kw, 1, "new", "")),
                        count == null ? -1 : Py.toLong(count));
            }
            case "items":
                return new Py.Generator("generator", () -> {
                    if (v instanceof Undefined) {
                        return new ArrayList<>();
                    }
                    if (v instanceof Map<?, ?> m) {
                        return items(m);
                    }
                    throw new PyError("Can only get item pairs from a mapping.");
                });
            case "list":
                return Py.iterate(v);
            case "reverse":
                if (v instanceof String s) {
                    return new StringBuilder(s).reverse().toString();
                }
                if (v instanceof Py.Generator) {
                    List<Object> rev = Py.iterate(v);
                    Collections.reverse(rev);
                    return rev;
                }
                if (!(v instanceof List) && !(v instanceof Map) && !(v instanceof Undefined)) {
                    throw new PyError("argument to reversed() must be a sequence");
                }
                return new Py.Generator(v instanceof Map ? "dict_reversekeyiterator" : "list_reverseiterator", () -> {
                    List<Object> rev = Py.iterate(v);
                    Collections.reverse(rev);
                    return rev;
                });
            case "selectattr":
            case "rejectattr":
            case "select":
            case "reject": {
                boolean byAttr = name.endsWith("attr");
                boolean keep = name.startsWith("select");
                int testAt = byAttr ? 1 : 0;
                Object attr = byAttr ? arg(args, kw, 0, "attribute", null) : null;
                String test = args.size() > testAt ? Py.str(args.get(testAt)) : null;
                List<Object> testArgs = args.size() > testAt + 1 ? args.subList(testAt + 1, args.size()) : List.of();
                return new Py.Generator("generator", () -> {
                    List<Object> r = new ArrayList<>();
                    if (!Py.truthy(v)) {
                        return r;
                    }
                    for (Object item : Py.iterate(v)) {
                        Object x = byAttr ? attrPath(item, attr) : item;
                        boolean t = test == null ? Py.truthy(x) : test(test, x, testArgs);
                        if (t == keep) {
                            r.add(item);
                        }
                    }
                    return r;
                });
            }
            case "map": {
                if (!kw.containsKey("attribute") && args.isEmpty()) {
                    throw new PyError("map requires a filter argument");
                }
                return new Py.Generator("generator", () -> {
                    List<Object> r = new ArrayList<>();
                    if (!Py.truthy(v)) {
                        return r;
                    }
                    if (kw.containsKey("attribute")) {
                        Object dflt = kw.get("default");
                        for (Object item : Py.iterate(v)) {
                            Object x = attrPath(item, kw.get("attribute"));
                            r.add(x instanceof Undefined && kw.containsKey("default") ? dflt : x);
                        }
                        return r;
                    }
                    String f = Py.str(args.get(0));
                    List<Object> fargs = args.subList(1, args.size());
                    for (Object item : Py.iterate(v)) {
                        r.add(filter(f, item, fargs, kw, limits));
                    }
                    return r;
                });
            }
            case "int": {
                Object dflt = arg(args, kw, 0, "default", 0L);
                if (v instanceof Undefined u) {
                    throw Py.undefinedError(u);
                }
                if (Py.isInt(v)) {
                    return Py.toLong(v);
                }
                if (v instanceof Double d) {
                    return (long) d.doubleValue();
                }
                try {
                    return Long.parseLong(Py.str(v).strip().replace("_", ""));
                } catch (NumberFormatException e) {
                    try {
                        return (long) Double.parseDouble(Py.str(v).strip());
                    } catch (NumberFormatException e2) {
                        return dflt;
                    }
                }
            }
            case "float": {
                Object dflt = arg(args, kw, 0, "default", 0.0);
                if (v instanceof Undefined u) {
                    throw Py.undefinedError(u);
                }
                if (Py.isNumber(v)) {
                    return Py.toDouble(v);
                }
                try {
                    return Double.parseDouble(Py.str(v).strip());
                } catch (NumberFormatException e) {
                    return dflt;
                }
            }
            case "abs":
                if (Py.isInt(v)) {
                    return Math.abs(Py.toLong(v));
                }
                if (v instanceof Double d) {
                    return Math.abs(d);
                }
                throw new PyError("bad operand type for abs(): '" + Py.typeName(v) + "'");
            case "sum": {
                Object attr = arg(args, kw, 0, "attribute", null);
                Object total = arg(args, kw, 1, "start", 0L);
                for (Object item : Py.iterate(v)) {
                    total = binary("+", total, attr == null ? item : attrPath(item, attr), limits);
                }
                return total;
            }
            case "indent": {
                Object w = arg(args, kw, 0, "width", 4L);
                String pad = w instanceof String ws ? ws : " ".repeat((int) Py.toLong(w));
                boolean first = Py.truthy(arg(args, kw, 1, "first", false));
                boolean blank = Py.truthy(arg(args, kw, 2, "blank", false));
                String s = Py.str(v) + "\n";
                List<Object> lines = stringMethod(s, "splitlines", List.of(), Map.of()) instanceof List<?> l ? new ArrayList<>(l) : List.of();
                StringBuilder sb = new StringBuilder();
                for (int k = 0; k < lines.size(); k++) {
                    String line = (String) lines.get(k);
                    if (k > 0) {
                        sb.append('\n');
                    }
                    if ((k > 0 || first) && (blank || !line.isEmpty())) {
                        sb.append(pad);
                    }
                    sb.append(line);
                }
                return sb.toString();
            }
            case "format": {
                Object fmtArgs = kw.isEmpty() ? new Tuple(args) : new java.util.LinkedHashMap<Object, Object>(kw);
                return checkLen(Format.percent(Py.str(v), fmtArgs), limits);
            }
            case "attr": { // attributes only, never dict items
                String attrName = Py.str(args.get(0));
                if (v instanceof Map<?, ?> m) {
                    return DICT_METHODS.contains(attrName) ? new Method(m, attrName)
                            : new Undefined("'dict object' has no attribute '" + attrName + "'");
                }
                return getattr(v, attrName);
            }
            case "center": {
                int width = (int) Py.toLong(arg(args, kw, 0, "width", 80L));
                String str = Py.str(v);
                if (str.length() >= width) {
                    return str;
                }
                int pad = width - str.length();
                int leftPad = pad / 2 + (pad & width & 1); // CPython's str.center
                return " ".repeat(leftPad) + str + " ".repeat(pad - leftPad);
            }
            case "wordcount":
                return (long) split(Py.str(v), null, -1, false).size();
            case "round": {
                long precision = Py.toLong(arg(args, kw, 0, "precision", 0L));
                String method = Py.str(arg(args, kw, 1, "method", "common"));
                if (Py.isInt(v) && method.equals("common")) {
                    return Py.toLong(v);
                }
                double d = Py.toDouble(v);
                BigDecimalRounding mode = switch (method) {
                    case "common" -> BigDecimalRounding.HALF_EVEN;
                    case "ceil" -> BigDecimalRounding.CEILING;
                    case "floor" -> BigDecimalRounding.FLOOR;
                    default -> throw new PyError("method must be common, ceil or floor");
                };
                if (Double.isNaN(d) || Double.isInfinite(d)) {
                    return d;
                }
                // Python's round() works on the exact binary value, ties to even
                java.math.BigDecimal exact = method.equals("common") ? new java.math.BigDecimal(d) : new java.math.BigDecimal(Double.toString(d));
                return exact.setScale((int) precision, mode.mode).doubleValue();
            }
            case "sort": {
                boolean reverse = Py.truthy(arg(args, kw, 0, "reverse", false));
                boolean caseSensitive = Py.truthy(arg(args, kw, 1, "case_sensitive", false));
                Object attribute = arg(args, kw, 2, "attribute", null);
                List<Object> items = Py.iterate(v);
                java.util.Comparator<Object> cmp = (a, b) -> Py.compare(sortKey(a, attribute, caseSensitive), sortKey(b, attribute, caseSensitive), "<");
                items.sort(reverse ? cmp.reversed() : cmp);
                return items;
            }
            case "dictsort": {
                if (!(v instanceof Map<?, ?> m)) {
                    throw new PyError("You can only sort by either \"key\" or \"value\"");
                }
                boolean caseSensitive = Py.truthy(arg(args, kw, 0, "case_sensitive", false));
                String by = Py.str(arg(args, kw, 1, "by", "key"));
                boolean reverse = Py.truthy(arg(args, kw, 2, "reverse", false));
                int pos = switch (by) {
                    case "key" -> 0;
                    case "value" -> 1;
                    default -> throw new PyError("You can only sort by either \"key\" or \"value\"");
                };
                List<Object> items = items(m);
                java.util.Comparator<Object> cmp = (a, b) -> Py.compare(sortKey(((List<?>) a).get(pos), null, caseSensitive),
                        sortKey(((List<?>) b).get(pos), null, caseSensitive), "<");
                items.sort(reverse ? cmp.reversed() : cmp);
                return items;
            }
            case "unique": {
                boolean caseSensitive = Py.truthy(arg(args, kw, 0, "case_sensitive", false));
                Object attribute = arg(args, kw, 1, "attribute", null);
                List<Object> seen = new ArrayList<>();
                List<Object> out = new ArrayList<>();
                for (Object item : Py.iterate(v)) {
                    Object key = sortKey(item, attribute, caseSensitive);
                    if (!Py.contains(seen, key)) {
                        seen.add(key);
                        out.add(item);
                    }
                }
                return new Py.Generator("generator", () -> out);
            }
            case "min":
            case "max": {
                boolean caseSensitive = Py.truthy(arg(args, kw, 0, "case_sensitive", false));
                Object attribute = arg(args, kw, 1, "attribute", null);
                Object best = null;
                Object bestKey = null;
                boolean any = false;
                for (Object item : Py.iterate(v)) {
                    Object key = sortKey(item, attribute, caseSensitive);
                    if (!any || (name.equals("min") ? Py.compare(key, bestKey, "<") < 0 : Py.compare(key, bestKey, ">") > 0)) {
                        best = item;
                        bestKey = key;
                        any = true;
                    }
                }
                return any ? best : new Undefined("No aggregated item, sequence was empty.");
            }
            default:
                throw new PyError("no filter named '" + name + "'");
        }
    }

    private enum BigDecimalRounding {
        HALF_EVEN(java.math.RoundingMode.HALF_EVEN), CEILING(java.math.RoundingMode.CEILING), FLOOR(java.math.RoundingMode.FLOOR);

        final java.math.RoundingMode mode;

        BigDecimalRounding(java.math.RoundingMode mode) {
            this.mode = mode;
        }
    }

    /** jinja2's sort key: the attribute if given, strings lower-cased unless case-sensitive. */
    private static Object sortKey(Object item, Object attribute, boolean caseSensitive) {
        Object key = attribute == null ? item : attrPath(item, attribute);
        return !caseSensitive && key instanceof String s ? s.toLowerCase(Locale.ROOT) : key;
    }

    /** jinja2's make_attrgetter: a dotted path, each part looked up as an item first. */
    private static Object attrPath(Object item, Object attr) {
        if (Py.isInt(attr)) {
            return getitem(item, attr);
        }
        Object x = item;
        for (String part : Py.str(attr).split("\\.")) {
            Object key = part;
            if (!part.isEmpty() && part.chars().allMatch(Character::isDigit)) {
                key = Long.parseLong(part);
            }
            x = getitem(x, key);
        }
        return x;
    }

    private static String jinjaTitle(String s) {
        StringBuilder sb = new StringBuilder();
        boolean wordStart = true;
        for (int k = 0; k < s.length(); ) {
            int c = s.codePointAt(k);
            k += Character.charCount(c);
            boolean sepChar = c == '-' || Py.isSpace(c) || c == '(' || c == '{' || c == '[' || c == '<';
            if (sepChar) {
                sb.appendCodePoint(c);
                wordStart = true;
            } else {
                sb.appendCodePoint(wordStart ? Character.toUpperCase(c) : Character.toLowerCase(c));
                wordStart = false;
            }
        }
        return sb.toString();
    }

    // ---- tests ----

    static boolean test(String name, Object v, List<Object> args) {
        return switch (name) {
            case "defined" -> !(v instanceof Undefined);
            case "undefined" -> v instanceof Undefined;
            case "none" -> v == null;
            case "string" -> v instanceof String;
            case "mapping" -> v instanceof Map;
            case "iterable" -> v instanceof List || v instanceof Map || v instanceof String || v instanceof Undefined || v instanceof Py.Generator;
            case "sequence" -> (v instanceof List && !(v instanceof Py.View)) || v instanceof Map || v instanceof String || v instanceof Undefined;
            case "number" -> Py.isNumber(v);
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "callable" -> v instanceof Callable || v instanceof Undefined; // Undefined defines __call__
            case "odd" -> Py.eq(binary("%", v, 2L, JinjaTemplate.Limits.DEFAULT), 1L);
            case "even" -> Py.eq(binary("%", v, 2L, JinjaTemplate.Limits.DEFAULT), 0L);
            case "divisibleby" -> Py.eq(binary("%", v, args.get(0), JinjaTemplate.Limits.DEFAULT), 0L);
            case "eq", "equalto", "==" -> Py.eq(v, args.get(0));
            case "ne", "!=" -> !Py.eq(v, args.get(0));
            case "lt", "lessthan", "<" -> Py.compare(v, args.get(0), "<") < 0;
            case "le", "<=" -> Py.compare(v, args.get(0), "<=") <= 0;
            case "gt", "greaterthan", ">" -> Py.compare(v, args.get(0), ">") > 0;
            case "ge", ">=" -> Py.compare(v, args.get(0), ">=") >= 0;
            case "in" -> Py.contains(args.get(0), v);
            case "sameas" -> v == args.get(0) || (v instanceof Boolean && v.equals(args.get(0)))
                    || (v instanceof Undefined && args.get(0) instanceof Undefined && v.equals(args.get(0)));
            case "lower" -> (Boolean) stringMethod(Py.str(v), "islower", List.of(), Map.of());
            case "upper" -> (Boolean) stringMethod(Py.str(v), "isupper", List.of(), Map.of());
            case "escaped" -> false;
            default -> throw new PyError("no test named '" + name + "'");
        };
    }

    // ---- strftime ----

    /** Python's datetime.strftime for the common directives. */
    static String strftime(String format, ZonedDateTime t) {
        StringBuilder sb = new StringBuilder();
        for (int k = 0; k < format.length(); k++) {
            char c = format.charAt(k);
            if (c != '%' || k + 1 >= format.length()) {
                sb.append(c);
                continue;
            }
            char d = format.charAt(++k);
            switch (d) {
                case 'd' -> sb.append(String.format("%02d", t.getDayOfMonth()));
                case 'm' -> sb.append(String.format("%02d", t.getMonthValue()));
                case 'Y' -> sb.append(t.getYear());
                case 'y' -> sb.append(String.format("%02d", t.getYear() % 100));
                case 'H' -> sb.append(String.format("%02d", t.getHour()));
                case 'I' -> sb.append(String.format("%02d", (t.getHour() + 11) % 12 + 1));
                case 'p' -> sb.append(t.getHour() < 12 ? "AM" : "PM");
                case 'M' -> sb.append(String.format("%02d", t.getMinute()));
                case 'S' -> sb.append(String.format("%02d", t.getSecond()));
                case 'j' -> sb.append(String.format("%03d", t.getDayOfYear()));
                case 'b' -> sb.append(t.getMonth().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'B' -> sb.append(t.getMonth().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'a' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.SHORT, Locale.ENGLISH));
                case 'A' -> sb.append(t.getDayOfWeek().getDisplayName(TextStyle.FULL, Locale.ENGLISH));
                case 'e' -> sb.append(String.format("%2d", t.getDayOfMonth()));
                case '%' -> sb.append('%');
                default -> sb.append('%').append(d);
            }
        }
        return sb.toString();
    }
}
