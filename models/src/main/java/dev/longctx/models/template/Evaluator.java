package dev.longctx.models.template;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Evaluates expressions of one render: variable lookup through the scopes, literals, attribute
 * and item access with jinja2's rules (attributes are only the listed methods and loop/namespace
 * fields; names starting with {@code _} are refused), slicing, operators, filters, tests and
 * calls. Every node costs a step. Errors raised below are given the node's line:column here.
 * Not thread-safe: one per render.
 */
final class Evaluator {
    private final RenderContext ctx;

    Evaluator(RenderContext ctx) {
        this.ctx = ctx;
    }

    Object eval(Expr e) {
        ctx.step();
        try {
            return switch (e) {
                case Expr.Const c -> c.value();
                case Expr.Name n -> lookup(n.name());
                case Expr.ListLit l -> ListValue.list(evalAll(l.items()));
                case Expr.TupleLit t -> ListValue.tuple(evalAll(t.items()));
                case Expr.DictLit d -> dict(d);
                case Expr.GetAttr g -> getAttr(eval(g.obj()), g.name());
                case Expr.GetItem g -> g.key() instanceof Expr.Slice s ? slice(eval(g.obj()), s) : getItem(eval(g.obj()), eval(g.key()));
                case Expr.Slice s -> throw TemplateError.render("a slice outside brackets");
                case Expr.Binary b -> Operators.binary(ctx, b.op(), eval(b.left()), eval(b.right()));
                case Expr.Concat c -> concat(c);
                case Expr.Compare c -> compare(c);
                case Expr.And a -> {
                    Object l = eval(a.left());
                    yield Values.truthy(l) ? eval(a.right()) : l;
                }
                case Expr.Or o -> {
                    Object l = eval(o.left());
                    yield Values.truthy(l) ? l : eval(o.right());
                }
                case Expr.Not n -> !Values.truthy(eval(n.operand()));
                case Expr.Neg n -> Operators.neg(eval(n.operand()));
                case Expr.Pos p -> Operators.pos(eval(p.operand()));
                case Expr.Cond c -> {
                    if (Values.truthy(eval(c.test()))) {
                        yield eval(c.then());
                    }
                    yield c.otherwise() != null ? eval(c.otherwise()) : Undefined.hint("the inline if-expression on line "
                            + ctx.source.line(c.pos()) + " evaluated to false and no else section was defined.");
                }
                case Expr.Filter f -> filter(f, null);
                case Expr.Test t -> Predicates.apply(ctx, t.name(), eval(t.value()), args(t.name(), t.args()));
                case Expr.Call c -> call(c);
            };
        } catch (TemplateError err) {
            throw err.at(ctx.source, e.pos());
        }
    }

    private Object lookup(String name) {
        Object v = ctx.scope.lookup(name);
        if (v == null) {
            v = ctx.global(name);
        }
        return v != null ? v : Undefined.variable(name);
    }

    private List<Object> evalAll(List<Expr> items) {
        ctx.checkCollectionSize(items.size());
        List<Object> out = new ArrayList<>(items.size());
        for (Expr x : items) {
            out.add(eval(x));
        }
        return out;
    }

    private Object dict(Expr.DictLit d) {
        DictValue.Builder b = DictValue.builder();
        for (int i = 0; i < d.keys().size(); i++) {
            Object k = eval(d.keys().get(i));
            b.put(k, eval(d.values().get(i)));
        }
        ctx.checkCollectionSize(b.size());
        return b.build();
    }

    CallArgs args(String callee, Expr.Args a) {
        if (a.positional().isEmpty() && a.names().isEmpty()) {
            return new CallArgs(callee, List.of(), Map.of());
        }
        List<Object> pos = new ArrayList<>(a.positional().size());
        for (Expr x : a.positional()) {
            pos.add(eval(x));
        }
        Map<String, Object> kw = new LinkedHashMap<>();
        for (int i = 0; i < a.names().size(); i++) {
            kw.put(a.names().get(i), eval(a.values().get(i)));
        }
        return new CallArgs(callee, pos, kw);
    }

    /** Applies a filter node; {@code hole} is the input of a block filter chain (whose innermost value is null). */
    Object filter(Expr.Filter f, Object hole) {
        Object input;
        if (f.value() == null) {
            input = hole;
        } else if (hole != null && f.value() instanceof Expr.Filter inner) {
            input = filter(inner, hole);
        } else {
            input = eval(f.value());
        }
        try {
            return Filters.apply(ctx, f.name(), input, args(f.name(), f.args()));
        } catch (TemplateError err) {
            throw err.at(ctx.source, f.pos());
        }
    }

    private Object call(Expr.Call c) {
        Object callee = eval(c.callee());
        if (callee instanceof Undefined u) {
            throw u.fail();
        }
        if (!(callee instanceof TemplateCallable fn)) {
            throw TemplateError.render("'" + Values.typeName(callee) + "' object is not callable");
        }
        String name = fn instanceof MacroValue m ? m.name() : fn instanceof Methods.BoundMethod b ? b.name()
                : fn instanceof Globals.Builtin g ? g.name() : "call";
        return fn.call(ctx, args(name, c.args()));
    }

    private Object concat(Expr.Concat c) {
        StringBuilder sb = new StringBuilder();
        for (Expr part : c.parts()) {
            sb.append(Values.str(eval(part), ctx));
            ctx.checkString(sb.length());
        }
        ctx.chargeChars(sb.length());
        return sb.toString();
    }

    private Object compare(Expr.Compare c) {
        Object left = eval(c.first());
        for (int i = 0; i < c.ops().size(); i++) {
            Object right = eval(c.rest().get(i));
            boolean ok = switch (c.ops().get(i)) {
                case "==" -> Values.pyEquals(left, right, 0);
                case "!=" -> !Values.pyEquals(left, right, 0);
                case "<" -> Values.compare(left, right, "<", 0) < 0;
                case "<=" -> Values.compare(left, right, "<=", 0) <= 0;
                case ">" -> Values.compare(left, right, ">", 0) > 0;
                case ">=" -> Values.compare(left, right, ">=", 0) >= 0;
                case "in" -> Values.contains(right, left);
                default -> !Values.contains(right, left);
            };
            if (!ok) {
                return false;
            }
            left = right;
        }
        return true;
    }

    private static TemplateError unsafe(Object obj, String name) {
        return TemplateError.render("access to attribute '" + name + "' of '" + Values.typeName(obj)
                + "' object is unsafe (attributes starting with '_' are refused)");
    }

    /** {@code obj.name}: jinja2's sandboxed getattr (an attribute, else an item). */
    Object getAttr(Object obj, String name) {
        return getAttr(obj, name, true);
    }

    /** The {@code attr} filter: an attribute only, never a dict item. */
    Object attributeOnly(Object obj, String name) {
        return getAttr(obj, name, false);
    }

    private Object getAttr(Object obj, String name, boolean items) {
        if (obj instanceof Undefined u) {
            throw u.fail();
        }
        if (name.startsWith("_")) {
            if (items && obj instanceof DictValue d && !name.startsWith("__") && d.get(name) != null) {
                return d.get(name);
            }
            throw unsafe(obj, name);
        }
        Object method = Methods.lookup(obj, name);
        if (method != null) {
            return method;
        }
        Object v = switch (obj) {
            case DictValue d -> items ? d.get(name) : null;
            case NamespaceValue ns -> ns.get(name);
            case LoopValue l -> l.attribute(name);
            case Globals.Cycler c -> name.equals("current") ? c.current() : null;
            default -> null;
        };
        return v != null ? v : Undefined.attribute(obj, name);
    }

    /** {@code obj[key]}: jinja2's getitem (an item, else for string keys an attribute). */
    Object getItem(Object obj, Object key) {
        if (obj instanceof Undefined u) {
            throw u.fail();
        }
        Object v = switch (obj) {
            case DictValue d -> key instanceof ListValue || key instanceof DictValue ? null : d.get(key);
            case ListValue l when l.isSubscriptable() && Values.isInt(key) -> index(l.items(), Values.asLong(key));
            case String s when Values.isInt(key) -> {
                int n = PyStrings.length(s);
                long i = Values.asLong(key);
                i = i < 0 ? i + n : i;
                yield i >= 0 && i < n ? Character.toString(s.codePointAt(s.offsetByCodePoints(0, (int) i))) : null;
            }
            default -> null;
        };
        if (v != null) {
            return v;
        }
        if (key instanceof String name) {
            if (name.startsWith("_")) {
                return Undefined.attribute(obj, name);
            }
            Object attr = getAttr(obj, name);
            if (!(attr instanceof Undefined)) {
                return attr;
            }
        }
        return key instanceof String name ? Undefined.attribute(obj, name) : Undefined.element(obj, key);
    }

    private static Object index(List<Object> items, long i) {
        long j = i < 0 ? i + items.size() : i;
        return j >= 0 && j < items.size() ? items.get((int) j) : null;
    }

    private Object sliceBound(Expr e) {
        return e == null ? NoneValue.NONE : eval(e);
    }

    private Object slice(Object obj, Expr.Slice s) {
        if (obj instanceof Undefined u) {
            throw u.fail();
        }
        Object start = sliceBound(s.start());
        Object stop = sliceBound(s.stop());
        Object step = sliceBound(s.step());
        for (Object b : new Object[] {start, stop, step}) {
            if (b != NoneValue.NONE && !Values.isInt(b)) {
                return Undefined.hint("slice indices must be integers or None"); // jinja2: TypeError -> undefined
            }
        }
        long st = step == NoneValue.NONE ? 1 : Values.asLong(step);
        if (st == 0) {
            throw TemplateError.render("slice step cannot be zero");
        }
        if (obj instanceof String str) {
            int[] cps = str.codePoints().toArray();
            int[] idx = sliceIndices(cps.length, start, stop, st);
            StringBuilder sb = new StringBuilder(idx.length);
            for (int i : idx) {
                sb.appendCodePoint(cps[i]);
            }
            ctx.chargeChars(sb.length());
            return sb.toString();
        }
        if (obj instanceof ListValue l && l.isSubscriptable()) {
            int[] idx = sliceIndices(l.size(), start, stop, st);
            List<Object> out = new ArrayList<>(idx.length);
            for (int i : idx) {
                out.add(l.get(i));
            }
            ctx.charge(out.size());
            return l.isTuple() ? ListValue.tuple(out) : ListValue.list(out);
        }
        return Undefined.hint(Values.objectTypeName(obj) + " is not subscriptable");
    }

    /** Python's slice.indices + range: the selected positions. */
    private static int[] sliceIndices(int len, Object startV, Object stopV, long step) {
        long start;
        long stop;
        if (step > 0) {
            start = startV == NoneValue.NONE ? 0 : clamp(Values.asLong(startV), len, 0, len);
            stop = stopV == NoneValue.NONE ? len : clamp(Values.asLong(stopV), len, 0, len);
        } else {
            start = startV == NoneValue.NONE ? len - 1 : clamp(Values.asLong(startV), len, -1, len - 1);
            stop = stopV == NoneValue.NONE ? -1 : clamp(Values.asLong(stopV), len, -1, len - 1);
        }
        long count = step > 0 ? (stop > start ? (stop - start - 1) / step + 1 : 0) : (start > stop ? (start - stop - 1) / -step + 1 : 0);
        int[] out = new int[(int) count];
        for (int i = 0; i < count; i++) {
            out[i] = (int) (start + i * step);
        }
        return out;
    }

    private static long clamp(long i, int len, long lo, long hi) {
        if (i < 0) {
            i += len;
            return i < 0 ? lo : i;
        }
        return Math.min(i, hi);
    }
}
