package dev.longctx.models.template;

import java.util.List;

/**
 * jinja2's tests ({@code value is name args}): defined, undefined, none, boolean, true, false,
 * integer, float, number, string, mapping, iterable, sequence, callable, sameas, escaped, in,
 * eq/equalto, ne, lt/lessthan, le, gt/greaterthan, ge, even, odd, divisibleby, lower, upper,
 * filter, test. Stateless.
 */
final class Predicates {
    private Predicates() {
    }

    static boolean exists(String name) {
        return switch (name) {
            case "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string", "mapping",
                 "iterable", "sequence", "callable", "sameas", "escaped", "in", "eq", "equalto", "ne", "lt", "lessthan", "le", "gt",
                 "greaterthan", "ge", "even", "odd", "divisibleby", "lower", "upper", "filter", "test" -> true;
            default -> false;
        };
    }

    static boolean apply(RenderContext ctx, String name, Object v, CallArgs a) {
        CallArgs args = a.named(name);
        boolean r = switch (name) {
            case "defined" -> !(v instanceof Undefined);
            case "undefined" -> v instanceof Undefined;
            case "none" -> v == NoneValue.NONE;
            case "boolean" -> v instanceof Boolean;
            case "true" -> Boolean.TRUE.equals(v);
            case "false" -> Boolean.FALSE.equals(v);
            case "integer" -> v instanceof Long;
            case "float" -> v instanceof Double;
            case "number" -> Values.isNumber(v);
            case "string" -> v instanceof String;
            case "mapping" -> v instanceof DictValue;
            case "iterable" -> v instanceof String || v instanceof ListValue || v instanceof DictValue || v instanceof IteratorValue
                    || v instanceof Undefined || v instanceof LoopValue;
            case "sequence" -> v instanceof String || (v instanceof ListValue l && l.isSubscriptable()) || v instanceof DictValue
                    || v instanceof Undefined;
            case "callable" -> v instanceof TemplateCallable || v instanceof Undefined;
            case "sameas" -> sameAs(v, args.required(0, "other"));
            case "escaped" -> false;
            case "in" -> Values.contains(args.required(0, "seq"), v);
            case "eq", "equalto" -> Values.pyEquals(v, args.required(0, "other"), 0);
            case "ne" -> !Values.pyEquals(v, args.required(0, "other"), 0);
            case "lt", "lessthan" -> Values.compare(v, args.required(0, "other"), "<", 0) < 0;
            case "le" -> Values.compare(v, args.required(0, "other"), "<=", 0) <= 0;
            case "gt", "greaterthan" -> Values.compare(v, args.required(0, "other"), ">", 0) > 0;
            case "ge" -> Values.compare(v, args.required(0, "other"), ">=", 0) >= 0;
            case "even" -> Values.pyEquals(Operators.binary(ctx, Expr.BinOp.MOD, v, 2L), 0L, 0);
            case "odd" -> Values.pyEquals(Operators.binary(ctx, Expr.BinOp.MOD, v, 2L), 1L, 0);
            case "divisibleby" -> Values.pyEquals(Operators.binary(ctx, Expr.BinOp.MOD, v, args.required(0, "num")), 0L, 0);
            case "lower" -> PyStrings.isCase(Values.str(v, ctx), false);
            case "upper" -> PyStrings.isCase(Values.str(v, ctx), true);
            case "filter" -> v instanceof String s && Filters.exists(s);
            case "test" -> v instanceof String s && exists(s);
            default -> throw TemplateError.render("no test named '" + name + "'");
        };
        args.done();
        return r;
    }

    private static boolean sameAs(Object a, Object b) {
        if (a == b) {
            return true;
        }
        if (a instanceof Boolean || a instanceof NoneValue) {
            return a.equals(b);
        }
        if (a instanceof Long x && b instanceof Long y) {
            return x.longValue() == y.longValue() && x >= -5 && x <= 256; // CPython's small-int cache
        }
        return false;
    }

    /** A test by name with its arguments, as select/reject apply it. */
    static boolean apply(RenderContext ctx, String name, Object v, List<Object> positional, java.util.Map<String, Object> keywords) {
        return apply(ctx, name, v, new CallArgs(name, positional, keywords));
    }
}
