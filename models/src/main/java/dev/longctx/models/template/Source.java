package dev.longctx.models.template;

import java.util.Arrays;

/**
 * A template's source as jinja2 reads it: line breaks ({@code \r\n}, {@code \r}) normalised to
 * {@code \n} and one trailing line break dropped ({@code keep_trailing_newline=False}); checked
 * against the source-length bound and for unpaired UTF-16 surrogates. Maps offsets to line:column.
 * Immutable and thread-safe.
 */
final class Source {
    final String text;
    private final int[] lineStarts;

    private Source(String text) {
        this.text = text;
        int[] starts = new int[16];
        int n = 0;
        starts[n++] = 0;
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) == '\n') {
                if (n == starts.length) {
                    starts = Arrays.copyOf(starts, n * 2);
                }
                starts[n++] = i + 1;
            }
        }
        this.lineStarts = Arrays.copyOf(starts, n);
    }

    static Source of(String raw, TemplateLimits limits) {
        if (raw.length() > limits.maxSourceChars()) {
            throw new TemplateError(TemplateError.Kind.LIMIT, "template source is " + raw.length() + " chars, more than the limit of "
                    + limits.maxSourceChars());
        }
        StringBuilder sb = new StringBuilder(raw.length());
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            if (c == '\r') {
                sb.append('\n');
                if (i + 1 < raw.length() && raw.charAt(i + 1) == '\n') {
                    i++;
                }
            } else {
                sb.append(c);
            }
        }
        if (!sb.isEmpty() && sb.charAt(sb.length() - 1) == '\n') {
            sb.setLength(sb.length() - 1);
        }
        Source s = new Source(sb.toString());
        int bad = PyStrings.unpairedSurrogate(s.text);
        if (bad >= 0) {
            throw new TemplateError(TemplateError.Kind.SYNTAX, "template source contains an unpaired UTF-16 surrogate",
                    s.line(bad), s.column(bad), null);
        }
        return s;
    }

    /** 1-based line of {@code offset}. */
    int line(int offset) {
        int i = Arrays.binarySearch(lineStarts, Math.max(0, offset));
        return i >= 0 ? i + 1 : -i - 1;
    }

    /** 1-based column (in chars) of {@code offset}. */
    int column(int offset) {
        return Math.max(0, offset) - lineStarts[line(offset) - 1] + 1;
    }
}
