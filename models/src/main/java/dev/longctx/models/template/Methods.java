package dev.longctx.models.template;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The methods of template values that real chat templates call: string methods
 * ({@code strip}, {@code split}, {@code startswith}, {@code replace}, {@code format} ...), dict
 * {@code items/keys/values/get}, list {@code append} (only on lists the template built),
 * {@code count}, {@code index}, and the {@code loop} and {@code cycler} methods. Methods that
 * would mutate a dict or a passed-in list are refused as jinja2's immutable sandbox refuses
 * them. No Java method is ever reachable. Stateless.
 */
final class Methods {
    private Methods() {
    }

    /** A method bound to its receiver, as {@code s.strip} evaluates to. */
    record BoundMethod(Object self, String name) implements TemplateCallable {
        @Override
        public String describe() {
            return "<built-in method " + name + " of " + Values.typeName(self) + " object>";
        }

        @Override
        public Object call(RenderContext ctx, CallArgs args) {
            return Methods.call(ctx, self, name, args.named(name));
        }
    }

    private static final Set<String> STRING_METHODS = Set.of("strip", "lstrip", "rstrip", "startswith", "endswith", "split",
            "rsplit", "splitlines", "replace", "upper", "lower", "title", "capitalize", "find", "rfind", "index", "rindex", "count",
            "join", "isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower", "isnumeric", "isdecimal", "removeprefix",
            "removesuffix", "center", "ljust", "rjust", "zfill", "format", "partition", "rpartition");
    private static final Set<String> DICT_METHODS = Set.of("items", "keys", "values", "get", "copy");
    private static final Set<String> DICT_MUTATORS = Set.of("clear", "pop", "popitem", "setdefault", "update");
    private static final Set<String> LIST_METHODS = Set.of("count", "index", "copy");
    private static final Set<String> LIST_MUTATORS = Set.of("append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear");

    /** The method {@code name} of {@code obj} (a bound method or an unsafe-attribute undefined), or null when none. */
    static Object lookup(Object obj, String name) {
        return switch (obj) {
            case String s -> STRING_METHODS.contains(name) ? new BoundMethod(s, name) : null;
            case DictValue d -> DICT_METHODS.contains(name) ? new BoundMethod(d, name)
                    : DICT_MUTATORS.contains(name) ? unsafe(obj, name) : null;
            case ListValue l -> {
                if (l.kind == ListValue.Kind.LIST && name.equals("append") && l.isAppendable()) {
                    yield new BoundMethod(l, name);
                }
                if (l.isSubscriptable() && LIST_METHODS.contains(name)) {
                    yield new BoundMethod(l, name);
                }
                yield l.kind == ListValue.Kind.LIST && LIST_MUTATORS.contains(name) ? unsafe(obj, name) : null;
            }
            case Globals.Cycler c -> name.equals("next") || name.equals("reset") ? new BoundMethod(c, name) : null;
            default -> null;
        };
    }

    private static Undefined unsafe(Object obj, String name) {
        String why = obj instanceof ListValue ? (name.equals("append") ? " (only lists the template built may be appended to)" : "")
                : "";
        return Undefined.hint("access to attribute '" + name + "' of '" + Values.typeName(obj) + "' object is unsafe" + why);
    }

    static Object call(RenderContext ctx, Object self, String name, CallArgs a) {
        Object r = switch (self) {
            case String s -> stringMethod(ctx, s, name, a);
            case DictValue d -> dictMethod(d, name, a);
            case ListValue l -> listMethod(ctx, l, name, a);
            case LoopValue l -> name.equals("cycle") ? l.cycle(a.rest(0)) : l.changed(a.rest(0));
            case Globals.Cycler c -> name.equals("next") ? c.next() : c.reset();
            default -> throw TemplateError.render("'" + Values.typeName(self) + "' object has no method '" + name + "'");
        };
        a.done();
        return r;
    }

    private static String str(Object v, String what) {
        if (v instanceof String s) {
            return s;
        }
        throw TemplateError.render(what + " must be str, not " + Values.typeName(v));
    }

    private static String optChars(Object v, String what) {
        return v == NoneValue.NONE ? null : str(v, what);
    }

    private static long integer(Object v, String what) {
        if (Values.isInt(v)) {
            return Values.asLong(v);
        }
        throw TemplateError.render(what + ": '" + Values.typeName(v) + "' object cannot be interpreted as an integer");
    }

    private static Object stringMethod(RenderContext ctx, String s, String name, CallArgs a) {
        return switch (name) {
            case "strip", "lstrip", "rstrip" -> PyStrings.strip(s, optChars(a.get(0, "chars", NoneValue.NONE), name + " arg"),
                    !name.equals("rstrip"), !name.equals("lstrip"));
            case "startswith", "endswith" -> {
                Object p = a.required(0, "prefix");
                int cpLen = PyStrings.length(s);
                long start = clampIndex(a.get(1, "start", NoneValue.NONE), 0, cpLen);
                long end = clampIndex(a.get(2, "end", NoneValue.NONE), cpLen, cpLen);
                String part = start > end ? null : s.substring(s.offsetByCodePoints(0, (int) start), s.offsetByCodePoints(0, (int) end));
                List<Object> options = p instanceof ListValue l && l.isTuple() ? l.items() : List.of(p);
                boolean any = false;
                for (Object o : options) {
                    String x = str(o, name + " first arg");
                    any |= part != null && (name.equals("startswith") ? part.startsWith(x) : part.endsWith(x));
                }
                yield any;
            }
            case "split", "rsplit" -> {
                String sep = optChars(a.get(0, "sep", NoneValue.NONE), "separator");
                long max = integer(a.get(1, "maxsplit", -1L), name);
                List<Object> parts = name.equals("split") ? PyStrings.split(s, sep, max) : PyStrings.rsplit(s, sep, max);
                ctx.checkCollectionSize(parts.size());
                ctx.charge(parts.size());
                yield ListValue.list(parts);
            }
            case "splitlines" -> {
                List<Object> lines = new ArrayList<>(PyStrings.splitlines(s, Values.truthy(a.get(0, "keepends", false))));
                ctx.checkCollectionSize(lines.size());
                yield ListValue.list(lines);
            }
            case "replace" -> Filters.replace(ctx, s, str(a.required(0, "old"), "replace arg 1"), str(a.required(1, "new"),
                    "replace arg 2"), integer(a.get(2, "count", -1L), "replace"));
            case "upper" -> PyStrings.upper(s);
            case "lower" -> PyStrings.lower(s);
            case "title" -> PyStrings.title(s);
            case "capitalize" -> PyStrings.capitalize(s);
            case "find", "index", "rfind", "rindex" -> {
                String sub = str(a.required(0, "sub"), name + " arg");
                int i = name.startsWith("r") ? s.lastIndexOf(sub) : s.indexOf(sub);
                if (i < 0 && name.endsWith("index")) {
                    throw TemplateError.render("substring not found");
                }
                yield i < 0 ? -1L : (long) s.codePointCount(0, i);
            }
            case "count" -> {
                String sub = str(a.required(0, "sub"), "count arg");
                if (sub.isEmpty()) {
                    yield (long) PyStrings.length(s) + 1;
                }
                long c = 0;
                for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) {
                    c++;
                }
                yield c;
            }
            case "join" -> {
                List<Object> items = Values.iterate(a.required(0, "iterable"));
                StringBuilder sb = new StringBuilder();
                for (int i = 0; i < items.size(); i++) {
                    if (i > 0) {
                        sb.append(s);
                    }
                    sb.append(str(items.get(i), "sequence item " + i));
                    ctx.checkString(sb.length());
                }
                ctx.chargeChars(sb.length());
                yield sb.toString();
            }
            case "isdigit", "isnumeric", "isdecimal" -> PyStrings.all(s, Character::isDigit);
            case "isalpha" -> PyStrings.all(s, Character::isLetter);
            case "isalnum" -> PyStrings.all(s, Character::isLetterOrDigit);
            case "isspace" -> PyStrings.all(s, PyStrings::isWhitespace);
            case "isupper" -> PyStrings.isCase(s, true);
            case "islower" -> PyStrings.isCase(s, false);
            case "removeprefix" -> {
                String p = str(a.required(0, "prefix"), "removeprefix arg");
                yield s.startsWith(p) ? s.substring(p.length()) : s;
            }
            case "removesuffix" -> {
                String p = str(a.required(0, "suffix"), "removesuffix arg");
                yield s.endsWith(p) && !p.isEmpty() ? s.substring(0, s.length() - p.length()) : s;
            }
            case "center", "ljust", "rjust" -> {
                long width = integer(a.required(0, "width"), name);
                String fill = str(a.get(1, "fillchar", " "), name + " fillchar");
                if (PyStrings.length(fill) != 1) {
                    throw TemplateError.render("The fill character must be exactly one character long");
                }
                yield justify(ctx, s, width, fill, name);
            }
            case "zfill" -> {
                long width = integer(a.required(0, "width"), "zfill");
                int len = PyStrings.length(s);
                if (width <= len) {
                    yield s;
                }
                ctx.checkString(width);
                int sign = !s.isEmpty() && (s.charAt(0) == '-' || s.charAt(0) == '+') ? 1 : 0;
                yield s.substring(0, sign) + "0".repeat((int) (width - len)) + s.substring(sign);
            }
            case "partition", "rpartition" -> {
                String sep = str(a.required(0, "sep"), name + " arg");
                if (sep.isEmpty()) {
                    throw TemplateError.render("empty separator");
                }
                int i = name.equals("partition") ? s.indexOf(sep) : s.lastIndexOf(sep);
                if (i < 0) {
                    yield name.equals("partition") ? ListValue.tuple(s, "", "") : ListValue.tuple("", "", s);
                }
                yield ListValue.tuple(s.substring(0, i), sep, s.substring(i + sep.length()));
            }
            case "format" -> {
                String r = PyFormat.format(ctx, s, a.rest(0), a.keywords);
                a.consumeAll();
                yield r;
            }
            default -> throw TemplateError.render("'str' object has no method '" + name + "'");
        };
    }

    /** Python's clamping of optional start/end arguments. */
    private static long clampIndex(Object v, long dflt, int len) {
        if (v == NoneValue.NONE) {
            return dflt;
        }
        long i = integer(v, "slice index");
        if (i < 0) {
            i = Math.max(0, i + len);
        }
        return Math.min(i, len);
    }

    static String justify(RenderContext ctx, String s, long width, String fill, String how) {
        int len = PyStrings.length(s);
        if (width <= len) {
            return s;
        }
        ctx.checkString(width * fill.length());
        int gap = (int) (width - len);
        return switch (how) {
            case "ljust" -> s + fill.repeat(gap);
            case "rjust" -> fill.repeat(gap) + s;
            default -> {
                int left = (int) (gap / 2 + (gap & width & 1)); // CPython's centering
                yield fill.repeat(left) + s + fill.repeat(gap - left);
            }
        };
    }

    private static Object dictMethod(DictValue d, String name, CallArgs a) {
        return switch (name) {
            case "items" -> ListValue.view(ListValue.Kind.ITEMS, d.items());
            case "keys" -> ListValue.view(ListValue.Kind.KEYS, d.keys());
            case "values" -> ListValue.view(ListValue.Kind.VALUES, d.values());
            case "get" -> {
                Object v = d.get(a.required(0, "key"));
                Object dflt = a.get(1, "default", NoneValue.NONE);
                yield v != null ? v : dflt;
            }
            case "copy" -> {
                DictValue.Builder b = DictValue.builder();
                d.asMap().forEach(b::put);
                yield b.build();
            }
            default -> throw TemplateError.render("'dict' object has no method '" + name + "'");
        };
    }

    private static Object listMethod(RenderContext ctx, ListValue l, String name, CallArgs a) {
        return switch (name) {
            case "append" -> {
                l.append(a.required(0, "object"), ctx);
                yield NoneValue.NONE;
            }
            case "count" -> {
                Object x = a.required(0, "value");
                long c = 0;
                for (Object o : l.items()) {
                    if (Values.pyEquals(o, x, 0)) {
                        c++;
                    }
                }
                ctx.charge(l.size());
                yield c;
            }
            case "index" -> {
                Object x = a.required(0, "value");
                for (int i = 0; i < l.size(); i++) {
                    if (Values.pyEquals(l.get(i), x, 0)) {
                        yield (long) i;
                    }
                }
                throw TemplateError.render(Values.repr(x) + " is not in list");
            }
            case "copy" -> {
                ctx.charge(l.size());
                yield l.sameKind(new ArrayList<>(l.items()));
            }
            default -> throw TemplateError.render("'" + l.kind.pyName + "' object has no method '" + name + "'");
        };
    }
}
