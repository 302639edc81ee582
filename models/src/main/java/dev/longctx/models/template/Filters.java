package dev.longctx.models.template;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * jinja2's filters ({@code value | name(args)}) with jinja2 3.1's semantics, and transformers'
 * {@code tojson}. Filters that jinja2 implements as generators ({@code select}, {@code map},
 * {@code unique}, {@code reverse} ...) return one-shot {@link IteratorValue}s, as there. Every
 * string and list they build is bounded by the limits. Stateless.
 */
final class Filters {
    private Filters() {
    }

    private static final Set<String> NAMES = Set.of("abs", "attr", "batch", "capitalize", "center", "count", "d", "default",
            "dictsort", "e", "escape", "first", "float", "forceescape", "format", "indent", "int", "items", "join", "last", "length",
            "list", "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round", "safe", "select",
            "selectattr", "slice", "sort", "string", "sum", "title", "tojson", "trim", "truncate", "unique", "upper", "wordcount");

    static boolean exists(String name) {
        return NAMES.contains(name);
    }

    static Object apply(RenderContext ctx, String name, Object v, CallArgs args) {
        CallArgs a = args.named(name);
        Object r = switch (name) {
            case "abs" -> abs(v);
            case "attr" -> ctx.evaluator.attributeOnly(v, str(ctx, a.required(0, "name")));
            case "batch" -> batch(ctx, v, a);
            case "capitalize" -> PyStrings.capitalize(str(ctx, v));
            case "center" -> Methods.justify(ctx, str(ctx, v), integer(a.get(0, "width", 80L), "center"), " ", "center");
            case "count", "length" -> Values.len(v);
            case "d", "default" -> {
                Object dflt = a.get(0, "default_value", "");
                boolean bool = Values.truthy(a.get(1, "boolean", false));
                yield v instanceof Undefined || (bool && !Values.truthy(v)) ? dflt : v;
            }
            case "dictsort" -> dictsort(ctx, v, a);
            case "e", "escape", "forceescape" -> escape(str(ctx, v));
            case "first" -> {
                List<Object> items = Values.iterate(v);
                yield items.isEmpty() ? Undefined.hint("No first item, sequence was empty.") : items.get(0);
            }
            case "last" -> last(v);
            case "float" -> toFloat(v, a.get(0, "default", 0.0));
            case "int" -> toInt(v, a.get(0, "default", 0L), a.get(1, "base", 10L));
            case "format" -> {
                List<Object> pos = a.rest(0);
                a.consumeAll();
                if (!pos.isEmpty() && !a.keywords.isEmpty()) {
                    throw TemplateError.render("can't handle positional and keyword arguments at the same time");
                }
                Object arg;
                if (!a.keywords.isEmpty()) {
                    DictValue.Builder b = DictValue.builder();
                    a.keywords.forEach(b::put);
                    arg = b.build();
                } else {
                    arg = ListValue.tuple(List.copyOf(pos));
                }
                yield PyFormat.percent(ctx, str(ctx, v), arg);
            }
            case "indent" -> indent(ctx, str(ctx, v), a.get(0, "width", 4L), Values.truthy(a.get(1, "first", false)),
                    Values.truthy(a.get(2, "blank", false)));
            case "items" -> {
                if (v instanceof Undefined) {
                    yield new IteratorValue("generator", List.of());
                }
                if (!(v instanceof DictValue d)) {
                    throw TemplateError.render("Can only get item pairs from a mapping.");
                }
                yield new IteratorValue("generator", d.items());
            }
            case "join" -> join(ctx, v, a);
            case "list" -> {
                List<Object> items = new ArrayList<>(Values.iterate(v));
                ctx.charge(items.size());
                yield ListValue.list(items);
            }
            case "lower" -> PyStrings.lower(str(ctx, v));
            case "upper" -> PyStrings.upper(str(ctx, v));
            case "map" -> map(ctx, v, a);
            case "max", "min" -> minMax(ctx, v, a, name.equals("max"));
            case "select", "reject", "selectattr", "rejectattr" -> selectOrReject(ctx, v, a, name);
            case "replace" -> replace(ctx, str(ctx, v), str(ctx, a.required(0, "old")), str(ctx, a.required(1, "new")),
                    a.get(2, "count", NoneValue.NONE) == NoneValue.NONE ? -1 : integer(a.get(2, "count", -1L), "replace"));
            case "reverse" -> reverse(ctx, v);
            case "round" -> round(v, a.get(0, "precision", 0L), a.get(1, "method", "common"));
            case "safe", "string" -> str(ctx, v);
            case "slice" -> slice(ctx, v, a);
            case "sort" -> sort(ctx, v, a);
            case "sum" -> sum(ctx, v, a);
            case "title" -> PyStrings.jinjaTitle(str(ctx, v));
            case "tojson" -> tojson(ctx, v, a);
            case "trim" -> {
                Object chars = a.get(0, "chars", NoneValue.NONE);
                yield PyStrings.strip(str(ctx, v), chars == NoneValue.NONE ? null : str(ctx, chars), true, true);
            }
            case "truncate" -> truncate(ctx, str(ctx, v), a);
            case "unique" -> unique(ctx, v, a);
            case "wordcount" -> (long) PyStrings.wordcount(str(ctx, v));
            default -> throw TemplateError.render("no filter named '" + name + "'");
        };
        a.done();
        return r;
    }

    private static String str(RenderContext ctx, Object v) {
        return Values.str(v, ctx);
    }

    private static long integer(Object v, String what) {
        if (Values.isInt(v)) {
            return Values.asLong(v);
        }
        if (v instanceof Undefined u) {
            throw u.fail();
        }
        throw TemplateError.render(what + ": '" + Values.typeName(v) + "' object cannot be interpreted as an integer");
    }

    private static Object abs(Object v) {
        if (v instanceof Undefined u) {
            throw u.fail();
        }
        if (v instanceof Double d) {
            return Math.abs(d);
        }
        if (Values.isInt(v)) {
            long x = Values.asLong(v);
            if (x == Long.MIN_VALUE) {
                throw TemplateError.render("integer overflow in abs (integers are 64-bit here)");
            }
            return Math.abs(x);
        }
        throw TemplateError.render("bad operand type for abs(): '" + Values.typeName(v) + "'");
    }

    /** markupsafe's escape. */
    static String escape(String s) {
        StringBuilder sb = null;
        for (int i = 0; i < s.length(); i++) {
            String rep = switch (s.charAt(i)) {
                case '&' -> "&amp;";
                case '<' -> "&lt;";
                case '>' -> "&gt;";
                case '"' -> "&#34;";
                case '\'' -> "&#39;";
                default -> null;
            };
            if (rep != null && sb == null) {
                sb = new StringBuilder(s.length() + 16).append(s, 0, i);
            }
            if (sb != null) {
                if (rep != null) {
                    sb.append(rep);
                } else {
                    sb.append(s.charAt(i));
                }
            }
        }
        return sb == null ? s : sb.toString();
    }

    private static Object last(Object v) {
        if (v instanceof IteratorValue it) {
            throw TemplateError.render("'" + it.pyName() + "' object is not reversible");
        }
        List<Object> items = Values.iterate(v);
        return items.isEmpty() ? Undefined.hint("No last item, sequence was empty.") : items.get(items.size() - 1);
    }

    private static Object toFloat(Object v, Object dflt) {
        return switch (v) {
            case Double d -> d;
            case Long l -> (double) l;
            case Boolean b -> b ? 1.0 : 0.0;
            case String s -> {
                Double d = parsePyFloat(s);
                yield d != null ? d : dflt;
            }
            case Undefined u -> throw u.fail();
            default -> dflt;
        };
    }

    /** Python's float(str): surrounding whitespace, underscores between digits, inf/nan; null when invalid. */
    static Double parsePyFloat(String s) {
        String t = PyStrings.strip(s);
        String lower = t.toLowerCase(java.util.Locale.ROOT);
        String unsigned = lower.startsWith("+") || lower.startsWith("-") ? lower.substring(1) : lower;
        boolean neg = lower.startsWith("-");
        if (unsigned.equals("inf") || unsigned.equals("infinity")) {
            return neg ? Double.NEGATIVE_INFINITY : Double.POSITIVE_INFINITY;
        }
        if (unsigned.equals("nan")) {
            return Double.NaN;
        }
        if (!t.matches("[+-]?((\\d(_?\\d)*)?\\.?\\d(_?\\d)*|\\d(_?\\d)*\\.)([eE][+-]?\\d(_?\\d)*)?")) {
            return null;
        }
        try {
            return Double.parseDouble(t.replace("_", ""));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** Python's int(str, base); null when invalid. */
    private static Long parsePyInt(String s, long base) {
        String t = PyStrings.strip(s).replace("_", "");
        boolean neg = t.startsWith("-");
        if (t.startsWith("-") || t.startsWith("+")) {
            t = t.substring(1);
        }
        String lower = t.toLowerCase(java.util.Locale.ROOT);
        if ((base == 16 && lower.startsWith("0x")) || (base == 8 && lower.startsWith("0o")) || (base == 2 && lower.startsWith("0b"))) {
            t = t.substring(2);
        }
        if (t.isEmpty() || s.contains("__") || base < 2 || base > 36) {
            return null;
        }
        try {
            long v = Long.parseLong(t, (int) base);
            return neg ? -v : v;
        } catch (NumberFormatException e) {
            return null;
        }
    }

    private static Object toInt(Object v, Object dflt, Object base) {
        return switch (v) {
            case Long l -> l;
            case Boolean b -> b ? 1L : 0L;
            case Double d -> {
                if (d.isNaN() || d.isInfinite()) {
                    yield dflt;
                }
                if (Math.abs(d) >= 9.223372036854775807E18) {
                    throw TemplateError.render("integer overflow in int (integers are 64-bit here)");
                }
                yield (long) (double) d;
            }
            case String s -> {
                Long parsed = parsePyInt(s, Values.isInt(base) ? Values.asLong(base) : 10);
                if (parsed != null) {
                    yield parsed;
                }
                Double d = parsePyFloat(s);
                yield d == null ? dflt : toInt(d, dflt, base);
            }
            case Undefined u -> throw u.fail();
            default -> dflt;
        };
    }

    private static String indent(RenderContext ctx, String s, Object width, boolean first, boolean blank) {
        String indention = width instanceof String w ? w : " ".repeat((int) Math.min(Math.max(0, integer(width, "indent")), 1 << 20));
        String text = s + "\n";
        List<String> lines = PyStrings.splitlines(text, false);
        StringBuilder sb = new StringBuilder(s.length() + lines.size() * indention.length());
        if (blank) {
            for (int i = 0; i < lines.size(); i++) {
                if (i > 0) {
                    sb.append('\n').append(indention);
                }
                sb.append(lines.get(i));
                ctx.checkString(sb.length());
            }
        } else {
            sb.append(lines.isEmpty() ? "" : lines.get(0));
            for (int i = 1; i < lines.size(); i++) {
                sb.append('\n');
                if (!lines.get(i).isEmpty()) {
                    sb.append(indention);
                }
                sb.append(lines.get(i));
                ctx.checkString(sb.length());
            }
        }
        String rv = sb.toString();
        if (first) {
            rv = indention + rv;
        }
        ctx.checkString(rv.length());
        ctx.chargeChars(rv.length());
        return rv;
    }

    private static String join(RenderContext ctx, Object v, CallArgs a) {
        String sep = str(ctx, a.get(0, "d", ""));
        Object attribute = a.get(1, "attribute", NoneValue.NONE);
        List<Object> items = Values.iterate(v);
        AttrGetter getter = attribute == NoneValue.NONE ? null : new AttrGetter(ctx, attribute, null, false);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < items.size(); i++) {
            if (i > 0) {
                sb.append(sep);
            }
            sb.append(str(ctx, getter == null ? items.get(i) : getter.get(items.get(i))));
            ctx.checkString(sb.length());
        }
        ctx.chargeChars(sb.length());
        ctx.charge(items.size());
        return sb.toString();
    }

    static String replace(RenderContext ctx, String s, String old, String rep, long count) {
        if (count == 0 || (!old.isEmpty() && !s.contains(old))) {
            return s;
        }
        StringBuilder sb = new StringBuilder();
        long done = 0;
        if (old.isEmpty()) {
            int i = 0;
            for (; i <= s.length() && (count < 0 || done < count); done++) {
                sb.append(rep);
                if (i < s.length()) {
                    int cp = s.codePointAt(i);
                    sb.appendCodePoint(cp);
                    i += Character.charCount(cp);
                } else {
                    i++;
                }
                ctx.checkString(sb.length());
            }
            if (i < s.length()) {
                sb.append(s, i, s.length());
            }
        } else {
            int i = 0;
            while (count < 0 || done < count) {
                int j = s.indexOf(old, i);
                if (j < 0) {
                    break;
                }
                sb.append(s, i, j).append(rep);
                ctx.checkString(sb.length());
                i = j + old.length();
                done++;
            }
            sb.append(s, i, s.length());
        }
        ctx.checkString(sb.length());
        ctx.chargeChars(sb.length());
        return sb.toString();
    }

    private static Object reverse(RenderContext ctx, Object v) {
        if (v instanceof String s) {
            return new StringBuilder(s).reverse().toString();
        }
        if (v instanceof Undefined) {
            return new IteratorValue("reversed", List.of());
        }
        List<Object> items = new ArrayList<>(Values.iterate(v));
        java.util.Collections.reverse(items);
        ctx.charge(items.size());
        if (v instanceof IteratorValue) {
            return ListValue.list(items); // jinja2 falls back to a reversed list
        }
        String kind = v instanceof DictValue ? "dict_reversekeyiterator" : v instanceof ListValue l && l.kind == ListValue.Kind.RANGE
                ? "range_iterator" : "list_reverseiterator";
        return new IteratorValue(kind, items);
    }

    private static Object round(Object v, Object precision, Object method) {
        if (v instanceof Undefined u) {
            throw u.fail();
        }
        if (!(method instanceof String m) || !(m.equals("common") || m.equals("ceil") || m.equals("floor"))) {
            throw TemplateError.render("method must be common, ceil or floor");
        }
        long p = integer(precision, "round");
        if (!Values.isNumber(v)) {
            throw TemplateError.render("type " + Values.typeName(v) + " doesn't define __round__ method");
        }
        if (m.equals("common")) {
            if (Values.isInt(v)) {
                if (p >= 0) {
                    return Values.asLong(v);
                }
                return new BigDecimal(Values.asLong(v)).setScale((int) Math.max(p, -30), RoundingMode.HALF_EVEN).longValueExact();
            }
            double d = (Double) v;
            if (Double.isNaN(d) || Double.isInfinite(d) || p > 330) {
                return d;
            }
            return new BigDecimal(d).setScale((int) Math.max(p, -330), RoundingMode.HALF_EVEN).doubleValue();
        }
        double scale = Math.pow(10, p);
        double x = Values.asDouble(v) * scale;
        return (m.equals("ceil") ? Math.ceil(x) : Math.floor(x)) / scale;
    }

    private static Object batch(RenderContext ctx, Object v, CallArgs a) {
        long size = integer(a.required(0, "linecount"), "batch");
        Object fill = a.get(1, "fill_with", NoneValue.NONE);
        if (size <= 0) {
            throw TemplateError.render("batch size must be positive");
        }
        List<Object> items = Values.iterate(v);
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < items.size(); i += (int) Math.min(size, Integer.MAX_VALUE)) {
            List<Object> chunk = new ArrayList<>(items.subList(i, (int) Math.min(items.size(), i + size)));
            if (chunk.size() < size && fill != NoneValue.NONE) {
                ctx.checkCollectionSize(size);
                while (chunk.size() < size) {
                    chunk.add(fill);
                }
            }
            out.add(ListValue.list(chunk));
        }
        ctx.charge(items.size());
        return new IteratorValue("generator", out);
    }

    private static Object slice(RenderContext ctx, Object v, CallArgs a) {
        long slices = integer(a.required(0, "slices"), "slice");
        Object fill = a.get(1, "fill_with", NoneValue.NONE);
        if (slices <= 0 || slices > ctx.limits.maxCollectionSize()) {
            throw TemplateError.render("slice count must be between 1 and " + ctx.limits.maxCollectionSize());
        }
        List<Object> seq = Values.iterate(v);
        int length = seq.size();
        int perSlice = (int) (length / slices);
        int withExtra = (int) (length % slices);
        int offset = 0;
        List<Object> out = new ArrayList<>();
        for (int i = 0; i < slices; i++) {
            int start = offset + i * perSlice;
            if (i < withExtra) {
                offset++;
            }
            int end = offset + (i + 1) * perSlice;
            List<Object> tmp = new ArrayList<>(seq.subList(start, end));
            if (fill != NoneValue.NONE && i >= withExtra) {
                tmp.add(fill);
            }
            out.add(ListValue.list(tmp));
        }
        ctx.charge(length + slices);
        return new IteratorValue("generator", out);
    }

    /** jinja2's make_attrgetter: a dotted path of items/attributes, with an optional default and lowercasing. */
    static final class AttrGetter {
        private final RenderContext ctx;
        private final List<Object> parts;
        private final Object dflt;
        private final boolean ignoreCase;

        AttrGetter(RenderContext ctx, Object attribute, Object dflt, boolean ignoreCase) {
            this.ctx = ctx;
            this.dflt = dflt;
            this.ignoreCase = ignoreCase;
            List<Object> p = new ArrayList<>();
            if (attribute instanceof String s) {
                for (String part : s.split("\\.", -1)) {
                    p.add(!part.isEmpty() && part.chars().allMatch(Character::isDigit) && part.length() < 18 ? (Object) Long.parseLong(part)
                            : part);
                }
            } else if (Values.isInt(attribute)) {
                p.add(Values.asLong(attribute));
            } else if (attribute != NoneValue.NONE) {
                p.add(attribute);
            }
            this.parts = p;
        }

        Object get(Object item) {
            Object v = item;
            for (Object part : parts) {
                v = ctx.evaluator.getItem(v, part);
                if (dflt != null && dflt != NoneValue.NONE && v instanceof Undefined) {
                    v = dflt;
                }
            }
            return ignoreCase && v instanceof String s ? PyStrings.lower(s) : v;
        }
    }

    private static Object map(RenderContext ctx, Object v, CallArgs a) {
        List<Object> items = Values.iterate(v);
        List<Object> out = new ArrayList<>(items.size());
        if (a.positional.isEmpty() && a.keywords.containsKey("attribute")) {
            Object attribute = a.get(0, "attribute", null);
            Object dflt = a.get(1, "default", NoneValue.NONE);
            AttrGetter g = new AttrGetter(ctx, attribute, dflt, false);
            for (Object item : items) {
                ctx.step();
                out.add(g.get(item));
            }
        } else {
            if (a.positional.isEmpty()) {
                throw TemplateError.render("map requires a filter argument");
            }
            if (!(a.positional.get(0) instanceof String filter)) {
                throw TemplateError.render("map: the filter name must be a string");
            }
            CallArgs rest = new CallArgs(filter, a.positional.subList(1, a.positional.size()), a.keywords);
            a.consumeAll();
            for (Object item : items) {
                ctx.step();
                out.add(apply(ctx, filter, item, new CallArgs(filter, rest.positional, rest.keywords)));
            }
        }
        return new IteratorValue("generator", out);
    }

    private static Object selectOrReject(RenderContext ctx, Object v, CallArgs a, String name) {
        boolean attr = name.endsWith("attr");
        boolean select = name.startsWith("select");
        List<Object> args = a.rest(0);
        a.consumeAll();
        AttrGetter getter = null;
        int off = 0;
        if (attr) {
            if (args.isEmpty()) {
                throw TemplateError.render("Missing parameter for attribute name");
            }
            getter = new AttrGetter(ctx, args.get(0), null, false);
            off = 1;
        }
        String test = null;
        List<Object> testArgs = List.of();
        if (args.size() > off) {
            if (!(args.get(off) instanceof String t)) {
                throw TemplateError.render(name + ": the test name must be a string");
            }
            test = t;
            testArgs = args.subList(off + 1, args.size());
        }
        List<Object> out = new ArrayList<>();
        if (Values.truthy(v) || v instanceof IteratorValue) {
            for (Object item : Values.iterate(v)) {
                ctx.step();
                Object x = getter == null ? item : getter.get(item);
                boolean ok = test == null ? Values.truthy(x) : Predicates.apply(ctx, test, x, testArgs, a.keywords);
                if (ok == select) {
                    out.add(item);
                }
            }
        }
        return new IteratorValue("generator", out);
    }

    private static Object minMax(RenderContext ctx, Object v, CallArgs a, boolean max) {
        boolean caseSensitive = Values.truthy(a.get(0, "case_sensitive", false));
        Object attribute = a.get(1, "attribute", NoneValue.NONE);
        List<Object> items = Values.iterate(v);
        if (items.isEmpty()) {
            return Undefined.hint("No aggregated item, sequence was empty.");
        }
        AttrGetter key = new AttrGetter(ctx, attribute, null, !caseSensitive);
        Object best = items.get(0);
        Object bestKey = key.get(best);
        for (int i = 1; i < items.size(); i++) {
            Object k = key.get(items.get(i));
            int c = Values.compare(k, bestKey, max ? ">" : "<", 0);
            if (max ? c > 0 : c < 0) {
                best = items.get(i);
                bestKey = k;
            }
        }
        ctx.charge(items.size());
        return best;
    }

    private static Comparator<Object> order(RenderContext ctx, List<AttrGetter> keys) {
        return (x, y) -> {
            ctx.step();
            for (AttrGetter k : keys) {
                int c = Values.compare(k.get(x), k.get(y), "<", 0);
                if (c != 0) {
                    return c;
                }
            }
            return 0;
        };
    }

    private static Object sort(RenderContext ctx, Object v, CallArgs a) {
        boolean reverse = Values.truthy(a.get(0, "reverse", false));
        boolean caseSensitive = Values.truthy(a.get(1, "case_sensitive", false));
        Object attribute = a.get(2, "attribute", NoneValue.NONE);
        List<AttrGetter> keys = new ArrayList<>();
        if (attribute instanceof String s && s.contains(",")) {
            for (String part : s.split(",", -1)) {
                keys.add(new AttrGetter(ctx, part, null, !caseSensitive));
            }
        } else {
            keys.add(new AttrGetter(ctx, attribute, null, !caseSensitive));
        }
        List<Object> items = new ArrayList<>(Values.iterate(v));
        Comparator<Object> c = order(ctx, keys);
        items.sort(reverse ? c.reversed() : c);
        ctx.charge(items.size());
        return ListValue.list(items);
    }

    private static Object dictsort(RenderContext ctx, Object v, CallArgs a) {
        boolean caseSensitive = Values.truthy(a.get(0, "case_sensitive", false));
        Object by = a.get(1, "by", "key");
        boolean reverse = Values.truthy(a.get(2, "reverse", false));
        if (v instanceof Undefined u) {
            throw u.fail();
        }
        if (!(v instanceof DictValue d)) {
            throw TemplateError.render("'" + Values.typeName(v) + "' object has no attribute 'items'");
        }
        int pos;
        if ("key".equals(by)) {
            pos = 0;
        } else if ("value".equals(by)) {
            pos = 1;
        } else {
            throw TemplateError.render("You can only sort by either \"key\" or \"value\"");
        }
        List<Object> items = d.items();
        Comparator<Object> c = (x, y) -> {
            ctx.step();
            Object kx = ((ListValue) x).get(pos);
            Object ky = ((ListValue) y).get(pos);
            if (!caseSensitive) {
                kx = kx instanceof String s ? PyStrings.lower(s) : kx;
                ky = ky instanceof String s ? PyStrings.lower(s) : ky;
            }
            return Values.compare(kx, ky, "<", 0);
        };
        items.sort(reverse ? c.reversed() : c);
        return ListValue.list(items);
    }

    private static Object sum(RenderContext ctx, Object v, CallArgs a) {
        Object attribute = a.get(0, "attribute", NoneValue.NONE);
        Object total = a.get(1, "start", 0L);
        AttrGetter g = attribute == NoneValue.NONE ? null : new AttrGetter(ctx, attribute, null, false);
        for (Object item : Values.iterate(v)) {
            ctx.step();
            Object x = g == null ? item : g.get(item);
            if (total instanceof String) {
                throw TemplateError.render("sum() can't sum strings [use ''.join(seq) instead]");
            }
            total = Operators.binary(ctx, Expr.BinOp.ADD, total, x);
        }
        return total;
    }

    private static String tojson(RenderContext ctx, Object v, CallArgs a) {
        boolean ensureAscii = Values.truthy(a.get(0, "ensure_ascii", false));
        Object indent = a.get(1, "indent", NoneValue.NONE);
        Object separators = a.get(2, "separators", NoneValue.NONE);
        boolean sortKeys = Values.truthy(a.get(3, "sort_keys", false));
        String indentStr = null;
        if (indent instanceof String s) {
            indentStr = s;
        } else if (indent != NoneValue.NONE) {
            indentStr = " ".repeat((int) Math.min(Math.max(0, integer(indent, "tojson indent")), 1 << 10));
        }
        String item = indentStr == null ? ", " : ",";
        String key = ": ";
        if (separators != NoneValue.NONE) {
            List<Object> seps = Values.iterate(separators);
            if (seps.size() != 2 || !(seps.get(0) instanceof String i) || !(seps.get(1) instanceof String k)) {
                throw TemplateError.render("tojson separators must be a pair of strings");
            }
            item = i;
            key = k;
        }
        return Json.dumps(ctx, v, new Json.Options(indentStr, item, key, ensureAscii, sortKeys));
    }

    private static String truncate(RenderContext ctx, String s, CallArgs a) {
        long length = integer(a.get(0, "length", 255L), "truncate");
        boolean killwords = Values.truthy(a.get(1, "killwords", false));
        String end = str(ctx, a.get(2, "end", "..."));
        long leeway = integer(a.get(3, "leeway", 5L), "truncate");
        int endLen = PyStrings.length(end);
        if (length < endLen) {
            throw TemplateError.render("expected length >= " + endLen + ", got " + length);
        }
        if (leeway < 0) {
            throw TemplateError.render("expected leeway >= 0, got " + leeway);
        }
        int len = PyStrings.length(s);
        if (len <= length + leeway) {
            return s;
        }
        String head = s.substring(0, s.offsetByCodePoints(0, (int) Math.min(len, length - endLen)));
        if (killwords) {
            return head + end;
        }
        int sp = head.lastIndexOf(' ');
        return (sp >= 0 ? head.substring(0, sp) : head) + end;
    }

    private static Object unique(RenderContext ctx, Object v, CallArgs a) {
        boolean caseSensitive = Values.truthy(a.get(0, "case_sensitive", false));
        Object attribute = a.get(1, "attribute", NoneValue.NONE);
        AttrGetter key = new AttrGetter(ctx, attribute, null, !caseSensitive);
        List<Object> seen = new ArrayList<>();
        List<Object> out = new ArrayList<>();
        java.util.HashSet<Object> seenStrings = new java.util.HashSet<>();
        for (Object item : Values.iterate(v)) {
            ctx.step();
            Object k = key.get(item);
            if (k instanceof ListValue || k instanceof DictValue) {
                throw TemplateError.render("unhashable type: '" + Values.typeName(k) + "'");
            }
            boolean dup;
            if (k instanceof String s) {
                dup = !seenStrings.add(s);
            } else {
                dup = false;
                for (Object o : seen) {
                    if (Values.pyEquals(o, k, 0)) {
                        dup = true;
                        break;
                    }
                }
                if (!dup) {
                    seen.add(k);
                    ctx.charge(seen.size());
                }
            }
            if (!dup) {
                out.add(item);
            }
        }
        return new IteratorValue("generator", out);
    }
}
