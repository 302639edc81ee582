package dev.longctx.models.template;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Python's string operations where Java's differ: whitespace as {@code str.isspace()} defines it,
 * strip with a set of chars, split, splitlines, title and capitalize, code-point indexing (Python
 * strings are sequences of code points, not UTF-16 units). Stateless.
 */
final class PyStrings {
    private PyStrings() {
    }

    /** Python's {@code str.isspace()} for one char (all such chars are in the BMP). */
    static boolean isWhitespace(int c) {
        return switch (c) {
            case ' ', '\t', '\n', 0x0b, 0x0c, '\r', 0x1c, 0x1d, 0x1e, 0x1f, 0x85, 0xa0, 0x1680, 0x2028, 0x2029, 0x202f, 0x205f,
                 0x3000 -> true;
            default -> c >= 0x2000 && c <= 0x200a;
        };
    }

    static boolean isAllWhitespace(String s, int from) {
        for (int i = from; i < s.length(); i++) {
            if (!isWhitespace(s.charAt(i))) {
                return false;
            }
        }
        return true;
    }

    /** Index of the first unpaired surrogate in {@code s}, or -1. */
    static int unpairedSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                } else {
                    return i;
                }
            } else if (Character.isLowSurrogate(c)) {
                return i;
            }
        }
        return -1;
    }

    static String rstrip(String s) {
        int e = s.length();
        while (e > 0 && isWhitespace(s.charAt(e - 1))) {
            e--;
        }
        return s.substring(0, e);
    }

    static String lstrip(String s) {
        int b = 0;
        while (b < s.length() && isWhitespace(s.charAt(b))) {
            b++;
        }
        return s.substring(b);
    }

    static String strip(String s) {
        return lstrip(rstrip(s));
    }

    /** {@code str.strip(chars)} / lstrip / rstrip; chars null means whitespace. */
    static String strip(String s, String chars, boolean left, boolean right) {
        if (chars == null) {
            String r = right ? rstrip(s) : s;
            return left ? lstrip(r) : r;
        }
        int[] cps = s.codePoints().toArray();
        int b = 0;
        int e = cps.length;
        if (left) {
            while (b < e && chars.indexOf(Character.toString(cps[b])) >= 0) {
                b++;
            }
        }
        if (right) {
            while (e > b && chars.indexOf(Character.toString(cps[e - 1])) >= 0) {
                e--;
            }
        }
        return new String(cps, b, e - b);
    }

    static int length(String s) {
        return s.codePointCount(0, s.length());
    }

    /** {@code str.split(sep, maxsplit)}; sep null splits on runs of whitespace. */
    static List<Object> split(String s, String sep, long maxsplit) {
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int i = 0;
            int n = s.length();
            while (true) {
                while (i < n && isWhitespace(s.charAt(i))) {
                    i++;
                }
                if (i >= n) {
                    break;
                }
                if (maxsplit >= 0 && out.size() >= maxsplit) {
                    out.add(rstrip(s.substring(i)));
                    break;
                }
                int j = i;
                while (j < n && !isWhitespace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw TemplateError.render("empty separator");
        }
        int i = 0;
        while (maxsplit < 0 || out.size() < maxsplit) {
            int j = s.indexOf(sep, i);
            if (j < 0) {
                break;
            }
            out.add(s.substring(i, j));
            i = j + sep.length();
        }
        out.add(s.substring(i));
        return out;
    }

    /** {@code str.rsplit(sep, maxsplit)}. */
    static List<Object> rsplit(String s, String sep, long maxsplit) {
        if (maxsplit < 0) {
            return split(s, sep, -1);
        }
        List<Object> out = new ArrayList<>();
        if (sep == null) {
            int j = s.length();
            while (true) {
                while (j > 0 && isWhitespace(s.charAt(j - 1))) {
                    j--;
                }
                if (j <= 0) {
                    break;
                }
                if (out.size() >= maxsplit) {
                    out.add(lstrip(s.substring(0, j)));
                    break;
                }
                int i = j;
                while (i > 0 && !isWhitespace(s.charAt(i - 1))) {
                    i--;
                }
                out.add(s.substring(i, j));
                j = i;
            }
        } else {
            if (sep.isEmpty()) {
                throw TemplateError.render("empty separator");
            }
            int j = s.length();
            while (out.size() < maxsplit) {
                int i = s.lastIndexOf(sep, j - sep.length());
                if (i < 0 || j - sep.length() < 0) {
                    break;
                }
                out.add(s.substring(i + sep.length(), j));
                j = i;
            }
            out.add(s.substring(0, j));
        }
        java.util.Collections.reverse(out);
        return out;
    }

    private static boolean isLineBreak(char c) {
        return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x85 || c == 0x2028
                || c == 0x2029;
    }

    /** {@code str.splitlines(keepends)}. */
    static List<String> splitlines(String s, boolean keepends) {
        List<String> out = new ArrayList<>();
        int i = 0;
        int n = s.length();
        while (i < n) {
            int j = i;
            while (j < n && !isLineBreak(s.charAt(j))) {
                j++;
            }
            int eol = j;
            if (j < n) {
                j += s.charAt(j) == '\r' && j + 1 < n && s.charAt(j + 1) == '\n' ? 2 : 1;
            }
            out.add(s.substring(i, keepends ? j : eol));
            i = j;
        }
        return out;
    }

    private static boolean isCased(int cp) {
        return Character.isUpperCase(cp) || Character.isLowerCase(cp) || Character.isTitleCase(cp);
    }

    static String upper(String s) {
        return s.toUpperCase(Locale.ROOT);
    }

    static String lower(String s) {
        return s.toLowerCase(Locale.ROOT);
    }

    private static String titleOf(int cp) {
        int t = Character.toTitleCase(cp);
        if (t == cp && !Character.isTitleCase(cp)) {
            String up = Character.toString(cp).toUpperCase(Locale.ROOT);
            if (up.codePointCount(0, up.length()) > 1) { // full mapping, e.g. 'ß' -> 'Ss'
                int first = up.codePointAt(0);
                return Character.toString(first) + lower(up.substring(Character.charCount(first)));
            }
        }
        return Character.toString(t);
    }

    /** Python's {@code str.title()}. */
    static String title(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        boolean prevCased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            sb.append(prevCased ? lower(Character.toString(cp)) : titleOf(cp));
            prevCased = isCased(cp);
        }
        return sb.toString();
    }

    /** Python's {@code str.capitalize()}. */
    static String capitalize(String s) {
        if (s.isEmpty()) {
            return s;
        }
        int cp = s.codePointAt(0);
        return titleOf(cp) + lower(s.substring(Character.charCount(cp)));
    }

    /** jinja2's {@code title} filter: each word (after {@code -}, whitespace or an opening bracket) capitalised. */
    static String jinjaTitle(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        int i = 0;
        int n = s.length();
        while (i < n) {
            boolean sep = isTitleSeparator(s.charAt(i));
            int j = i;
            while (j < n && isTitleSeparator(s.charAt(j)) == sep) {
                j++;
            }
            String item = s.substring(i, j);
            int first = item.codePointAt(0);
            sb.append(upper(Character.toString(first))).append(lower(item.substring(Character.charCount(first))));
            i = j;
        }
        return sb.toString();
    }

    private static boolean isTitleSeparator(char c) {
        return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || isWhitespace(c);
    }

    /** Python's {@code isupper()} (upper=true) / {@code islower()}: some cased char, and all cased chars so. */
    static boolean isCase(String s, boolean upper) {
        boolean cased = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            if (upper ? Character.isLowerCase(cp) || Character.isTitleCase(cp) : Character.isUpperCase(cp) || Character.isTitleCase(cp)) {
                return false;
            }
            cased |= isCased(cp);
        }
        return cased;
    }

    /** Python's regex {@code \w} for one code point. */
    static boolean isWordChar(int cp) {
        if (cp == '_' || Character.isLetter(cp) || Character.isDigit(cp)) {
            return true;
        }
        int t = Character.getType(cp);
        return t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
    }

    static int wordcount(String s) {
        int count = 0;
        boolean in = false;
        for (int i = 0; i < s.length(); ) {
            int cp = s.codePointAt(i);
            i += Character.charCount(cp);
            boolean w = isWordChar(cp);
            if (w && !in) {
                count++;
            }
            in = w;
        }
        return count;
    }

    /** Python's {@code str.isdigit()}-style predicates over every code point (false when empty). */
    static boolean all(String s, java.util.function.IntPredicate p) {
        if (s.isEmpty()) {
            return false;
        }
        return s.codePoints().allMatch(p);
    }

    /** Code-point-wise comparison (Python's str ordering). */
    static int compare(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) {
                return Integer.compare(ca, cb);
            }
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Boolean.compare(i < a.length(), j < b.length());
    }
}
