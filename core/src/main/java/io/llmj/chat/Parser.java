package io.llmj.chat;

import io.llmj.ChatTemplateException;
import io.llmj.chat.Lexer.Token;
import io.llmj.chat.Lexer.Type;
import io.llmj.chat.Node.Expr;
import java.util.ArrayList;
import java.util.List;

/** A recursive-descent parser for the Jinja subset, following jinja2's grammar and precedence. */
final class Parser {
    static final int MAX_NESTING = 200;

    private final List<Token> tokens;
    private int i;
    private int depth;
    private int loopDepth;

    private Parser(List<Token> tokens) {
        this.tokens = tokens;
    }

    static List<Node> parse(List<Token> tokens) {
        Parser p = new Parser(tokens);
        List<Node> body = p.subparse(List.of());
        if (p.peek().type() != Type.EOF) {
            throw error("unexpected '" + p.peek().text() + "'", p.peek());
        }
        return body;
    }

    private Token peek() {
        return tokens.get(i);
    }

    private Token peek(int ahead) {
        return tokens.get(Math.min(i + ahead, tokens.size() - 1));
    }

    private Token next() {
        Token t = tokens.get(i);
        if (t.type() != Type.EOF) {
            i++;
        }
        return t;
    }

    private static ChatTemplateException error(String msg, Token at) {
        return new ChatTemplateException(ChatTemplateException.Kind.SYNTAX, msg, at.line(), at.col());
    }

    private Token expectOp(String op) {
        Token t = next();
        if (!t.isOp(op)) {
            throw error("expected '" + op + "', got " + t, t);
        }
        return t;
    }

    private String expectName() {
        Token t = next();
        if (t.type() != Type.NAME) {
            throw error("expected a name, got " + t, t);
        }
        return t.text();
    }

    private void expectBlockEnd() {
        Token t = next();
        if (t.type() != Type.BLOCK_END) {
            throw error("expected end of statement block, got " + t, t);
        }
    }

    private boolean skipOp(String op) {
        if (peek().isOp(op)) {
            i++;
            return true;
        }
        return false;
    }

    private boolean skipName(String name) {
        if (peek().isName(name)) {
            i++;
            return true;
        }
        return false;
    }

    private void enter(Token at) {
        if (++depth > MAX_NESTING) {
            throw error("template nested deeper than " + MAX_NESTING + " levels", at);
        }
    }

    /**
     * Parses nodes until a block tag whose name is in {@code endTags}; leaves the position on that
     * name (the caller consumes it). At top level ({@code endTags} empty) parses to the end.
     */
    private List<Node> subparse(List<String> endTags) {
        List<Node> body = new ArrayList<>();
        while (true) {
            Token t = peek();
            switch (t.type()) {
                case EOF -> {
                    if (!endTags.isEmpty()) {
                        throw error("unexpected end of template, expected " + String.join(" or ", endTags.stream().map(s -> "'" + s + "'").toList()), t);
                    }
                    return body;
                }
                case TEXT -> {
                    next();
                    body.add(new Node.Text(t.text(), t.line(), t.col()));
                }
                case VAR_BEGIN -> {
                    next();
                    Expr e = parseTuple(true);
                    Token end = next();
                    if (end.type() != Type.VAR_END) {
                        throw error("expected end of print statement, got " + end, end);
                    }
                    body.add(new Node.Output(e, t.line(), t.col()));
                }
                case BLOCK_BEGIN -> {
                    Token name = peek(1);
                    if (name.type() == Type.NAME && endTags.contains(name.text())) {
                        next();
                        return body;
                    }
                    next();
                    body.add(statement());
                }
                default -> throw error("unexpected " + t, t);
            }
        }
    }

    private Node statement() {
        Token t = next();
        if (t.type() != Type.NAME) {
            throw error("tag name expected", t);
        }
        enter(t);
        try {
            return switch (t.text()) {
                case "if" -> parseIf(t);
                case "for" -> parseFor(t);
                case "set" -> parseSet(t);
                case "macro" -> parseMacro(t);
                case "break", "continue" -> {
                    if (loopDepth == 0) {
                        throw error("'" + t.text() + "' outside of a loop", t);
                    }
                    expectBlockEnd();
                    yield t.text().equals("break") ? new Node.Break(t.line(), t.col()) : new Node.Continue(t.line(), t.col());
                }
                case "generation" -> {
                    expectBlockEnd();
                    List<Node> body = subparse(List.of("endgeneration"));
                    next();
                    expectBlockEnd();
                    yield new Node.Block(body, t.line(), t.col());
                }
                case "with" -> {
                    List<String> targets = new ArrayList<>();
                    List<Expr> values = new ArrayList<>();
                    while (peek().type() != Type.BLOCK_END) {
                        if (!targets.isEmpty()) {
                            expectOp(",");
                        }
                        targets.add(expectName());
                        expectOp("=");
                        values.add(parseExpression(true));
                    }
                    expectBlockEnd();
                    List<Node> body = subparse(List.of("endwith"));
                    next();
                    expectBlockEnd();
                    yield new Node.With(targets, values, body, t.line(), t.col());
                }
                case "filter" -> {
                    Expr chain = parseFilterExpr(new Node.Literal(null, t.line(), t.col()), true);
                    List<Node.Filter> filters = new ArrayList<>();
                    for (Expr e = chain; e instanceof Node.Filter f; e = f.value()) {
                        filters.add(0, f);
                    }
                    if (filters.isEmpty()) {
                        throw error("expected a filter name", peek());
                    }
                    expectBlockEnd();
                    List<Node> body = subparse(List.of("endfilter"));
                    next();
                    expectBlockEnd();
                    yield new Node.FilterBlock(filters, body, t.line(), t.col());
                }
                case "raw" -> throw error("malformed raw tag", t);
                default -> throw error("encountered unknown tag '" + t.text() + "'", t);
            };
        } finally {
            depth--;
        }
    }

    private Node parseIf(Token t) {
        List<Expr> tests = new ArrayList<>();
        List<List<Node>> bodies = new ArrayList<>();
        List<Node> orElse = List.of();
        tests.add(parseTuple(true));
        expectBlockEnd();
        while (true) {
            bodies.add(subparse(List.of("elif", "else", "endif")));
            Token tag = next();
            if (tag.text().equals("elif")) {
                tests.add(parseTuple(true));
                expectBlockEnd();
            } else if (tag.text().equals("else")) {
                expectBlockEnd();
                orElse = subparse(List.of("endif"));
                next();
                expectBlockEnd();
                break;
            } else {
                expectBlockEnd();
                break;
            }
        }
        return new Node.If(tests, bodies, orElse, t.line(), t.col());
    }

    private Node parseFor(Token t) {
        List<String> targets = new ArrayList<>();
        boolean paren = skipOp("(");
        targets.add(expectName());
        while (skipOp(",")) {
            if (peek().isName("in") || peek().isOp(")")) {
                break;
            }
            targets.add(expectName());
        }
        if (paren) {
            expectOp(")");
        }
        Token in = next();
        if (!in.isName("in")) {
            throw error("expected 'in', got " + in, in);
        }
        Expr iter = parseTuple(false);
        Expr filter = null;
        if (skipName("if")) {
            filter = parseExpression(true);
        }
        if (peek().isName("recursive")) {
            throw error("recursive loops are not supported", peek());
        }
        expectBlockEnd();
        loopDepth++;
        List<Node> body = subparse(List.of("endfor", "else"));
        loopDepth--;
        List<Node> orElse = List.of();
        if (next().text().equals("else")) {
            expectBlockEnd();
            orElse = subparse(List.of("endfor"));
            next();
        }
        expectBlockEnd();
        return new Node.For(targets, iter, filter, body, orElse, t.line(), t.col());
    }

    private Node parseSet(Token t) {
        String first = expectName();
        if (skipOp(".")) {
            String attr = expectName();
            expectOp("=");
            Expr value = parseTuple(true);
            expectBlockEnd();
            return new Node.SetAttr(first, attr, value, t.line(), t.col());
        }
        List<String> targets = new ArrayList<>();
        targets.add(first);
        while (skipOp(",")) {
            targets.add(expectName());
        }
        if (skipOp("=")) {
            Expr value = parseTuple(true);
            expectBlockEnd();
            return new Node.Set(targets, value, t.line(), t.col());
        }
        if (targets.size() != 1) {
            throw error("expected '='", peek());
        }
        if (peek().isOp("|")) {
            throw error("filtered block set is not supported", peek());
        }
        expectBlockEnd();
        List<Node> body = subparse(List.of("endset"));
        next();
        expectBlockEnd();
        return new Node.SetBlock(first, body, t.line(), t.col());
    }

    private Node parseMacro(Token t) {
        String name = expectName();
        List<String> params = new ArrayList<>();
        List<Expr> defaults = new ArrayList<>();
        expectOp("(");
        while (!peek().isOp(")")) {
            if (!params.isEmpty()) {
                expectOp(",");
                if (peek().isOp(")")) {
                    break;
                }
            }
            Token pt = peek();
            params.add(expectName());
            if (skipOp("=")) {
                defaults.add(parseExpression(true));
            } else if (!defaults.isEmpty()) {
                throw error("non-default argument follows default argument", pt);
            }
        }
        expectOp(")");
        expectBlockEnd();
        int savedLoops = loopDepth;
        loopDepth = 0;
        List<Node> body = subparse(List.of("endmacro"));
        loopDepth = savedLoops;
        next();
        if (peek().type() == Type.NAME) {
            next();
        }
        expectBlockEnd();
        return new Node.Macro(name, params, defaults, body, t.line(), t.col());
    }

    // ---- expressions ----

    /** An expression, or several separated by commas (a tuple). */
    private Expr parseTuple(boolean withCondexpr) {
        Token t = peek();
        Expr first = parseExpression(withCondexpr);
        if (!peek().isOp(",")) {
            return first;
        }
        List<Expr> items = new ArrayList<>();
        items.add(first);
        while (skipOp(",")) {
            if (endsTuple(peek())) {
                break;
            }
            items.add(parseExpression(withCondexpr));
        }
        return new Node.TupleExpr(items, t.line(), t.col());
    }

    private static boolean endsTuple(Token t) {
        return t.type() == Type.VAR_END || t.type() == Type.BLOCK_END || t.isOp(")") || t.isName("if") || t.type() == Type.EOF;
    }

    private Expr parseExpression(boolean withCondexpr) {
        Token t = peek();
        enter(t);
        try {
            Expr e = parseOr();
            if (withCondexpr) {
                while (skipName("if")) {
                    Expr test = parseOr();
                    Expr orElse = skipName("else") ? parseExpression(true) : null;
                    e = new Node.Cond(test, e, orElse, t.line(), t.col());
                }
            }
            return e;
        } finally {
            depth--;
        }
    }

    private Expr parseOr() {
        Expr e = parseAnd();
        while (peek().isName("or")) {
            Token t = next();
            e = new Node.Or(e, parseAnd(), t.line(), t.col());
        }
        return e;
    }

    private Expr parseAnd() {
        Expr e = parseNot();
        while (peek().isName("and")) {
            Token t = next();
            e = new Node.And(e, parseNot(), t.line(), t.col());
        }
        return e;
    }

    private Expr parseNot() {
        if (peek().isName("not")) {
            Token t = next();
            enter(t);
            try {
                return new Node.Not(parseNot(), t.line(), t.col());
            } finally {
                depth--;
            }
        }
        return parseCompare();
    }

    private Expr parseCompare() {
        Token t = peek();
        Expr first = parseMath1();
        List<String> ops = new ArrayList<>();
        List<Expr> rest = new ArrayList<>();
        while (true) {
            Token c = peek();
            if (c.type() == Type.OP && List.of("==", "!=", "<", ">", "<=", ">=").contains(c.text())) {
                next();
                ops.add(c.text());
            } else if (c.isName("in")) {
                next();
                ops.add("in");
            } else if (c.isName("not") && peek(1).isName("in")) {
                next();
                next();
                ops.add("not in");
            } else {
                break;
            }
            rest.add(parseMath1());
        }
        return ops.isEmpty() ? first : new Node.Compare(first, ops, rest, t.line(), t.col());
    }

    private Expr parseMath1() {
        Expr e = parseConcat();
        while (peek().isOp("+") || peek().isOp("-")) {
            Token t = next();
            e = new Node.Binary(t.text(), e, parseConcat(), t.line(), t.col());
        }
        return e;
    }

    private Expr parseConcat() {
        Expr e = parseMath2();
        while (peek().isOp("~")) {
            Token t = next();
            e = new Node.Binary("~", e, parseMath2(), t.line(), t.col());
        }
        return e;
    }

    private Expr parseMath2() {
        Expr e = parsePow();
        while (peek().isOp("*") || peek().isOp("/") || peek().isOp("//") || peek().isOp("%")) {
            Token t = next();
            e = new Node.Binary(t.text(), e, parsePow(), t.line(), t.col());
        }
        return e;
    }

    private Expr parsePow() {
        Expr e = parseUnary(true);
        while (peek().isOp("**")) {
            Token t = next();
            e = new Node.Binary("**", e, parseUnary(true), t.line(), t.col());
        }
        return e;
    }

    private Expr parseUnary(boolean withFilter) {
        Token t = peek();
        enter(t);
        try {
            Expr e;
            if (t.isOp("-") || t.isOp("+")) {
                next();
                e = new Node.Unary(t.text(), parseUnary(false), t.line(), t.col());
            } else {
                e = parsePostfix(parsePrimary());
            }
            return withFilter ? parseFilterExpr(e) : e;
        } finally {
            depth--;
        }
    }

    private Expr parsePrimary() {
        Token t = next();
        switch (t.type()) {
            case NAME -> {
                return switch (t.text()) {
                    case "true", "True" -> new Node.Literal(Boolean.TRUE, t.line(), t.col());
                    case "false", "False" -> new Node.Literal(Boolean.FALSE, t.line(), t.col());
                    case "none", "None" -> new Node.Literal(null, t.line(), t.col());
                    default -> new Node.Name(t.text(), t.line(), t.col());
                };
            }
            case STRING -> {
                StringBuilder sb = new StringBuilder((String) t.value());
                while (peek().type() == Type.STRING) {
                    sb.append((String) next().value());
                }
                return new Node.Literal(sb.toString(), t.line(), t.col());
            }
            case INT, FLOAT -> {
                return new Node.Literal(t.value(), t.line(), t.col());
            }
            case OP -> {
                switch (t.text()) {
                    case "(" -> {
                        if (skipOp(")")) {
                            return new Node.TupleExpr(List.of(), t.line(), t.col());
                        }
                        Expr e = parseExpression(true);
                        if (peek().isOp(",")) {
                            List<Expr> items = new ArrayList<>();
                            items.add(e);
                            while (skipOp(",")) {
                                if (peek().isOp(")")) {
                                    break;
                                }
                                items.add(parseExpression(true));
                            }
                            e = new Node.TupleExpr(items, t.line(), t.col());
                        }
                        expectOp(")");
                        return e;
                    }
                    case "[" -> {
                        List<Expr> items = new ArrayList<>();
                        while (!peek().isOp("]")) {
                            if (!items.isEmpty()) {
                                expectOp(",");
                                if (peek().isOp("]")) {
                                    break;
                                }
                            }
                            items.add(parseExpression(true));
                        }
                        expectOp("]");
                        return new Node.ListExpr(items, t.line(), t.col());
                    }
                    case "{" -> {
                        List<Expr> keys = new ArrayList<>();
                        List<Expr> values = new ArrayList<>();
                        while (!peek().isOp("}")) {
                            if (!keys.isEmpty()) {
                                expectOp(",");
                                if (peek().isOp("}")) {
                                    break;
                                }
                            }
                            keys.add(parseExpression(true));
                            expectOp(":");
                            values.add(parseExpression(true));
                        }
                        expectOp("}");
                        return new Node.DictExpr(keys, values, t.line(), t.col());
                    }
                    default -> { }
                }
            }
            default -> { }
        }
        throw error("unexpected " + t, t);
    }

    private Expr parsePostfix(Expr e) {
        while (true) {
            Token t = peek();
            if (t.isOp(".")) {
                next();
                Token a = next();
                if (a.type() == Type.NAME) {
                    e = new Node.GetAttr(e, a.text(), t.line(), t.col());
                } else if (a.type() == Type.INT) {
                    e = new Node.GetItem(e, new Node.Literal(a.value(), a.line(), a.col()), t.line(), t.col());
                } else {
                    throw error("expected a name after '.', got " + a, a);
                }
            } else if (t.isOp("[")) {
                next();
                e = parseSubscript(e, t);
            } else if (t.isOp("(")) {
                e = parseCall(e);
            } else {
                return e;
            }
        }
    }

    private Expr parseSubscript(Expr obj, Token t) {
        Expr start = null;
        if (!peek().isOp(":")) {
            start = parseExpression(true);
            if (skipOp("]")) {
                return new Node.GetItem(obj, start, t.line(), t.col());
            }
        }
        expectOp(":");
        Expr stop = null;
        Expr step = null;
        if (!peek().isOp("]") && !peek().isOp(":")) {
            stop = parseExpression(true);
        }
        if (skipOp(":")) {
            if (!peek().isOp("]")) {
                step = parseExpression(true);
            }
        }
        expectOp("]");
        return new Node.Slice(obj, start, stop, step, t.line(), t.col());
    }

    private record Args(List<Expr> args, List<String> kwNames, List<Expr> kwValues) {}

    private Args parseArgs() {
        expectOp("(");
        List<Expr> args = new ArrayList<>();
        List<String> kwNames = new ArrayList<>();
        List<Expr> kwValues = new ArrayList<>();
        boolean first = true;
        while (!peek().isOp(")")) {
            if (!first) {
                expectOp(",");
                if (peek().isOp(")")) {
                    break;
                }
            }
            first = false;
            if (peek().type() == Type.NAME && peek(1).isOp("=")) {
                kwNames.add(next().text());
                next();
                kwValues.add(parseExpression(true));
            } else {
                if (!kwNames.isEmpty()) {
                    throw error("positional argument follows keyword argument", peek());
                }
                args.add(parseExpression(true));
            }
        }
        expectOp(")");
        return new Args(args, kwNames, kwValues);
    }

    private Expr parseCall(Expr fn) {
        Token t = peek();
        Args a = parseArgs();
        return new Node.Call(fn, a.args, a.kwNames, a.kwValues, t.line(), t.col());
    }

    private Expr parseFilterExpr(Expr e) {
        return parseFilterExpr(e, false);
    }

    /** Filters, tests and calls after a value; {@code startInline}: the first filter has no '|'. */
    private Expr parseFilterExpr(Expr e, boolean startInline) {
        while (true) {
            Token t = peek();
            if (t.isOp("|") || startInline) {
                if (!startInline) {
                    next();
                }
                startInline = false;
                String name = dottedName();
                Args a = peek().isOp("(") ? parseArgs() : new Args(List.of(), List.of(), List.of());
                e = new Node.Filter(e, name, a.args, a.kwNames, a.kwValues, t.line(), t.col());
            } else if (t.isName("is")) {
                next();
                boolean negated = skipName("not");
                String name = dottedName();
                List<Expr> args = new ArrayList<>();
                Token c = peek();
                if (c.isOp("(")) {
                    Args a = parseArgs();
                    args.addAll(a.args);
                } else if ((c.type() == Type.NAME || c.type() == Type.STRING || c.type() == Type.INT || c.type() == Type.FLOAT
                        || c.isOp("(") || c.isOp("[") || c.isOp("{"))
                        && !c.isName("else") && !c.isName("or") && !c.isName("and")) {
                    if (c.isName("is")) {
                        throw error("you cannot chain multiple tests with 'is'", c);
                    }
                    args.add(parsePostfix(parsePrimary()));
                }
                e = new Node.Test(e, name, args, negated, t.line(), t.col());
            } else if (t.isOp("(")) {
                e = parseCall(e);
            } else {
                return e;
            }
        }
    }

    private String dottedName() {
        StringBuilder sb = new StringBuilder(expectName());
        while (peek().isOp(".") && peek(1).type() == Type.NAME) {
            next();
            sb.append('.').append(next().text());
        }
        return sb.toString();
    }
}
