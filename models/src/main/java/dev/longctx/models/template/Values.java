package dev.longctx.models.template;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * Python's semantics for the template value model: truth, {@code str()}, {@code repr()},
 * equality, ordering, iteration, {@code len()}, type names; and the conversion of the caller's
 * Java values into template values. The values are {@link String}, {@link Long}, {@link Double},
 * {@link Boolean}, {@link NoneValue}, {@link Undefined}, {@link ListValue}, {@link DictValue},
 * {@link NamespaceValue}, {@link IteratorValue}, {@link LoopValue}, and {@link TemplateCallable}s;
 * nothing else ever reaches a template, so a template cannot reach Java objects. Stateless.
 */
final class Values {
    private Values() {
    }

    static boolean isInt(Object v) {
        return v instanceof Long || v instanceof Boolean;
    }

    static boolean isNumber(Object v) {
        return v instanceof Long || v instanceof Double || v instanceof Boolean;
    }

    static long asLong(Object v) {
        return v instanceof Boolean b ? (b ? 1 : 0) : (Long) v;
    }

    static double asDouble(Object v) {
        return v instanceof Double d ? d : asLong(v);
    }

    static boolean truthy(Object v) {
        return switch (v) {
            case Boolean b -> b;
            case String s -> !s.isEmpty();
            case Long l -> l != 0;
            case Double d -> d != 0;
            case NoneValue n -> false;
            case Undefined u -> false;
            case ListValue l -> l.size() > 0;
            case DictValue d -> d.size() > 0;
            default -> true;
        };
    }

    /** Python's type name. */
    static String typeName(Object v) {
        return switch (v) {
            case String s -> "str";
            case Long l -> "int";
            case Double d -> "float";
            case Boolean b -> "bool";
            case NoneValue n -> "NoneType";
            case Undefined u -> "Undefined";
            case ListValue l -> l.kind.pyName;
            case DictValue d -> "dict";
            case NamespaceValue n -> "Namespace";
            case IteratorValue i -> i.pyName();
            case LoopValue l -> "LoopContext";
            case MacroValue m -> "Macro";
            case Globals.Cycler c -> "Cycler";
            default -> "builtin_function_or_method";
        };
    }

    /** jinja2's object_type_repr: "None", or "dict object". */
    static String objectTypeName(Object v) {
        return v == NoneValue.NONE ? "None" : typeName(v) + " object";
    }

    /** {@code str(v)}, as printing does; bounded by the string limit. */
    static String str(Object v, RenderContext ctx) {
        if (v instanceof String s) {
            return s;
        }
        StringBuilder sb = new StringBuilder();
        appendStr(sb, v, ctx, 0);
        return sb.toString();
    }

    /** {@code repr(v)}. */
    static String repr(Object v, RenderContext ctx) {
        StringBuilder sb = new StringBuilder();
        appendRepr(sb, v, ctx, 0);
        return sb.toString();
    }

    /** A short repr for error messages (scalars in full, containers elided). */
    static String repr(Object v) {
        return switch (v) {
            case String s -> PyRepr.string(s.length() > 200 ? s.substring(0, 200) + "..." : s);
            case ListValue l -> "<" + l.kind.pyName + " of " + l.size() + ">";
            case DictValue d -> "<dict of " + d.size() + ">";
            default -> scalarStr(v);
        };
    }

    private static String scalarStr(Object v) {
        return switch (v) {
            case Long l -> l.toString();
            case Double d -> PyRepr.floatRepr(d);
            case Boolean b -> b ? "True" : "False";
            case NoneValue n -> "None";
            case Undefined u -> "";
            case NamespaceValue n -> "<Namespace>";
            case IteratorValue i -> "<" + i.pyName() + " object>";
            case LoopValue l -> "<LoopContext " + (l.index0() + 1) + "/" + l.length() + ">";
            case MacroValue m -> "<Macro '" + m.name() + "'>";
            case Globals.Cycler c -> "<Cycler object>";
            case TemplateCallable c -> c.describe();
            default -> String.valueOf(v);
        };
    }

    private static void appendStr(StringBuilder sb, Object v, RenderContext ctx, int depth) {
        if (v instanceof String s) {
            sb.append(s);
            ctx.checkString(sb.length());
        } else {
            appendRepr(sb, v, ctx, depth);
        }
    }

    private static void checkDepth(RenderContext ctx, int depth) {
        if (depth > ctx.limits.maxValueDepth()) {
            throw TemplateError.limit("a value nests deeper than the limit of " + ctx.limits.maxValueDepth() + " (a cycle?)");
        }
    }

    private static void appendRepr(StringBuilder sb, Object v, RenderContext ctx, int depth) {
        checkDepth(ctx, depth);
        ctx.step();
        switch (v) {
            case String s -> PyRepr.appendString(sb, s);
            case ListValue l -> {
                String open;
                String close;
                switch (l.kind) {
                    case TUPLE -> {
                        open = "(";
                        close = l.size() == 1 ? ",)" : ")";
                    }
                    case RANGE -> {
                        sb.append(l.rangeRepr());
                        return;
                    }
                    case LIST -> {
                        open = "[";
                        close = "]";
                    }
                    default -> {
                        open = l.kind.pyName + "([";
                        close = "])";
                    }
                }
                sb.append(open);
                for (int i = 0; i < l.size(); i++) {
                    if (i > 0) {
                        sb.append(", ");
                    }
                    appendRepr(sb, l.get(i), ctx, depth + 1);
                    ctx.checkString(sb.length());
                }
                sb.append(close);
            }
            case DictValue d -> {
                sb.append('{');
                boolean first = true;
                for (Map.Entry<Object, Object> e : d.asMap().entrySet()) {
                    if (!first) {
                        sb.append(", ");
                    }
                    first = false;
                    appendRepr(sb, e.getKey(), ctx, depth + 1);
                    sb.append(": ");
                    appendRepr(sb, e.getValue(), ctx, depth + 1);
                    ctx.checkString(sb.length());
                }
                sb.append('}');
            }
            case NamespaceValue n -> {
                sb.append("<Namespace {");
                boolean first = true;
                for (Map.Entry<String, Object> e : n.attrs().entrySet()) {
                    if (!first) {
                        sb.append(", ");
                    }
                    first = false;
                    PyRepr.appendString(sb, e.getKey());
                    sb.append(": ");
                    appendRepr(sb, e.getValue(), ctx, depth + 1);
                    ctx.checkString(sb.length());
                }
                sb.append("}>");
            }
            case Undefined u -> {
                if (depth > 0) {
                    sb.append("Undefined");
                }
            }
            default -> sb.append(scalarStr(v));
        }
        ctx.checkString(sb.length());
    }

    /** Python's {@code ==}. */
    static boolean pyEquals(Object a, Object b, int depth) {
        if (a == b) {
            return true;
        }
        if (isNumber(a) && isNumber(b)) {
            if (isInt(a) && isInt(b)) {
                return asLong(a) == asLong(b);
            }
            return asDouble(a) == asDouble(b);
        }
        if (a instanceof String s) {
            return s.equals(b);
        }
        if (a instanceof Undefined) {
            return b instanceof Undefined;
        }
        if (depth > 1000) {
            throw TemplateError.limit("compared values nest too deeply (a cycle?)");
        }
        if (a instanceof ListValue x && b instanceof ListValue y) {
            boolean sameFamily = x.kind == y.kind || (x.kind == ListValue.Kind.RANGE && y.kind == ListValue.Kind.RANGE);
            if (!sameFamily || x.size() != y.size()) {
                return false;
            }
            for (int i = 0; i < x.size(); i++) {
                if (!pyEquals(x.get(i), y.get(i), depth + 1)) {
                    return false;
                }
            }
            return true;
        }
        if (a instanceof DictValue x && b instanceof DictValue y) {
            if (x.size() != y.size()) {
                return false;
            }
            for (Map.Entry<Object, Object> e : x.asMap().entrySet()) {
                Object other = y.get(e.getKey());
                if (other == null || !pyEquals(e.getValue(), other, depth + 1)) {
                    return false;
                }
            }
            return true;
        }
        return false;
    }

    /** Python's ordering ({@code <} as negative); {@code op} names the operator for the error. */
    static int compare(Object a, Object b, String op, int depth) {
        if (a instanceof Undefined u) {
            throw u.fail();
        }
        if (b instanceof Undefined u) {
            throw u.fail();
        }
        if (isNumber(a) && isNumber(b)) {
            if (isInt(a) && isInt(b)) {
                return Long.compare(asLong(a), asLong(b));
            }
            double x = asDouble(a);
            double y = asDouble(b);
            return x < y ? -1 : x > y ? 1 : 0;
        }
        if (a instanceof String x && b instanceof String y) {
            return PyStrings.compare(x, y);
        }
        if (a instanceof ListValue x && b instanceof ListValue y && x.kind == y.kind
                && (x.kind == ListValue.Kind.LIST || x.kind == ListValue.Kind.TUPLE)) {
            if (depth > 1000) {
                throw TemplateError.limit("compared values nest too deeply (a cycle?)");
            }
            int n = Math.min(x.size(), y.size());
            for (int i = 0; i < n; i++) {
                if (!pyEquals(x.get(i), y.get(i), depth + 1)) {
                    return compare(x.get(i), y.get(i), op, depth + 1);
                }
            }
            return Integer.compare(x.size(), y.size());
        }
        throw TemplateError.render("'" + op + "' not supported between instances of '" + typeName(a) + "' and '" + typeName(b) + "'");
    }

    /** Python's {@code needle in haystack}. */
    static boolean contains(Object haystack, Object needle) {
        return switch (haystack) {
            case String s -> {
                if (!(needle instanceof String n)) {
                    throw TemplateError.render("'in <string>' requires string as left operand, not " + typeName(needle));
                }
                yield s.contains(n);
            }
            case ListValue l -> {
                for (Object o : l.items()) {
                    if (pyEquals(o, needle, 0)) {
                        yield true;
                    }
                }
                yield false;
            }
            case DictValue d -> d.containsKey(needle);
            case Undefined u -> false;
            case IteratorValue it -> {
                for (Object o : it.consume()) {
                    if (pyEquals(o, needle, 0)) {
                        yield true;
                    }
                }
                yield false;
            }
            case NamespaceValue ns -> throw TemplateError.render("argument of type 'Namespace' is not iterable");
            default -> throw TemplateError.render("argument of type '" + typeName(haystack) + "' is not iterable");
        };
    }

    /** The elements iterating {@code v} yields (a string's code points, a dict's keys ...); consumes iterators. */
    static List<Object> iterate(Object v) {
        return switch (v) {
            case ListValue l -> l.items();
            case DictValue d -> d.keys();
            case String s -> {
                List<Object> out = new ArrayList<>(s.length());
                s.codePoints().forEach(cp -> out.add(Character.toString(cp)));
                yield out;
            }
            case IteratorValue it -> it.consume();
            case Undefined u -> List.of();
            default -> throw TemplateError.render("'" + typeName(v) + "' object is not iterable");
        };
    }

    /** Python's {@code len()}. */
    static long len(Object v) {
        return switch (v) {
            case String s -> PyStrings.length(s);
            case ListValue l -> l.size();
            case DictValue d -> d.size();
            case Undefined u -> 0;
            case LoopValue l -> l.length();
            default -> throw TemplateError.render("object of type '" + typeName(v) + "' has no len()");
        };
    }

    /**
     * Converts a caller's value (String, Boolean, integral and floating Numbers, Map with String
     * keys, List, Collection, array of Objects, null) into a template value; refuses any other type
     * and strings with unpaired surrogates. {@code path} names the value in messages.
     */
    static Object fromJava(Object v, String path, int depth, TemplateLimits limits) {
        if (depth > limits.maxValueDepth()) {
            throw TemplateError.limit("variable " + path + " nests deeper than the limit of " + limits.maxValueDepth() + " (a cycle?)");
        }
        return switch (v) {
            case null -> NoneValue.NONE;
            case String s -> {
                int bad = PyStrings.unpairedSurrogate(s);
                if (bad >= 0) {
                    throw TemplateError.render("variable " + path + " contains an unpaired UTF-16 surrogate at index " + bad);
                }
                yield s;
            }
            case Character c -> fromJava(String.valueOf(c), path, depth, limits);
            case Boolean b -> b;
            case Long l -> l;
            case Integer i -> (long) i;
            case Short s -> (long) s;
            case Byte b -> (long) b;
            case Double d -> d;
            case Float f -> (double) f;
            case BigInteger b -> {
                if (b.bitLength() > 63) {
                    throw TemplateError.render("variable " + path + " is an integer beyond 64 bits");
                }
                yield b.longValue();
            }
            case BigDecimal b -> b.doubleValue();
            case Map<?, ?> m -> {
                DictValue.Builder d = DictValue.builder();
                for (Map.Entry<?, ?> e : m.entrySet()) {
                    Object key = e.getKey();
                    if (!(key instanceof String || key instanceof Number || key instanceof Boolean || key == null)) {
                        throw TemplateError.render("variable " + path + " has a key of unsupported type " + key.getClass().getName());
                    }
                    Object k = fromJava(key, path + " key", depth + 1, limits);
                    d.put(k, fromJava(e.getValue(), path + "[" + repr(k) + "]", depth + 1, limits));
                }
                yield d.build();
            }
            case Collection<?> c -> {
                List<Object> items = new ArrayList<>(c.size());
                int i = 0;
                for (Object o : c) {
                    items.add(fromJava(o, path + "[" + i++ + "]", depth + 1, limits));
                }
                yield ListValue.frozen(items);
            }
            case Object[] a -> fromJava(java.util.Arrays.asList(a), path, depth, limits);
            case ListValue l -> l;
            case DictValue d -> d;
            case NoneValue n -> n;
            default -> throw TemplateError.render("variable " + path + " has unsupported type " + v.getClass().getName());
        };
    }
}
