package dev.longctx.models.template;

import java.util.ArrayList;
import java.util.List;

/**
 * Executes statements of one render: output, if, for (with loop filters, else, break/continue
 * and the {@code loop} variable), set (names, tuples, namespace attributes, blocks), macros and
 * their calls, filter and with blocks. Each statement and loop iteration costs a step. Not
 * thread-safe: one per render.
 */
final class Renderer {
    /** How a statement list ended. */
    enum Flow { NORMAL, BREAK, CONTINUE }

    private final RenderContext ctx;

    Renderer(RenderContext ctx) {
        this.ctx = ctx;
    }

    Flow exec(List<Stmt> body, Output out) {
        for (Stmt s : body) {
            Flow f = exec(s, out);
            if (f != Flow.NORMAL) {
                return f;
            }
        }
        return Flow.NORMAL;
    }

    private Object eval(Expr e) {
        return ctx.evaluator.eval(e);
    }

    private Flow exec(Stmt s, Output out) {
        ctx.step();
        try {
            switch (s) {
                case Stmt.Text t -> out.append(t.text());
                case Stmt.Print p -> out.append(Values.str(eval(p.expr()), ctx));
                case Stmt.If i -> {
                    for (int k = 0; k < i.tests().size(); k++) {
                        if (Values.truthy(eval(i.tests().get(k)))) {
                            return exec(i.bodies().get(k), out);
                        }
                    }
                    return exec(i.orElse(), out);
                }
                case Stmt.For f -> {
                    return loop(f, out);
                }
                case Stmt.Set set -> assign(set.target(), eval(set.value()), ctx.scope);
                case Stmt.SetBlock sb -> {
                    Output buf = new Output(ctx);
                    Flow flow = exec(sb.body(), buf);
                    Object value = buf.toString();
                    if (sb.filter() != null) {
                        value = ctx.evaluator.filter(sb.filter(), value);
                    }
                    assign(sb.target(), value, ctx.scope);
                    return flow;
                }
                case Stmt.Macro m -> ctx.scope.set(m.name(), new MacroValue(m, ctx.scope));
                case Stmt.FilterBlock fb -> {
                    Output buf = new Output(ctx);
                    Flow flow = exec(fb.body(), buf);
                    out.append(Values.str(ctx.evaluator.filter(fb.filter(), buf.toString()), ctx));
                    return flow;
                }
                case Stmt.With w -> {
                    List<Object> values = new ArrayList<>();
                    for (Expr v : w.values()) {
                        values.add(eval(v));
                    }
                    Scope saved = ctx.scope;
                    Scope inner = new Scope(saved);
                    for (int k = 0; k < values.size(); k++) {
                        assign(w.targets().get(k), values.get(k), inner);
                    }
                    ctx.scope = inner;
                    try {
                        return exec(w.body(), out);
                    } finally {
                        ctx.scope = saved;
                    }
                }
                case Stmt.Block b -> {
                    return b.scoped() ? inChildScope(b.body(), out) : exec(b.body(), out);
                }
                case Stmt.Break b -> {
                    return Flow.BREAK;
                }
                case Stmt.Continue c -> {
                    return Flow.CONTINUE;
                }
            }
            return Flow.NORMAL;
        } catch (TemplateError err) {
            throw err.at(ctx.source, s.pos());
        }
    }

    /** Runs {@code body} in a child scope: its assignments do not outlive it. */
    private Flow inChildScope(List<Stmt> body, Output out) {
        Scope saved = ctx.scope;
        ctx.scope = new Scope(saved);
        try {
            return exec(body, out);
        } finally {
            ctx.scope = saved;
        }
    }

    private Flow loop(Stmt.For f, Output out) {
        // a snapshot: the body may append to the list it iterates (a list the template built)
        List<Object> items = new ArrayList<>(Values.iterate(eval(f.iter())));
        ctx.charge(items.size());
        Scope outer = ctx.scope;
        if (f.filter() != null) {
            List<Object> kept = new ArrayList<>();
            try {
                for (Object item : items) {
                    ctx.step();
                    Scope probe = new Scope(outer);
                    assign(f.target(), item, probe);
                    ctx.scope = probe;
                    if (Values.truthy(eval(f.filter()))) {
                        kept.add(item);
                    }
                }
            } finally {
                ctx.scope = outer;
            }
            items = kept;
        }
        if (items.isEmpty()) {
            return inChildScope(f.orElse(), out);
        }
        LoopValue loop = new LoopValue(items);
        try {
            for (int i = 0; i < items.size(); i++) {
                ctx.step();
                Scope iteration = new Scope(outer);
                iteration.set("loop", loop);
                assign(f.target(), items.get(i), iteration);
                loop.moveTo(i);
                ctx.scope = iteration;
                if (exec(f.body(), out) == Flow.BREAK) {
                    break;
                }
            }
        } finally {
            ctx.scope = outer;
        }
        return Flow.NORMAL;
    }

    private void assign(Stmt.Target target, Object value, Scope scope) {
        switch (target) {
            case Stmt.Target.Name n -> scope.set(n.name(), value);
            case Stmt.Target.NsAttr a -> {
                Object ns = ctx.scope.lookup(a.ns());
                if (ns == null) {
                    ns = ctx.global(a.ns());
                }
                if (!(ns instanceof NamespaceValue namespace)) {
                    throw TemplateError.render("cannot assign attribute on non-namespace object");
                }
                if (a.attr().startsWith("_")) {
                    throw TemplateError.render("access to attribute '" + a.attr() + "' of 'Namespace' object is unsafe");
                }
                namespace.set(a.attr(), value, ctx);
            }
            case Stmt.Target.Tuple t -> {
                if (value instanceof Undefined u) {
                    throw u.fail();
                }
                List<Object> parts = Values.iterate(value);
                if (parts.size() != t.items().size()) {
                    throw TemplateError.render(parts.size() < t.items().size()
                            ? "not enough values to unpack (expected " + t.items().size() + ", got " + parts.size() + ")"
                            : "too many values to unpack (expected " + t.items().size() + ")");
                }
                for (int i = 0; i < parts.size(); i++) {
                    assign(t.items().get(i), parts.get(i), scope);
                }
            }
        }
    }

    /** Calls a macro: binds arguments (missing ones undefined, defaults evaluated in the call's scope) and renders its body. */
    Object callMacro(MacroValue m, CallArgs args) {
        Stmt.Macro def = m.def;
        ctx.enterCall("macro '" + def.name() + "'");
        Scope saved = ctx.scope;
        try {
            Scope scope = new Scope(m.scope);
            ctx.scope = scope;
            List<String> params = def.params();
            int firstDefault = params.size() - def.defaults().size();
            if (args.positional.size() > params.size() && !def.catchesVarargs()) {
                throw TemplateError.render("macro '" + def.name() + "' takes not more than " + params.size() + " argument(s)");
            }
            for (String k : args.keywords.keySet()) {
                if (!params.contains(k) && !def.catchesKwargs()) {
                    throw TemplateError.render("macro '" + def.name() + "' takes no keyword argument '" + k + "'");
                }
            }
            for (int i = 0; i < params.size(); i++) {
                String p = params.get(i);
                Object v;
                if (i < args.positional.size()) {
                    if (args.keywords.containsKey(p)) {
                        throw TemplateError.render("macro '" + def.name() + "' got multiple values for argument '" + p + "'");
                    }
                    v = args.positional.get(i);
                } else if (args.keywords.containsKey(p)) {
                    v = args.keywords.get(p);
                } else if (i >= firstDefault) {
                    v = eval(def.defaults().get(i - firstDefault));
                } else {
                    v = Undefined.hint("parameter '" + p + "' was not provided");
                }
                scope.set(p, v);
            }
            if (def.catchesVarargs()) {
                List<Object> extra = args.positional.size() > params.size()
                        ? List.copyOf(args.positional.subList(params.size(), args.positional.size())) : List.of();
                scope.set("varargs", ListValue.tuple(extra));
            }
            if (def.catchesKwargs()) {
                DictValue.Builder b = DictValue.builder();
                args.keywords.forEach((k, v) -> {
                    if (!params.contains(k)) {
                        b.put(k, v);
                    }
                });
                scope.set("kwargs", b.build());
            }
            Output buf = new Output(ctx);
            exec(def.body(), buf);
            return buf.toString();
        } finally {
            ctx.scope = saved;
            ctx.leaveCall();
        }
    }
}
