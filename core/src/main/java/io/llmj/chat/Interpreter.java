package io.llmj.chat;

import io.llmj.ChatTemplateException;
import io.llmj.ChatTemplateException.Kind;
import io.llmj.chat.Node.Expr;
import io.llmj.chat.Py.Callable;
import io.llmj.chat.Py.Namespace;
import io.llmj.chat.Py.PyError;
import io.llmj.chat.Py.Tuple;
import io.llmj.chat.Py.Undefined;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Renders a parsed template: jinja2 semantics (sandboxed, immutable) with resource limits. */
final class Interpreter {
    private final JinjaTemplate.Limits limits;
    private final StringBuilder out = new StringBuilder();
    private long iterations;
    private int callDepth;

    private Interpreter(JinjaTemplate.Limits limits) {
        this.limits = limits;
    }

    /** A variable scope; loops and macros push one, {@code if} does not. */
    static final class Frame {
        final Frame parent;
        final Map<String, Object> vars = new HashMap<>();

        Frame(Frame parent) {
            this.parent = parent;
        }

        Object lookup(String name) {
            for (Frame f = this; f != null; f = f.parent) {
                if (f.vars.containsKey(name)) {
                    return f.vars.get(name);
                }
            }
            return new Undefined("'" + name + "' is undefined");
        }
    }

    private static final class BreakSignal extends RuntimeException {
        BreakSignal() {
            super(null, null, false, false);
        }
    }

    private static final class ContinueSignal extends RuntimeException {
        ContinueSignal() {
            super(null, null, false, false);
        }
    }

    private static final BreakSignal BREAK = new BreakSignal();
    private static final ContinueSignal CONTINUE = new ContinueSignal();

    /** Thrown by raise_exception; carries the template's message. */
    static final class Raised extends RuntimeException {
        Raised(String msg) {
            super(msg, null, false, false);
        }
    }

    static String render(List<Node> body, Map<String, Object> globals, Map<String, ?> context, JinjaTemplate.Limits limits) {
        Interpreter in = new Interpreter(limits);
        Frame root = new Frame(null);
        root.vars.putAll(globals);
        root.vars.putAll(context);
        in.installBuiltins(root);
        try {
            in.exec(body, root);
        } catch (StackOverflowError e) {
            throw new ChatTemplateException(Kind.LIMIT, "template recursion too deep", 0, 0);
        }
        return in.out.toString();
    }

    private void installBuiltins(Frame root) {
        root.vars.putIfAbsent("range", (Callable) (args, kw) -> Builtins.range(args));
        root.vars.putIfAbsent("namespace", (Callable) (args, kw) -> {
            Namespace ns = new Namespace();
            for (Object a : args) {
                if (a instanceof Map<?, ?> m) {
                    m.forEach((k, v) -> ns.attrs.put(Py.str(k), v));
                } else {
                    throw new PyError("namespace() takes mappings and keyword arguments");
                }
            }
            ns.attrs.putAll(kw);
            return ns;
        });
        root.vars.putIfAbsent("dict", (Callable) (args, kw) -> {
            Map<Object, Object> m = new LinkedHashMap<>();
            for (Object a : args) {
                if (a instanceof Map<?, ?> src) {
                    m.putAll(src);
                }
            }
            m.putAll(kw);
            return m;
        });
        root.vars.putIfAbsent("raise_exception", (Callable) (args, kw) -> {
            throw new Raised(args.isEmpty() ? "" : Py.str(args.get(0)));
        });
    }

    // ---- statements ----

    private ChatTemplateException error(Node n, String msg) {
        return new ChatTemplateException(Kind.RENDER, msg, n.line(), n.col());
    }

    private void emit(String s, Node at) {
        if (out.length() + (long) s.length() > limits.maxOutputChars()) {
            throw new ChatTemplateException(Kind.LIMIT, "output longer than " + limits.maxOutputChars() + " characters", at.line(), at.col());
        }
        out.append(s);
    }

    private void exec(List<Node> body, Frame f) {
        for (Node n : body) {
            exec(n, f);
        }
    }

    private void exec(Node n, Frame f) {
        switch (n) {
            case Node.Text t -> emit(t.text(), t);
            case Node.Output o -> emit(Py.str(eval(o.expr(), f)), o);
            case Node.If s -> {
                for (int k = 0; k < s.tests().size(); k++) {
                    if (Py.truthy(eval(s.tests().get(k), f))) {
                        exec(s.bodies().get(k), f);
                        return;
                    }
                }
                exec(s.orElse(), f);
            }
            case Node.For s -> execFor(s, f);
            case Node.Set s -> {
                Object v = eval(s.value(), f);
                if (s.targets().size() == 1) {
                    f.vars.put(s.targets().get(0), v);
                } else {
                    List<Object> items = unpack(v, s.targets().size(), s);
                    for (int k = 0; k < items.size(); k++) {
                        f.vars.put(s.targets().get(k), items.get(k));
                    }
                }
            }
            case Node.SetAttr s -> {
                Object target = f.lookup(s.object());
                if (!(target instanceof Namespace ns)) {
                    throw error(s, "can only assign attributes of a namespace object, '" + s.object() + "' is " + Py.typeName(target));
                }
                ns.attrs.put(s.attr(), eval(s.value(), f));
            }
            case Node.SetBlock s -> {
                int mark = out.length();
                exec(s.body(), f);
                String captured = out.substring(mark);
                out.setLength(mark);
                f.vars.put(s.target(), captured);
            }
            case Node.Macro m -> f.vars.put(m.name(), macro(m, f));
            case Node.Break b -> throw BREAK;
            case Node.Continue c -> throw CONTINUE;
            case Node.Block b -> exec(b.body(), f);
            case Node.With w -> {
                Frame wf = new Frame(f);
                for (int k = 0; k < w.targets().size(); k++) {
                    wf.vars.put(w.targets().get(k), eval(w.values().get(k), f));
                }
                exec(w.body(), wf);
            }
            case Node.FilterBlock fb -> {
                int mark = out.length();
                exec(fb.body(), f);
                Object value = out.substring(mark);
                out.setLength(mark);
                for (Node.Filter fl : fb.filters()) {
                    List<Object> args = new ArrayList<>();
                    for (Expr a : fl.args()) {
                        args.add(eval(a, f));
                    }
                    Map<String, Object> kw = new LinkedHashMap<>();
                    for (int k = 0; k < fl.kwNames().size(); k++) {
                        kw.put(fl.kwNames().get(k), eval(fl.kwValues().get(k), f));
                    }
                    try {
                        value = Builtins.filter(fl.name(), value, args, kw, limits);
                    } catch (PyError err) {
                        throw error(fl, err.getMessage());
                    }
                }
                emit(Py.str(value), fb);
            }
            case Expr e -> throw error(e, "expression used as a statement");
        }
    }

    private List<Object> unpack(Object v, int n, Node at) {
        if (!(v instanceof List<?> l)) {
            throw error(at, "cannot unpack non-sequence " + Py.typeName(v));
        }
        if (l.size() != n) {
            throw error(at, (l.size() < n ? "not enough" : "too many") + " values to unpack (expected " + n + ", got " + l.size() + ")");
        }
        return new ArrayList<>(l);
    }

    private void bindTargets(Node.For s, Frame frame, Object item) {
        if (s.targets().size() == 1) {
            frame.vars.put(s.targets().get(0), item);
        } else {
            List<Object> parts = unpack(item, s.targets().size(), s);
            for (int k = 0; k < parts.size(); k++) {
                frame.vars.put(s.targets().get(k), parts.get(k));
            }
        }
    }

    private void execFor(Node.For s, Frame f) {
        Object seq = eval(s.iter(), f);
        List<Object> items;
        try {
            items = Py.iterate(seq);
        } catch (PyError e) {
            throw error(s.iter(), e.getMessage());
        }
        if (s.filter() != null) {
            List<Object> kept = new ArrayList<>();
            for (Object item : items) {
                tick(s);
                Frame ff = new Frame(f);
                bindTargets(s, ff, item);
                if (Py.truthy(eval(s.filter(), ff))) {
                    kept.add(item);
                }
            }
            items = kept;
        }
        if (items.isEmpty()) {
            exec(s.orElse(), f);
            return;
        }
        Object outerLoop = f.lookup("loop");
        for (int k = 0; k < items.size(); k++) {
            tick(s);
            Frame iter = new Frame(f);
            bindTargets(s, iter, items.get(k));
            iter.vars.put("loop", new Builtins.Loop(items, k, outerLoop));
            try {
                exec(s.body(), iter);
            } catch (BreakSignal b) {
                break;
            } catch (ContinueSignal c) {
                // next item
            }
        }
    }

    private void tick(Node at) {
        if (++iterations > limits.maxLoopIterations()) {
            throw new ChatTemplateException(Kind.LIMIT, "more than " + limits.maxLoopIterations() + " loop iterations", at.line(), at.col());
        }
    }

    private Callable macro(Node.Macro m, Frame defining) {
        return (args, kw) -> {
            if (args.size() > m.params().size()) {
                throw new PyError("macro '" + m.name() + "' takes not more than " + m.params().size() + " argument(s)");
            }
            Frame mf = new Frame(defining);
            int firstDefault = m.params().size() - m.defaults().size();
            for (int k = 0; k < m.params().size(); k++) {
                String p = m.params().get(k);
                if (k < args.size()) {
                    mf.vars.put(p, args.get(k));
                } else if (kw.containsKey(p)) {
                    mf.vars.put(p, kw.get(p));
                } else if (k >= firstDefault) {
                    mf.vars.put(p, eval(m.defaults().get(k - firstDefault), mf));
                } else {
                    mf.vars.put(p, new Undefined("parameter '" + p + "' was not provided"));
                }
            }
            for (String k : kw.keySet()) {
                if (!m.params().contains(k)) {
                    throw new PyError("macro '" + m.name() + "' takes no keyword argument '" + k + "'");
                }
            }
            if (++callDepth > limits.maxCallDepth()) {
                callDepth = 0;
                throw new ChatTemplateException(Kind.LIMIT, "macro calls nested deeper than " + limits.maxCallDepth(), m.line(), m.col());
            }
            int mark = out.length();
            try {
                exec(m.body(), mf);
                String s = out.substring(mark);
                return s;
            } finally {
                out.setLength(mark);
                callDepth--;
            }
        };
    }

    // ---- expressions ----

    Object eval(Expr e, Frame f) {
        try {
            return evalUnchecked(e, f);
        } catch (PyError err) {
            throw error(e, err.getMessage());
        } catch (Raised r) {
            throw new ChatTemplateException(Kind.RAISED, r.getMessage(), e.line(), e.col());
        } catch (ArithmeticException ae) {
            throw error(e, ae.getMessage());
        } catch (ClassCastException | IndexOutOfBoundsException | IllegalArgumentException | NullPointerException bad) {
            // a filter, test or method called with missing or wrongly typed arguments
            throw error(e, "invalid arguments (" + bad.getClass().getSimpleName() + ")");
        }
    }

    private Object evalUnchecked(Expr e, Frame f) {
        return switch (e) {
            case Node.Literal l -> l.value();
            case Node.Name n -> f.lookup(n.name());
            case Node.ListExpr l -> {
                List<Object> items = new ArrayList<>();
                for (Expr x : l.items()) {
                    items.add(eval(x, f));
                }
                yield items;
            }
            case Node.TupleExpr l -> {
                List<Object> items = new ArrayList<>();
                for (Expr x : l.items()) {
                    items.add(eval(x, f));
                }
                yield new Tuple(items);
            }
            case Node.DictExpr d -> {
                Map<Object, Object> m = new LinkedHashMap<>();
                for (int k = 0; k < d.keys().size(); k++) {
                    m.put(eval(d.keys().get(k), f), eval(d.values().get(k), f));
                }
                yield m;
            }
            case Node.GetAttr g -> Builtins.getattr(eval(g.obj(), f), g.attr());
            case Node.GetItem g -> Builtins.getitem(eval(g.obj(), f), eval(g.key(), f));
            case Node.Slice s -> Builtins.slice(eval(s.obj(), f), opt(s.start(), f), opt(s.stop(), f), opt(s.step(), f));
            case Node.Call c -> {
                Object fn = eval(c.fn(), f);
                List<Object> args = new ArrayList<>();
                for (Expr a : c.args()) {
                    args.add(eval(a, f));
                }
                Map<String, Object> kw = new LinkedHashMap<>();
                for (int k = 0; k < c.kwNames().size(); k++) {
                    kw.put(c.kwNames().get(k), eval(c.kwValues().get(k), f));
                }
                if (fn instanceof Callable callable) {
                    yield callable.call(args, kw);
                }
                if (fn instanceof Undefined u) {
                    throw Py.undefinedError(u);
                }
                throw new PyError("'" + Py.typeName(fn) + "' object is not callable");
            }
            case Node.Filter fl -> {
                Object v = eval(fl.value(), f);
                List<Object> args = new ArrayList<>();
                for (Expr a : fl.args()) {
                    args.add(eval(a, f));
                }
                Map<String, Object> kw = new LinkedHashMap<>();
                for (int k = 0; k < fl.kwNames().size(); k++) {
                    kw.put(fl.kwNames().get(k), eval(fl.kwValues().get(k), f));
                }
                yield Builtins.filter(fl.name(), v, args, kw, limits);
            }
            case Node.Test t -> {
                Object v = eval(t.value(), f);
                List<Object> args = new ArrayList<>();
                for (Expr a : t.args()) {
                    args.add(eval(a, f));
                }
                boolean r = Builtins.test(t.name(), v, args);
                yield t.negated() != r;
            }
            case Node.Unary u -> {
                Object v = eval(u.operand(), f);
                if (v instanceof Undefined ud) {
                    throw Py.undefinedError(ud);
                }
                if (v instanceof Long l) {
                    yield u.op().equals("-") ? Math.negateExact(l) : l;
                }
                if (v instanceof Boolean b) {
                    yield u.op().equals("-") ? -Py.toLong(b) : Py.toLong(b);
                }
                if (v instanceof Double d) {
                    yield u.op().equals("-") ? -d : d;
                }
                throw new PyError("bad operand type for unary " + u.op() + ": '" + Py.typeName(v) + "'");
            }
            case Node.Binary b -> Builtins.binary(b.op(), eval(b.left(), f), eval(b.right(), f), limits);
            case Node.And a -> {
                Object l = eval(a.left(), f);
                yield Py.truthy(l) ? eval(a.right(), f) : l;
            }
            case Node.Or o -> {
                Object l = eval(o.left(), f);
                yield Py.truthy(l) ? l : eval(o.right(), f);
            }
            case Node.Not n -> !Py.truthy(eval(n.operand(), f));
            case Node.Compare c -> {
                Object left = eval(c.first(), f);
                for (int k = 0; k < c.ops().size(); k++) {
                    Object right = eval(c.rest().get(k), f);
                    if (!Builtins.compare(c.ops().get(k), left, right)) {
                        yield false;
                    }
                    left = right;
                }
                yield true;
            }
            case Node.Cond c -> {
                if (Py.truthy(eval(c.test(), f))) {
                    yield eval(c.then(), f);
                }
                yield c.orElse() == null ? new Undefined("the inline if-expression on line " + c.line() + " evaluated to false and no else section was defined.") : eval(c.orElse(), f);
            }
        };
    }

    private Object opt(Expr e, Frame f) {
        return e == null ? null : eval(e, f);
    }

}
