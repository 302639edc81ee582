package dev.longctx.models.template;

import java.util.List;

/**
 * Expression nodes of a parsed template. Every node knows its source offset (for error positions)
 * and its height in the tree (bounded by {@link TemplateLimits#maxNestingDepth()} when parsed, so
 * evaluating it cannot recurse without bound). Immutable: a parsed template is shared by
 * concurrent renders.
 */
sealed interface Expr {
    int pos();

    int height();

    /** A literal: string, long, double, boolean or {@link NoneValue}. */
    record Const(int pos, int height, Object value) implements Expr { }

    record Name(int pos, int height, String name) implements Expr { }

    record ListLit(int pos, int height, List<Expr> items) implements Expr { }

    record TupleLit(int pos, int height, List<Expr> items) implements Expr { }

    record DictLit(int pos, int height, List<Expr> keys, List<Expr> values) implements Expr { }

    /** {@code obj.name}: an attribute, else an item (jinja2's getattr). */
    record GetAttr(int pos, int height, Expr obj, String name) implements Expr { }

    /** {@code obj[key]}: an item, else an attribute (jinja2's getitem); key may be a {@link Slice}. */
    record GetItem(int pos, int height, Expr obj, Expr key) implements Expr { }

    /** {@code start:stop:step} inside brackets; absent parts are null. */
    record Slice(int pos, int height, Expr start, Expr stop, Expr step) implements Expr { }

    enum BinOp {
        ADD("+"), SUB("-"), MUL("*"), DIV("/"), FLOORDIV("//"), MOD("%"), POW("**");

        final String symbol;

        BinOp(String symbol) {
            this.symbol = symbol;
        }
    }

    record Binary(int pos, int height, BinOp op, Expr left, Expr right) implements Expr { }

    /** {@code a ~ b ~ c}: the string forms joined. */
    record Concat(int pos, int height, List<Expr> parts) implements Expr { }

    /** {@code a < b == c ...}: Python's chained comparison; ops are eq, ne, lt, lteq, gt, gteq, in, notin. */
    record Compare(int pos, int height, Expr first, List<String> ops, List<Expr> rest) implements Expr { }

    record And(int pos, int height, Expr left, Expr right) implements Expr { }

    record Or(int pos, int height, Expr left, Expr right) implements Expr { }

    record Not(int pos, int height, Expr operand) implements Expr { }

    record Neg(int pos, int height, Expr operand) implements Expr { }

    record Pos(int pos, int height, Expr operand) implements Expr { }

    /** {@code then if test else otherwise}; otherwise is null when absent (undefined then). */
    record Cond(int pos, int height, Expr test, Expr then, Expr otherwise) implements Expr { }

    /** Call arguments: positional, then keyword. */
    record Args(List<Expr> positional, List<String> names, List<Expr> values) {
        static final Args NONE = new Args(List.of(), List.of(), List.of());
    }

    /** {@code value | name(args)}; value is null in a filter block or block set (the body is the input). */
    record Filter(int pos, int height, Expr value, String name, Args args) implements Expr { }

    /** {@code value is name args}. */
    record Test(int pos, int height, Expr value, String name, Args args) implements Expr { }

    record Call(int pos, int height, Expr callee, Args args) implements Expr { }
}
