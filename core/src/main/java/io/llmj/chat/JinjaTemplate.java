package io.llmj.chat;

import io.llmj.ChatTemplateException;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A compiled Jinja template, rendered as Hugging Face transformers renders chat templates: jinja2's
 * {@code ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)} with the
 * {@code loopcontrols} extension, the {@code raise_exception} and {@code strftime_now} globals and a
 * {@code tojson} filter that does not escape HTML or non-ASCII characters.
 *
 * <p>Supported: {@code {{ }}}, {@code {% %}}, {@code {# #}}, {@code -}/{@code +} whitespace control,
 * {@code if/elif/else}, {@code for} (with an {@code if} filter, {@code else}, tuple unpacking and the
 * {@code loop} variable), {@code break/continue}, {@code set} (including block set and namespace
 * attributes), {@code macro}, {@code with}, {@code filter} blocks, {@code raw}, {@code generation}; Python-like literals, operators, tests,
 * the common filters and str/dict/list methods, printf-style {@code %} and {@code str.format} for the
 * common conversions. Not supported: template inheritance and includes, {@code call} blocks,
 * recursive loops, {@code loop.changed}; unknown filters and tests fail when
 * they are reached rather than when the template is parsed.
 */
public final class JinjaTemplate {
    /** Resource limits that stop runaway templates. */
    public record Limits(long maxOutputChars, long maxLoopIterations, int maxCallDepth) {
        public static final Limits DEFAULT = new Limits(16L << 20, 1_000_000, 100);
    }

    private final List<Node> body;

    private JinjaTemplate(List<Node> body) {
        this.body = body;
    }

    /** Parses {@code source}. @throws ChatTemplateException (kind SYNTAX) with the line and column */
    public static JinjaTemplate parse(String source) {
        return new JinjaTemplate(Parser.parse(Lexer.tokenize(Lexer.normalize(source))));
    }

    /** Renders with {@code context} (Java strings, numbers, booleans, null, lists and maps) and default limits. */
    public String render(Map<String, ?> context) {
        return render(context, Limits.DEFAULT);
    }

    public String render(Map<String, ?> context, Limits limits) {
        Map<String, Object> globals = new LinkedHashMap<>();
        globals.put("strftime_now", (Py.Callable) (args, kw) -> Builtins.strftime(Py.str(args.isEmpty() ? "" : args.get(0)), ZonedDateTime.now()));
        Map<String, Object> ctx = new LinkedHashMap<>();
        context.forEach((k, v) -> ctx.put(k, fromJava(v, 0)));
        return Interpreter.render(body, globals, ctx, limits);
    }

    /** Converts a Java value into the template's value model (Long, Double, String, List, Map ...). */
    static Object fromJava(Object v, int depth) {
        if (depth > 200) {
            throw new ChatTemplateException(ChatTemplateException.Kind.LIMIT, "context value nested too deeply", 0, 0);
        }
        if (v == null || v instanceof String || v instanceof Boolean || v instanceof Long || v instanceof Double
                || v instanceof Py.Callable || v instanceof Py.Namespace) {
            return v;
        }
        if (v instanceof Integer || v instanceof Short || v instanceof Byte) {
            return ((Number) v).longValue();
        }
        if (v instanceof Float f) {
            return f.doubleValue();
        }
        if (v instanceof CharSequence cs) {
            return cs.toString();
        }
        if (v instanceof Character c) {
            return c.toString();
        }
        if (v instanceof Map<?, ?> m) {
            Map<Object, Object> out = new LinkedHashMap<>();
            m.forEach((k, x) -> out.put(fromJava(k, depth + 1), fromJava(x, depth + 1)));
            return out;
        }
        if (v instanceof Collection<?> c) {
            List<Object> out = new ArrayList<>(c.size());
            for (Object x : c) {
                out.add(fromJava(x, depth + 1));
            }
            return out;
        }
        if (v instanceof Object[] a) {
            return fromJava(java.util.Arrays.asList(a), depth);
        }
        if (v instanceof Number n) {
            return n.doubleValue();
        }
        return v.toString();
    }
}
