package dev.longctx.models.template;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The {@code tojson} filter as transformers defines it: Python's {@code json.dumps(value,
 * ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)}, so keys keep
 * their order, non-ASCII text is written as is and nothing is HTML-escaped. Nesting is bounded by
 * {@link TemplateLimits#maxValueDepth()} and the text by the string limit. Stateless.
 */
final class Json {
    private Json() {
    }

    /** The options of one dump. */
    record Options(String indent, String itemSeparator, String keySeparator, boolean ensureAscii, boolean sortKeys) { }

    static String dumps(RenderContext ctx, Object value, Options o) {
        StringBuilder sb = new StringBuilder();
        write(ctx, sb, value, o, 0);
        return sb.toString();
    }

    private static void newline(StringBuilder sb, Options o, int level) {
        sb.append('\n');
        sb.append(o.indent().repeat(level));
    }

    private static void write(RenderContext ctx, StringBuilder sb, Object v, Options o, int depth) {
        if (depth > ctx.limits.maxValueDepth()) {
            throw TemplateError.limit("tojson: value nests deeper than the limit of " + ctx.limits.maxValueDepth() + " (a cycle?)");
        }
        ctx.step();
        switch (v) {
            case String s -> string(sb, s, o.ensureAscii());
            case Boolean b -> sb.append(b ? "true" : "false");
            case Long l -> sb.append(l);
            case Double d -> sb.append(number(d));
            case NoneValue n -> sb.append("null");
            case ListValue l when l.kind == ListValue.Kind.LIST || l.kind == ListValue.Kind.TUPLE -> {
                if (l.size() == 0) {
                    sb.append("[]");
                    break;
                }
                sb.append('[');
                for (int i = 0; i < l.size(); i++) {
                    if (i > 0) {
                        sb.append(o.itemSeparator());
                    }
                    if (o.indent() != null) {
                        newline(sb, o, depth + 1);
                    }
                    write(ctx, sb, l.get(i), o, depth + 1);
                    ctx.checkString(sb.length());
                }
                if (o.indent() != null) {
                    newline(sb, o, depth);
                }
                sb.append(']');
            }
            case DictValue d -> {
                if (d.size() == 0) {
                    sb.append("{}");
                    break;
                }
                List<Map.Entry<Object, Object>> entries = new ArrayList<>(d.asMap().entrySet());
                if (o.sortKeys()) {
                    entries.sort((a, b) -> Values.compare(a.getKey(), b.getKey(), "<", 0));
                }
                sb.append('{');
                boolean first = true;
                for (Map.Entry<Object, Object> e : entries) {
                    if (!first) {
                        sb.append(o.itemSeparator());
                    }
                    first = false;
                    if (o.indent() != null) {
                        newline(sb, o, depth + 1);
                    }
                    string(sb, key(e.getKey()), o.ensureAscii());
                    sb.append(o.keySeparator());
                    write(ctx, sb, e.getValue(), o, depth + 1);
                    ctx.checkString(sb.length());
                }
                if (o.indent() != null) {
                    newline(sb, o, depth);
                }
                sb.append('}');
            }
            default -> throw TemplateError.render("Object of type " + Values.typeName(v) + " is not JSON serializable");
        }
        ctx.checkString(sb.length());
    }

    private static String key(Object k) {
        return switch (k) {
            case String s -> s;
            case Boolean b -> b ? "true" : "false";
            case Long l -> l.toString();
            case Double d -> number(d);
            case NoneValue n -> "null";
            default -> throw TemplateError.render("keys must be str, int, float, bool or None, not " + Values.typeName(k));
        };
    }

    private static String number(double d) {
        if (Double.isNaN(d)) {
            return "NaN";
        }
        if (Double.isInfinite(d)) {
            return d > 0 ? "Infinity" : "-Infinity";
        }
        return PyRepr.floatRepr(d);
    }

    private static void string(StringBuilder sb, String s, boolean ensureAscii) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c < 0x20 || (ensureAscii && c > 0x7e)) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        sb.append('"');
    }
}
