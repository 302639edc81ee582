package dev.longctx.models.template;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Random templates (token soup, random expressions, random statement nests) under tight limits:
 * each either renders or fails with a TemplateError of a kind other than INTERNAL; no other
 * exception ever escapes. Seeded, so a failure reproduces.
 */
class TemplateFuzzTest {
    private static final TemplateLimits TIGHT = new TemplateLimits(20_000, 40, 200_000, 20_000, 1_000, 1_000, 15, 20);

    private static final String[] TOKENS = {"{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", "{% raw %}",
        "{% endraw %}", "if", "elif", "else", "endif", "for", "in", "endfor", "set", "endset", "macro", "endmacro", "filter",
        "endfilter", "with", "endwith", "break", "continue", "not", "and", "or", "is", "namespace", "loop", "range", "x", "y",
        "messages", "m", "ns", "d", "s", "1", "0", "-1", "2.5", "'a'", "\"b\"", "true", "none", "[]", "{}", "()", "+", "-", "*", "/",
        "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "=", ".", ",", ":", "|", "(", ")", "[", "]", "{", "}", "trim",
        "length", "join", "tojson", "map", "select", "items", "list", "upper", "first", "default", "sort", " ", "\n", "text",
        "'\\u00e9'", "'\\x'", "1e400", "99999999999999999999", "_x", "__class__", "\t"};
    private static final String[] NAMES = {"x", "y", "s", "d", "messages", "ns", "loop", "none", "undefined_name", "range",
        "namespace", "m", "f", "e"};
    private static final String[] FILTERS = {"trim", "length", "join(',')", "tojson", "tojson(indent=2)", "map(attribute='role')",
        "select", "reject('none')", "selectattr('role', 'eq', 'user')", "items", "list", "upper", "lower", "title", "first", "last",
        "default('z')", "sort", "sort(attribute='role')", "unique", "reverse", "string", "int", "float", "abs", "round(1)",
        "replace('a', 'b')", "indent(2)", "wordcount", "dictsort", "sum", "min", "max", "batch(2)", "slice(2)", "center(9)",
        "truncate(5)", "format(1)", "e", "safe", "count", "capitalize", "attr('x')", "nosuch"};
    private static final String[] TESTS = {"defined", "undefined", "none", "string", "number", "integer", "float", "mapping",
        "iterable", "sequence", "boolean", "true", "false", "even", "odd", "divisibleby(2)", "eq(1)", "in([1])", "callable",
        "lower", "upper", "sameas(none)", "nosuch"};
    private static final String[] BINOPS = {"+", "-", "*", "/", "//", "%", "**", "~", "==", "!=", "<", ">", "<=", ">=", "and", "or",
        "in", "not in"};
    private static final String[] METHODS = {"strip()", "split(',')", "startswith('a')", "items()", "keys()", "values()",
        "get('role')", "append(1)", "upper()", "format(1)", "count(1)", "index(1)", "join(['a'])", "replace('a','b')", "nosuch()",
        "__class__", "lstrip('x')", "splitlines()", "title()", "center(3)"};

    private static final Map<String, Object> CONTEXT = Map.of(
            "x", 3, "y", List.of(1, 2, "a", 2.5), "s", "Hello é🙂", "f", -1.5,
            "d", Map.of("role", "user", "content", "hi", "n", 2),
            "messages", List.of(Map.of("role", "system", "content", "sys"), Map.of("role", "user", "content", "u")));

    /** Renders {@code source}; true when it rendered, false when it failed as it may. */
    private static boolean check(String source) {
        try {
            Template.parse(source, TIGHT).render(CONTEXT, TemplateConformanceTest.FIXED);
            return true;
        } catch (TemplateError e) {
            if (e.kind() == TemplateError.Kind.INTERNAL) {
                fail("internal error for template " + source + "\n" + e.getMessage(), e);
            }
        } catch (Throwable t) {
            fail("unexpected " + t + " for template " + source, t);
        }
        return false;
    }

    /** The fuzzers must exercise rendering, not only the parser's error paths. */
    private static void someRendered(int rendered, int total, double atLeast) {
        if (rendered < total * atLeast) {
            fail("only " + rendered + " of " + total + " random templates rendered");
        }
    }

    private static String pick(Random r, String[] a) {
        return a[r.nextInt(a.length)];
    }

    @Test
    void tokenSoup() {
        Random r = new Random(42);
        int rendered = 0;
        for (int i = 0; i < 20_000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = 1 + r.nextInt(40);
            for (int k = 0; k < n; k++) {
                sb.append(pick(r, TOKENS));
                if (r.nextBoolean()) {
                    sb.append(' ');
                }
            }
            rendered += check(sb.toString()) ? 1 : 0;
        }
        someRendered(rendered, 20_000, 0.02);
    }

    private static String expr(Random r, int depth) {
        if (depth <= 0 || r.nextInt(4) == 0) {
            return switch (r.nextInt(8)) {
                case 0 -> Integer.toString(r.nextInt(7) - 2);
                case 1 -> "'" + pick(r, new String[] {"", "a", "role", "a,b", " x "}) + "'";
                case 2 -> pick(r, new String[] {"true", "false", "none", "2.5", "1e3", "[]", "{}", "()"});
                default -> pick(r, NAMES);
            };
        }
        String a = expr(r, depth - 1);
        return switch (r.nextInt(12)) {
            case 0, 1 -> a + " " + pick(r, BINOPS) + " " + expr(r, depth - 1);
            case 2 -> a + " | " + pick(r, FILTERS);
            case 3 -> a + " is " + (r.nextBoolean() ? "not " : "") + pick(r, TESTS);
            case 4 -> "(" + a + ")." + pick(r, METHODS);
            case 5 -> "(" + a + ")[" + expr(r, depth - 1) + "]";
            case 6 -> "(" + a + ")[" + pick(r, new String[] {"1:", ":-1", "::-1", "::2", ":"}) + "]";
            case 7 -> "[" + a + ", " + expr(r, depth - 1) + "]";
            case 8 -> "{" + a + ": " + expr(r, depth - 1) + "}";
            case 9 -> "(" + a + " if " + expr(r, depth - 1) + " else " + expr(r, depth - 1) + ")";
            case 10 -> pick(r, new String[] {"not ", "-", "+"}) + "(" + a + ")";
            default -> pick(r, new String[] {"range", "namespace", "dict", "raise_exception", "strftime_now", "cycler", "joiner"})
                    + "(" + a + ")";
        };
    }

    @Test
    void randomExpressions() {
        Random r = new Random(7);
        int rendered = 0;
        for (int i = 0; i < 20_000; i++) {
            rendered += check("{{ " + expr(r, 4) + " }}") ? 1 : 0;
        }
        someRendered(rendered, 20_000, 0.2);
    }

    private static String stmts(Random r, int depth) {
        StringBuilder sb = new StringBuilder();
        int n = 1 + r.nextInt(3);
        for (int k = 0; k < n; k++) {
            int kind = depth <= 0 ? r.nextInt(2) : r.nextInt(9);
            String ws = pick(r, new String[] {"", "-", "+"});
            switch (kind) {
                case 0 -> sb.append("{{").append(ws).append(' ').append(expr(r, 2)).append(" }}");
                case 1 -> sb.append(pick(r, new String[] {"text", "\n", "  ", "\n  "}));
                case 2 -> sb.append("{% if ").append(expr(r, 2)).append(" %}").append(stmts(r, depth - 1))
                        .append(r.nextBoolean() ? "{% else %}" + stmts(r, depth - 1) : "").append("{% endif %}");
                case 3 -> sb.append("{% for ").append(pick(r, new String[] {"i", "k, v", "m"})).append(" in ")
                        .append(expr(r, 2)).append(r.nextBoolean() ? " if " + expr(r, 1) : "").append(" %}")
                        .append(stmts(r, depth - 1)).append(r.nextInt(4) == 0 ? "{% break %}" : "").append("{% endfor %}");
                case 4 -> sb.append("{% set ").append(pick(r, new String[] {"x", "y", "ns.a", "a, b"})).append(" = ")
                        .append(expr(r, 2)).append(" %}");
                case 5 -> sb.append("{% macro f(a, b=1) %}").append(stmts(r, depth - 1)).append("{{ f(a) if a is number and a > 0 }}")
                        .append("{% endmacro %}{{ f(").append(expr(r, 1)).append(") }}");
                case 6 -> sb.append("{% set ns = namespace(a=").append(expr(r, 1)).append(") %}");
                case 7 -> sb.append("{% set x %}").append(stmts(r, depth - 1)).append("{% endset %}");
                default -> sb.append("{% filter ").append(pick(r, FILTERS)).append(" %}").append(stmts(r, depth - 1))
                        .append("{% endfilter %}");
            }
        }
        return sb.toString();
    }

    @Test
    void randomStatementNests() {
        Random r = new Random(2024);
        int rendered = 0;
        for (int i = 0; i < 10_000; i++) {
            rendered += check(stmts(r, 3)) ? 1 : 0;
        }
        someRendered(rendered, 10_000, 0.1);
    }
}
