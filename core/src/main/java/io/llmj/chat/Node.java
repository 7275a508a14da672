package io.llmj.chat;

import java.util.List;

/** The template syntax tree: statements and expressions, each with its source position. */
sealed interface Node {
    int line();

    int col();

    // ---- statements ----
    record Text(String text, int line, int col) implements Node {}

    record Output(Expr expr, int line, int col) implements Node {}

    record If(List<Expr> tests, List<List<Node>> bodies, List<Node> orElse, int line, int col) implements Node {}

    record For(List<String> targets, Expr iter, Expr filter, List<Node> body, List<Node> orElse, int line, int col) implements Node {}

    record Set(List<String> targets, Expr value, int line, int col) implements Node {}

    record SetAttr(String object, String attr, Expr value, int line, int col) implements Node {}

    record SetBlock(String target, List<Node> body, int line, int col) implements Node {}

    record Macro(String name, List<String> params, List<Expr> defaults, List<Node> body, int line, int col) implements Node {}

    record Break(int line, int col) implements Node {}

    record Continue(int line, int col) implements Node {}

    record Block(List<Node> body, int line, int col) implements Node {}

    record With(List<String> targets, List<Expr> values, List<Node> body, int line, int col) implements Node {}

    record FilterBlock(List<Filter> filters, List<Node> body, int line, int col) implements Node {}

    // ---- expressions ----
    sealed interface Expr extends Node {}

    record Literal(Object value, int line, int col) implements Expr {}

    record Name(String name, int line, int col) implements Expr {}

    record ListExpr(List<Expr> items, int line, int col) implements Expr {}

    record TupleExpr(List<Expr> items, int line, int col) implements Expr {}

    record DictExpr(List<Expr> keys, List<Expr> values, int line, int col) implements Expr {}

    record GetAttr(Expr obj, String attr, int line, int col) implements Expr {}

    record GetItem(Expr obj, Expr key, int line, int col) implements Expr {}

    record Slice(Expr obj, Expr start, Expr stop, Expr step, int line, int col) implements Expr {}

    record Call(Expr fn, List<Expr> args, List<String> kwNames, List<Expr> kwValues, int line, int col) implements Expr {}

    record Filter(Expr value, String name, List<Expr> args, List<String> kwNames, List<Expr> kwValues, int line, int col) implements Expr {}

    record Test(Expr value, String name, List<Expr> args, boolean negated, int line, int col) implements Expr {}

    record Unary(String op, Expr operand, int line, int col) implements Expr {}

    record Binary(String op, Expr left, Expr right, int line, int col) implements Expr {}

    record And(Expr left, Expr right, int line, int col) implements Expr {}

    record Or(Expr left, Expr right, int line, int col) implements Expr {}

    record Not(Expr operand, int line, int col) implements Expr {}

    record Compare(Expr first, List<String> ops, List<Expr> rest, int line, int col) implements Expr {}

    record Cond(Expr test, Expr then, Expr orElse, int line, int col) implements Expr {}
}
