package dev.longctx.models.template;

import java.util.List;

/**
 * Statement nodes of a parsed template (the body of a template, block or macro is a list of
 * these). Immutable: a parsed template is shared by concurrent renders.
 */
sealed interface Stmt {
    int pos();

    /** Template data, output as is. */
    record Text(int pos, String text) implements Stmt { }

    /** {@code {{ expr }}}. */
    record Print(int pos, Expr expr) implements Stmt { }

    /** if / elif ... / else; {@code orElse} is empty when absent. */
    record If(int pos, List<Expr> tests, List<List<Stmt>> bodies, List<Stmt> orElse) implements Stmt { }

    /** {@code for target in iter [if filter]} ... [else] ...; filter is null when absent. */
    record For(int pos, Target target, Expr iter, Expr filter, List<Stmt> body, List<Stmt> orElse) implements Stmt { }

    record Set(int pos, Target target, Expr value) implements Stmt { }

    /** {@code {% set target [| filters] %}body{% endset %}}; filter is null when absent. */
    record SetBlock(int pos, Target target, Expr.Filter filter, List<Stmt> body) implements Stmt { }

    /** A macro definition; defaults belong to the last parameters. */
    record Macro(int pos, String name, List<String> params, List<Expr> defaults, List<Stmt> body, boolean catchesVarargs,
                 boolean catchesKwargs) implements Stmt { }

    /** {@code {% filter f %}body{% endfilter %}}. */
    record FilterBlock(int pos, Expr.Filter filter, List<Stmt> body) implements Stmt { }

    /** {@code {% with a = x, b = y %}body{% endwith %}}: the body in its own scope. */
    record With(int pos, List<Target> targets, List<Expr> values, List<Stmt> body) implements Stmt { }

    /**
     * A body rendered in place: {@code {% print %}}'s outputs, or transformers'
     * {@code {% generation %}} (scoped: a call block in jinja2, its assignments stay inside).
     */
    record Block(int pos, List<Stmt> body, boolean scoped) implements Stmt { }

    record Break(int pos) implements Stmt { }

    record Continue(int pos) implements Stmt { }

    /** Where {@code set} and {@code for} store values. */
    sealed interface Target {
        record Name(String name) implements Target { }

        record Tuple(List<Target> items) implements Target { }

        /** {@code ns.attr}: an attribute of a {@code namespace()}. */
        record NsAttr(String ns, String attr) implements Target { }
    }
}
