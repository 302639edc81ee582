package dev.longctx.models.template;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.List;
import java.util.Map;

/**
 * Python's string formatting: {@code 'fmt' % args} (and the {@code format} filter) and
 * {@code 'fmt'.format(...)}, with the conversions templates use (s, r, d, i, f, e, g, x, o, c,
 * %), flags, width and precision; floats rounded half-even on their exact binary value, as
 * CPython does. Results are bounded by the string limit. Stateless.
 */
final class PyFormat {
    private PyFormat() {
    }

    /** {@code fmt % arg}: arg is a tuple of arguments, a mapping for {@code %(name)s}, or a single argument. */
    static String percent(RenderContext ctx, String fmt, Object arg) {
        List<Object> args = arg instanceof ListValue l && l.isTuple() ? l.items() : List.of(arg);
        DictValue mapping = arg instanceof DictValue d ? d : null;
        StringBuilder sb = new StringBuilder();
        int next = 0;
        int n = fmt.length();
        for (int i = 0; i < n; i++) {
            char c = fmt.charAt(i);
            if (c != '%') {
                sb.append(c);
                continue;
            }
            if (++i >= n) {
                throw TemplateError.render("incomplete format");
            }
            Object value = null;
            if (fmt.charAt(i) == '(') {
                int close = fmt.indexOf(')', i);
                if (close < 0) {
                    throw TemplateError.render("incomplete format key");
                }
                if (mapping == null) {
                    throw TemplateError.render("format requires a mapping");
                }
                value = mapping.get(fmt.substring(i + 1, close));
                if (value == null) {
                    throw TemplateError.render("KeyError: " + PyRepr.string(fmt.substring(i + 1, close)));
                }
                i = close + 1;
            }
            Spec spec = new Spec();
            spec.printf = true;
            while (i < n && "-+ #0".indexOf(fmt.charAt(i)) >= 0) {
                spec.flag(fmt.charAt(i++));
            }
            if (i < n && fmt.charAt(i) == '*') {
                throw TemplateError.render("'*' widths are not supported");
            }
            int start = i;
            while (i < n && Character.isDigit(fmt.charAt(i))) {
                i++;
            }
            spec.width = i > start ? parseSmall(fmt.substring(start, i)) : -1;
            if (i < n && fmt.charAt(i) == '.') {
                start = ++i;
                while (i < n && Character.isDigit(fmt.charAt(i))) {
                    i++;
                }
                spec.precision = i > start ? parseSmall(fmt.substring(start, i)) : 0;
            }
            while (i < n && "hlL".indexOf(fmt.charAt(i)) >= 0) {
                i++;
            }
            if (i >= n) {
                throw TemplateError.render("incomplete format");
            }
            char type = fmt.charAt(i);
            if (type == '%') {
                sb.append('%');
                continue;
            }
            if (value == null) {
                if (mapping != null && args.size() == 1) {
                    value = mapping;
                } else if (next >= args.size()) {
                    throw TemplateError.render("not enough arguments for format string");
                } else {
                    value = args.get(next++);
                }
            }
            spec.type = type;
            sb.append(spec.pad(convert(ctx, value, spec), spec.numeric()));
            ctx.checkString(sb.length());
        }
        if (mapping == null && next < args.size()) {
            throw TemplateError.render("not all arguments converted during string formatting");
        }
        return sb.toString();
    }

    private static int parseSmall(String digits) {
        if (digits.length() > 6) {
            throw TemplateError.limit("format width or precision too large");
        }
        return Integer.parseInt(digits);
    }

    /** A parsed conversion: flags, width, precision, type. */
    private static final class Spec {
        boolean left;
        boolean plus;
        boolean space;
        boolean alt;
        boolean zero;
        int width = -1;
        int precision = -1;
        char type;
        char fill = ' ';
        char align;
        boolean printf;

        void flag(char c) {
            switch (c) {
                case '-' -> left = true;
                case '+' -> plus = true;
                case ' ' -> space = true;
                case '#' -> alt = true;
                default -> zero = true;
            }
        }

        boolean numeric() {
            return "diufFeEgGxXo%b".indexOf(type) >= 0;
        }

        String pad(String s, boolean numeric) {
            int len = PyStrings.length(s);
            if (width <= len) {
                return s;
            }
            int gap = width - len;
            char a;
            char f = ' ';
            if (printf) {
                a = left ? '<' : zero && numeric ? '=' : '>';
                f = a == '=' ? '0' : ' ';
            } else if (align != 0) {
                a = align;
                f = fill;
            } else if (zero) {
                a = '=';
                f = '0';
            } else {
                a = numeric ? '>' : '<';
            }
            String fs = String.valueOf(f);
            return switch (a) {
                case '<' -> s + fs.repeat(gap);
                case '^' -> fs.repeat(gap / 2) + s + fs.repeat(gap - gap / 2);
                case '=' -> {
                    int head = !s.isEmpty() && (s.charAt(0) == '-' || s.charAt(0) == '+' || s.charAt(0) == ' ') ? 1 : 0;
                    if (s.length() >= head + 2 && s.charAt(head) == '0' && "xXob".indexOf(s.charAt(head + 1)) >= 0) {
                        head += 2;
                    }
                    yield s.substring(0, head) + fs.repeat(gap) + s.substring(head);
                }
                default -> fs.repeat(gap) + s;
            };
        }

        String sign(boolean negative) {
            return negative ? "-" : plus ? "+" : space ? " " : "";
        }
    }

    private static String convert(RenderContext ctx, Object v, Spec spec) {
        switch (spec.type) {
            case 's' -> {
                String s = Values.str(v, ctx);
                return spec.precision >= 0 && PyStrings.length(s) > spec.precision
                        ? s.substring(0, s.offsetByCodePoints(0, spec.precision)) : s;
            }
            case 'r', 'a' -> {
                return Values.repr(v, ctx);
            }
            case 'd', 'i', 'u' -> {
                long x = toInt(v, spec.type);
                return spec.sign(x < 0) + (x == Long.MIN_VALUE ? "9223372036854775808" : Long.toString(Math.abs(x)));
            }
            case 'x', 'X', 'o' -> {
                long x = toInt(v, spec.type);
                String digits = spec.type == 'o' ? Long.toOctalString(Math.abs(x)) : Long.toHexString(Math.abs(x));
                if (spec.type == 'X') {
                    digits = digits.toUpperCase(java.util.Locale.ROOT);
                }
                String prefix = spec.alt ? (spec.type == 'o' ? "0o" : spec.type == 'x' ? "0x" : "0X") : "";
                return spec.sign(x < 0) + prefix + digits;
            }
            case 'c' -> {
                if (v instanceof String s && PyStrings.length(s) == 1) {
                    return s;
                }
                if (Values.isInt(v) && Values.asLong(v) >= 0 && Values.asLong(v) <= Character.MAX_CODE_POINT) {
                    return Character.toString((int) Values.asLong(v));
                }
                throw TemplateError.render("%c requires an int or a unicode character");
            }
            case 'f', 'F', 'e', 'E', 'g', 'G' -> {
                return formatFloat(toFloat(v, spec.type), spec.type, spec.precision < 0 ? 6 : spec.precision, spec.alt,
                        spec.sign(toFloat(v, spec.type) < 0 || (toFloat(v, spec.type) == 0 && 1 / toFloat(v, spec.type) < 0)));
            }
            default -> throw TemplateError.render("unsupported format character '" + spec.type + "'");
        }
    }

    private static long toInt(Object v, char type) {
        if (Values.isInt(v)) {
            return Values.asLong(v);
        }
        if (v instanceof Double d) {
            if (d.isNaN() || d.isInfinite()) {
                throw TemplateError.render("cannot convert float " + PyRepr.floatRepr(d) + " to integer");
            }
            return (long) (double) d;
        }
        throw TemplateError.render("%" + type + " format: a real number is required, not " + Values.typeName(v));
    }

    private static double toFloat(Object v, char type) {
        if (Values.isNumber(v)) {
            return Values.asDouble(v);
        }
        throw TemplateError.render("must be real number, not " + Values.typeName(v));
    }

    /** A float in f, e or g notation, without its sign (given separately). */
    static String formatFloat(double d, char type, int precision, boolean alt, String sign) {
        if (precision > 1000) {
            throw TemplateError.limit("format precision too large");
        }
        double a = Math.abs(d);
        boolean upper = Character.isUpperCase(type);
        if (Double.isNaN(d) || Double.isInfinite(d)) {
            String s = Double.isNaN(d) ? "nan" : "inf";
            return (Double.isNaN(d) ? (sign.equals("-") ? "" : sign) : sign) + (upper ? s.toUpperCase(java.util.Locale.ROOT) : s);
        }
        String body;
        switch (Character.toLowerCase(type)) {
            case 'f' -> body = new BigDecimal(a).setScale(precision, RoundingMode.HALF_EVEN).toPlainString()
                    + (alt && precision == 0 ? "." : "");
            case 'e' -> body = sci(a, precision, alt);
            default -> {
                int p = precision == 0 ? 1 : precision;
                if (a == 0) {
                    body = alt ? "0." + "0".repeat(p - 1) : "0";
                    break;
                }
                BigDecimal rounded = new BigDecimal(a).round(new MathContext(p, RoundingMode.HALF_EVEN));
                int exp = rounded.precision() - rounded.scale() - 1;
                if (exp >= -4 && exp < p) {
                    body = new BigDecimal(a).setScale(p - 1 - exp, RoundingMode.HALF_EVEN).toPlainString();
                } else {
                    body = sci(a, p - 1, alt);
                }
                if (!alt) {
                    body = stripZeros(body);
                }
            }
        }
        return sign + (upper ? body.toUpperCase(java.util.Locale.ROOT) : body);
    }

    private static String stripZeros(String s) {
        int e = s.indexOf('e');
        String mant = e >= 0 ? s.substring(0, e) : s;
        String exp = e >= 0 ? s.substring(e) : "";
        if (mant.indexOf('.') >= 0) {
            mant = mant.replaceAll("0+$", "");
            if (mant.endsWith(".")) {
                mant = mant.substring(0, mant.length() - 1);
            }
        }
        return mant + exp;
    }

    private static String sci(double a, int precision, boolean alt) {
        if (a == 0) {
            return "0" + (precision > 0 ? "." + "0".repeat(precision) : alt ? "." : "") + "e+00";
        }
        BigDecimal r = new BigDecimal(a).round(new MathContext(precision + 1, RoundingMode.HALF_EVEN));
        int exp = r.precision() - r.scale() - 1;
        String digits = r.unscaledValue().toString();
        digits = (digits + "0".repeat(precision + 1)).substring(0, precision + 1);
        String mant = digits.substring(0, 1) + (precision > 0 ? "." + digits.substring(1) : alt ? "." : "");
        return mant + "e" + (exp < 0 ? "-" : "+") + (Math.abs(exp) < 10 ? "0" : "") + Math.abs(exp);
    }

    /** {@code fmt.format(*positional, **keywords)}: fields {}, {0}, {name}, with !r/!s and a format spec. */
    static String format(RenderContext ctx, String fmt, List<Object> positional, Map<String, Object> keywords) {
        StringBuilder sb = new StringBuilder();
        int auto = 0;
        int n = fmt.length();
        for (int i = 0; i < n; i++) {
            char c = fmt.charAt(i);
            if (c == '}') {
                if (i + 1 < n && fmt.charAt(i + 1) == '}') {
                    sb.append('}');
                    i++;
                    continue;
                }
                throw TemplateError.render("Single '}' encountered in format string");
            }
            if (c != '{') {
                sb.append(c);
                continue;
            }
            if (i + 1 < n && fmt.charAt(i + 1) == '{') {
                sb.append('{');
                i++;
                continue;
            }
            int close = fmt.indexOf('}', i);
            if (close < 0) {
                throw TemplateError.render("Single '{' encountered in format string");
            }
            String field = fmt.substring(i + 1, close);
            i = close;
            String specText = "";
            int colon = field.indexOf(':');
            if (colon >= 0) {
                specText = field.substring(colon + 1);
                field = field.substring(0, colon);
            }
            char conversion = 0;
            int bang = field.indexOf('!');
            if (bang >= 0) {
                conversion = bang + 1 < field.length() ? field.charAt(bang + 1) : 0;
                field = field.substring(0, bang);
            }
            Object value;
            if (field.isEmpty()) {
                if (auto >= positional.size()) {
                    throw TemplateError.render("Replacement index " + auto + " out of range for positional args tuple");
                }
                value = positional.get(auto++);
            } else if (field.chars().allMatch(Character::isDigit)) {
                int k = parseSmall(field);
                if (k >= positional.size()) {
                    throw TemplateError.render("Replacement index " + k + " out of range for positional args tuple");
                }
                value = positional.get(k);
            } else {
                if (!keywords.containsKey(field)) {
                    throw TemplateError.render("KeyError: " + PyRepr.string(field));
                }
                value = keywords.get(field);
            }
            if (conversion == 'r' || conversion == 'a') {
                value = Values.repr(value, ctx);
            } else if (conversion == 's') {
                value = Values.str(value, ctx);
            }
            sb.append(applySpec(ctx, value, specText));
            ctx.checkString(sb.length());
        }
        return sb.toString();
    }

    /** Python's format-spec mini-language: [[fill]align][sign][#][0][width][.precision][type]. */
    private static String applySpec(RenderContext ctx, Object v, String text) {
        if (text.isEmpty()) {
            return Values.str(v, ctx);
        }
        Spec spec = new Spec();
        int i = 0;
        if (text.length() >= 2 && "<>=^".indexOf(text.charAt(1)) >= 0) {
            spec.fill = text.charAt(0);
            spec.align = text.charAt(1);
            i = 2;
        } else if ("<>=^".indexOf(text.charAt(0)) >= 0) {
            spec.align = text.charAt(0);
            i = 1;
        }
        if (i < text.length() && "+- ".indexOf(text.charAt(i)) >= 0) {
            if (text.charAt(i) != '-') {
                spec.flag(text.charAt(i));
            }
            i++;
        }
        if (i < text.length() && text.charAt(i) == '#') {
            spec.alt = true;
            i++;
        }
        if (i < text.length() && text.charAt(i) == '0') {
            spec.zero = true;
            i++;
        }
        int start = i;
        while (i < text.length() && Character.isDigit(text.charAt(i))) {
            i++;
        }
        spec.width = i > start ? parseSmall(text.substring(start, i)) : -1;
        if (i < text.length() && text.charAt(i) == '.') {
            start = ++i;
            while (i < text.length() && Character.isDigit(text.charAt(i))) {
                i++;
            }
            spec.precision = parseSmall(text.substring(start, i));
        }
        char type = i < text.length() ? text.charAt(i++) : 0;
        if (i != text.length()) {
            throw TemplateError.render("Invalid format specifier '" + text + "'");
        }
        String body;
        if (type == 0) {
            if (v instanceof Double && spec.precision >= 0) {
                spec.type = 'g';
                body = convert(ctx, v, spec);
            } else if (Values.isNumber(v) && spec.plus) {
                body = (Values.asDouble(v) >= 0 ? "+" : "") + Values.str(v, ctx);
            } else {
                body = Values.str(v, ctx);
                if (v instanceof String && spec.precision >= 0 && PyStrings.length(body) > spec.precision) {
                    body = body.substring(0, body.offsetByCodePoints(0, spec.precision));
                }
            }
            spec.type = Values.isNumber(v) ? 'd' : 's';
        } else if (type == '%') {
            double d = toFloat(v, '%') * 100;
            body = formatFloat(d, 'f', spec.precision < 0 ? 6 : spec.precision, spec.alt, spec.sign(d < 0)) + "%";
            spec.type = '%';
        } else if (type == 'b') {
            long x = toInt(v, 'b');
            body = spec.sign(x < 0) + (spec.alt ? "0b" : "") + Long.toBinaryString(Math.abs(x));
            spec.type = 'b';
        } else {
            if ("dxXo".indexOf(type) >= 0 && !Values.isInt(v)) {
                throw TemplateError.render("Unknown format code '" + type + "' for object of type '" + Values.typeName(v) + "'");
            }
            spec.type = type;
            body = convert(ctx, v, spec);
        }
        return spec.pad(body, spec.numeric());
    }
}
