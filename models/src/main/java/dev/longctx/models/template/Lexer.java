package dev.longctx.models.template;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Splits a {@link Source} into {@link Token}s the way jinja2's lexer does with
 * {@code trim_blocks=True} and {@code lstrip_blocks=True}: template data, {@code {{ }}} and
 * {@code {% %}} tags with their expression tokens, comments dropped, {@code {% raw %}} bodies kept
 * as data, and the whitespace control of {@code -} and {@code +} on either side of a tag.
 * Iterative (no recursion); one instance lexes one source and is then discarded.
 */
final class Lexer {
    private final Source source;
    private final String s;
    private final int n;
    private final List<Token> out = new ArrayList<>();
    private final Deque<Character> balance = new ArrayDeque<>();
    private int pos;
    /** Whether the text consumed so far ends a line (jinja2's {@code line_starting}). */
    private boolean lineStarting = true;

    private Lexer(Source source) {
        this.source = source;
        this.s = source.text;
        this.n = s.length();
    }

    static List<Token> tokenize(Source source) {
        Lexer lx = new Lexer(source);
        lx.run();
        return lx.out;
    }

    private TemplateError error(int at, String reason) {
        return new TemplateError(TemplateError.Kind.SYNTAX, reason, source.line(at), source.column(at), null);
    }

    private void run() {
        while (pos < n) {
            int tag = nextTagStart(pos);
            if (tag < 0) {
                emitData(s.substring(pos), pos);
                pos = n;
                break;
            }
            char kind = s.charAt(tag + 1);
            int rawEnd = kind == '%' ? rawBeginEnd(tag) : -1;
            char sign = tag + 2 < n && (s.charAt(tag + 2) == '-' || s.charAt(tag + 2) == '+') ? s.charAt(tag + 2) : 0;
            emitData(stripBefore(s.substring(pos, tag), sign, kind != '{'), pos);
            if (rawEnd >= 0) {
                pos = rawEnd;
                lineStarting = s.charAt(rawEnd - 1) == '\n';
                lexRaw(tag);
                continue;
            }
            pos = tag + 2 + (sign != 0 ? 1 : 0);
            lineStarting = false;
            switch (kind) {
                case '{' -> {
                    out.add(new Token(Token.Kind.VAR_BEGIN, "{{", null, tag));
                    lexTag(false, tag);
                }
                case '%' -> {
                    out.add(new Token(Token.Kind.BLOCK_BEGIN, "{%", null, tag));
                    lexTag(true, tag);
                }
                default -> lexComment(tag);
            }
        }
        out.add(new Token(Token.Kind.EOF, "", null, n));
    }

    /** The first {@code {{}, {@code {%} or {@code {#} at or after {@code from}, or -1. */
    private int nextTagStart(int from) {
        for (int i = s.indexOf('{', from); i >= 0 && i + 1 < n; i = s.indexOf('{', i + 1)) {
            char c = s.charAt(i + 1);
            if (c == '{' || c == '%' || c == '#') {
                return i;
            }
        }
        return -1;
    }

    private void emitData(String text, int at) {
        if (!text.isEmpty()) {
            out.add(new Token(Token.Kind.DATA, text, text, at));
        }
    }

    /**
     * The text before a tag after whitespace control: {@code -} strips all whitespace before the
     * tag; otherwise, for block and comment tags without {@code +}, lstrip_blocks strips the spaces
     * and tabs between the start of the line and the tag when nothing else is on that line.
     */
    private String stripBefore(String text, char sign, boolean lstripApplies) {
        if (sign == '-') {
            return PyStrings.rstrip(text);
        }
        if (sign != '+' && lstripApplies) {
            int lineStart = text.lastIndexOf('\n') + 1;
            if ((lineStart > 0 || lineStarting) && lineStart < text.length() && PyStrings.isAllWhitespace(text, lineStart)) {
                return text.substring(0, lineStart);
            }
        }
        return text;
    }

    private int skipWhitespace(int i) {
        while (i < n && PyStrings.isWhitespace(s.charAt(i))) {
            i++;
        }
        return i;
    }

    /** If a {@code {% raw %}} tag starts at {@code tag}, the offset just after it; else -1. */
    private int rawBeginEnd(int tag) {
        int i = tag + 2;
        if (i < n && (s.charAt(i) == '-' || s.charAt(i) == '+')) {
            i++;
        }
        i = skipWhitespace(i);
        if (!s.startsWith("raw", i)) {
            return -1;
        }
        i = skipWhitespace(i + 3);
        if (s.startsWith("-%}", i)) {
            return skipWhitespace(i + 3);
        }
        return s.startsWith("%}", i) ? i + 2 : -1;
    }

    /** The body of a raw block, up to its {@code {% endraw %}}, as data. */
    private void lexRaw(int rawTag) {
        for (int i = s.indexOf("{%", pos); i >= 0; i = s.indexOf("{%", i + 1)) {
            int j = i + 2;
            char sign = 0;
            if (j < n && (s.charAt(j) == '-' || s.charAt(j) == '+')) {
                sign = s.charAt(j++);
            }
            j = skipWhitespace(j);
            if (!s.startsWith("endraw", j)) {
                continue;
            }
            j = skipWhitespace(j + 6);
            int end;
            if (s.startsWith("+%}", j)) {
                end = j + 3;
            } else if (s.startsWith("-%}", j)) {
                end = skipWhitespace(j + 3);
            } else if (s.startsWith("%}", j)) {
                end = j + 2 < n && s.charAt(j + 2) == '\n' ? j + 3 : j + 2;
            } else {
                continue;
            }
            emitData(stripBefore(s.substring(pos, i), sign, true), pos);
            pos = end;
            lineStarting = s.charAt(end - 1) == '\n';
            return;
        }
        throw error(rawTag, "missing end of raw directive ({% endraw %})");
    }

    private void lexComment(int open) {
        int close = s.indexOf("#}", pos);
        if (close < 0) {
            throw error(open, "missing end of comment tag (#})");
        }
        char sign = close - 1 >= pos && (s.charAt(close - 1) == '-' || s.charAt(close - 1) == '+') ? s.charAt(close - 1) : 0;
        int end = close + 2;
        if (sign == '-') {
            end = skipWhitespace(end);
        } else if (sign == 0 && end < n && s.charAt(end) == '\n') {
            end++;
        }
        pos = end;
        lineStarting = s.charAt(end - 1) == '\n';
    }

    /** The tokens of a {@code {{ }}} or {@code {% %}} tag, up to and including its end. */
    private void lexTag(boolean block, int open) {
        while (true) {
            if (pos >= n) {
                return; // the parser reports the unexpected end of the template
            }
            if (balance.isEmpty() && tagEnd(block)) {
                return;
            }
            char c = s.charAt(pos);
            if (PyStrings.isWhitespace(c)) {
                pos = skipWhitespace(pos);
            } else if (c >= '0' && c <= '9') {
                lexNumber();
            } else if (c == '_' || Character.isLetter(c) || Character.isUnicodeIdentifierStart(s.codePointAt(pos))) {
                int start = pos;
                pos += Character.charCount(s.codePointAt(pos));
                while (pos < n) {
                    int cp = s.codePointAt(pos);
                    if (cp == '_' || (Character.isUnicodeIdentifierPart(cp) && !Character.isIdentifierIgnorable(cp))) {
                        pos += Character.charCount(cp);
                    } else {
                        break;
                    }
                }
                String name = s.substring(start, pos);
                out.add(new Token(Token.Kind.NAME, name, name, start));
            } else if (c == '\'' || c == '"') {
                lexString(c);
            } else {
                lexOperator();
            }
        }
    }

    /** Consumes the end of the current tag if it is here, with its whitespace control. */
    private boolean tagEnd(boolean block) {
        int start = pos;
        if (block) {
            if (s.startsWith("+%}", pos)) {
                pos += 3;
            } else if (s.startsWith("-%}", pos)) {
                pos = skipWhitespace(pos + 3);
            } else if (s.startsWith("%}", pos)) {
                pos += 2;
                if (pos < n && s.charAt(pos) == '\n') {
                    pos++; // trim_blocks
                }
            } else {
                return false;
            }
        } else {
            if (s.startsWith("-}}", pos)) {
                pos = skipWhitespace(pos + 3);
            } else if (s.startsWith("}}", pos)) {
                pos += 2;
            } else {
                return false;
            }
        }
        out.add(new Token(block ? Token.Kind.BLOCK_END : Token.Kind.VAR_END, s.substring(start, pos), null, start));
        lineStarting = s.charAt(pos - 1) == '\n';
        return true;
    }

    private static boolean isDigit(char c) {
        return c >= '0' && c <= '9';
    }

    /** End of {@code (\d+_)*\d+} from {@code i} (a digit), or {@code i} when none. */
    private int digits(int i) {
        if (i >= n || !isDigit(s.charAt(i))) {
            return i;
        }
        int j = i;
        while (true) {
            while (j < n && isDigit(s.charAt(j))) {
                j++;
            }
            if (j + 1 < n && s.charAt(j) == '_' && isDigit(s.charAt(j + 1))) {
                j++;
            } else {
                return j;
            }
        }
    }

    private void lexNumber() {
        int start = pos;
        boolean afterDot = start > 0 && s.charAt(start - 1) == '.';
        if (!afterDot) {
            int intEnd = digits(start);
            int fracEnd = -1;
            if (intEnd + 1 < n && s.charAt(intEnd) == '.' && isDigit(s.charAt(intEnd + 1))) {
                fracEnd = digits(intEnd + 1);
            }
            int expStart = fracEnd >= 0 ? fracEnd : intEnd;
            int expEnd = -1;
            if (expStart < n && (s.charAt(expStart) == 'e' || s.charAt(expStart) == 'E')) {
                int k = expStart + 1;
                if (k < n && (s.charAt(k) == '+' || s.charAt(k) == '-')) {
                    k++;
                }
                if (k < n && isDigit(s.charAt(k))) {
                    expEnd = digits(k);
                }
            }
            int end = expEnd >= 0 ? expEnd : fracEnd;
            if (end >= 0) {
                String text = s.substring(start, end);
                double v = Double.parseDouble(text.replace("_", ""));
                out.add(new Token(Token.Kind.FLOAT, text, v, start));
                pos = end;
                return;
            }
        }
        int radix = 10;
        int i = start;
        if (s.charAt(i) == '0' && i + 1 < n) {
            char p = Character.toLowerCase(s.charAt(i + 1));
            radix = p == 'b' ? 2 : p == 'o' ? 8 : p == 'x' ? 16 : 10;
        }
        int end;
        if (radix != 10) {
            end = start + 2;
            while (true) {
                int k = end < n && s.charAt(end) == '_' ? end + 1 : end;
                if (k < n && Character.digit(s.charAt(k), radix) >= 0) {
                    end = k + 1;
                } else {
                    break;
                }
            }
            if (end == start + 2) { // "0x" with no digit: just the integer 0
                radix = 10;
                end = start + 1;
            }
        } else if (s.charAt(start) == '0') {
            end = start + 1;
            while (true) {
                int k = end < n && s.charAt(end) == '_' ? end + 1 : end;
                if (k < n && s.charAt(k) == '0') {
                    end = k + 1;
                } else {
                    break;
                }
            }
        } else {
            end = digits(start);
        }
        String text = s.substring(start, end);
        String digits = (radix == 10 ? text : text.substring(2)).replace("_", "");
        long v;
        try {
            v = Long.parseLong(digits, radix);
        } catch (NumberFormatException e) {
            throw error(start, "integer literal " + text + " is too large (integers are 64-bit here)");
        }
        out.add(new Token(Token.Kind.INTEGER, text, v, start));
        pos = end;
    }

    private void lexString(char quote) {
        int start = pos;
        int i = pos + 1;
        while (i < n && s.charAt(i) != quote) {
            i += s.charAt(i) == '\\' ? 2 : 1;
        }
        if (i >= n) {
            throw error(start, "unterminated string literal");
        }
        String body = s.substring(start + 1, i);
        out.add(new Token(Token.Kind.STRING, s.substring(start, i + 1), unescape(body, start + 1), start));
        pos = i + 1;
    }

    /** Python's unicode-escape decoding, as jinja2 applies it to string literals. */
    private String unescape(String b, int at) {
        if (b.indexOf('\\') < 0) {
            return b;
        }
        StringBuilder sb = new StringBuilder(b.length());
        for (int i = 0; i < b.length(); i++) {
            char c = b.charAt(i);
            if (c != '\\' || i + 1 >= b.length()) {
                sb.append(c);
                continue;
            }
            char e = b.charAt(++i);
            switch (e) {
                case '\n' -> { }
                case '\\', '\'', '"' -> sb.append(e);
                case 'a' -> sb.append('\u0007');
                case 'b' -> sb.append('\b');
                case 'f' -> sb.append('\f');
                case 'n' -> sb.append('\n');
                case 'r' -> sb.append('\r');
                case 't' -> sb.append('\t');
                case 'v' -> sb.append('\u000b');
                case '0', '1', '2', '3', '4', '5', '6', '7' -> {
                    int v = e - '0';
                    for (int k = 0; k < 2 && i + 1 < b.length() && b.charAt(i + 1) >= '0' && b.charAt(i + 1) <= '7'; k++) {
                        v = v * 8 + (b.charAt(++i) - '0');
                    }
                    sb.append((char) v);
                }
                case 'x', 'u', 'U' -> {
                    int len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    int v = 0;
                    for (int k = 0; k < len; k++) {
                        int d = i + 1 < b.length() ? Character.digit(b.charAt(i + 1), 16) : -1;
                        if (d < 0) {
                            throw error(at + i, "truncated \\" + e + " escape in string literal");
                        }
                        v = v * 16 + d;
                        i++;
                        if (v > Character.MAX_CODE_POINT) {
                            throw error(at + i, "illegal Unicode character in string literal escape");
                        }
                    }
                    if (v >= Character.MIN_SURROGATE && v <= Character.MAX_SURROGATE) {
                        throw error(at + i, "string literal escape makes an unpaired UTF-16 surrogate");
                    }
                    sb.appendCodePoint(v);
                }
                case 'N' -> throw error(at + i, "\\N{...} escapes are not supported in string literals");
                default -> sb.append('\\').append(e);
            }
        }
        return sb.toString();
    }

    private static final String[] TWO_CHAR_OPS = {"//", "**", "==", "!=", ">=", "<="};
    private static final String ONE_CHAR_OPS = "+-/*%~[](){}><=.:|,;";

    private void lexOperator() {
        int start = pos;
        String op = null;
        for (String two : TWO_CHAR_OPS) {
            if (s.startsWith(two, pos)) {
                op = two;
                break;
            }
        }
        if (op == null) {
            char c = s.charAt(pos);
            if (ONE_CHAR_OPS.indexOf(c) < 0) {
                throw error(pos, "unexpected char " + PyRepr.string(String.valueOf(Character.toChars(s.codePointAt(pos)))));
            }
            op = String.valueOf(c);
        }
        switch (op) {
            case "{" -> balance.push('}');
            case "(" -> balance.push(')');
            case "[" -> balance.push(']');
            case "}", ")", "]" -> {
                if (balance.isEmpty()) {
                    throw error(pos, "unexpected '" + op + "'");
                }
                char expected = balance.pop();
                if (expected != op.charAt(0)) {
                    throw error(pos, "unexpected '" + op + "', expected '" + expected + "'");
                }
            }
            default -> { }
        }
        pos += op.length();
        out.add(new Token(Token.Kind.OPERATOR, op, op, start));
    }
}
