package dev.longctx.models.template;

import dev.longctx.models.ChatMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.models.tokenizer.ChatTemplate;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Chat templates are hostile input (they come from model files): every attack below must fail
 * with a TemplateError (a ChatTemplate.TemplateException through the public API) that says what
 * went wrong, never with another exception, an OutOfMemoryError, a StackOverflowError or a hang.
 * No test asserts on wall time; the bounds are steps, sizes and depths.
 */
class HostileTemplateTest {

    private static TemplateError fails(String source) {
        return fails(source, Map.of());
    }

    private static TemplateError fails(String source, Map<String, ?> vars) {
        TemplateError e = assertThrows(TemplateError.class, () -> Template.parse(source).render(vars, TemplateConformanceTest.FIXED));
        assertTrue(e.kind() != TemplateError.Kind.INTERNAL, e::getMessage);
        return e;
    }

    private static void contains(TemplateError e, String text) {
        assertTrue(e.getMessage().contains(text), () -> "'" + e.getMessage() + "' should say '" + text + "'");
    }

    private static final Map<String, Object> MESSAGES = Map.of("messages", List.of(Map.of("role", "user", "content", "hi")));

    @Test
    void noPythonOrJavaObjectAccess() {
        contains(fails("{{ messages.__class__ }}", MESSAGES), "'__class__' of 'list' object is unsafe");
        contains(fails("{{ messages.__class__.__mro__[1].__subclasses__() }}", MESSAGES), "unsafe");
        contains(fails("{{ ''.getClass() }}"), "'str object' has no attribute 'getClass'");
        contains(fails("{{ ''.getClass().forName('java.lang.Runtime') }}"), "getClass");
        contains(fails("{{ cycler.__init__.__globals__ }}"), "'__init__'");
        contains(fails("{{ range.__call__ }}"), "unsafe");
        contains(fails("{{ (1).__class__ }}"), "unsafe");
        contains(fails("{% set ns = namespace() %}{% set ns.__dict__ = 1 %}"), "unsafe");
        contains(fails("{{ messages.pop() }}", MESSAGES), "unsafe");
        contains(fails("{{ messages.append(1) }}", MESSAGES), "unsafe");
        contains(fails("{{ messages[0].update({'role': 'x'}) }}", MESSAGES), "'update' of 'dict' object is unsafe");
        contains(fails("{{ self }}{{ self.__init__ }}"), "'self' is undefined");
        contains(fails("{{ lipsum() }}"), "'lipsum' is undefined");
    }

    @Test
    void noLoadingOtherTemplates() {
        for (String tag : List.of("include 'x'", "import 'x' as y", "from 'x' import y", "extends 'base'")) {
            TemplateError e = fails("line one\n  {% " + tag + " %}");
            assertEquals(TemplateError.Kind.SYNTAX, e.kind());
            assertEquals(2, e.line(), e::getMessage);
            contains(e, "not supported");
        }
    }

    @Test
    void runawayLoopsFailByStepBudget() {
        TemplateError e = fails("{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}");
        assertEquals(TemplateError.Kind.LIMIT, e.kind());
        contains(e, "exceeded " + TemplateLimits.DEFAULT.maxSteps() + " evaluation steps");
        contains(fails("{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{{ c }}{% endfor %}"
                + "{% endfor %}{% endfor %}"), "evaluation steps");
        contains(fails("{% macro m(n) %}{% for i in range(100) %}{{ m(n + 1) if n < 50 }}{% endfor %}{% endmacro %}{{ m(0) }}"),
                "evaluation steps");
    }

    @Test
    void hugeStringsFailBeforeTheyAreBuilt() {
        contains(fails("{{ 'x' * 1000000000 }}"), "exceeds the limit");
        contains(fails("{{ 'x' * 9223372036854775807 }}"), "exceeds the limit");
        contains(fails("{{ [1] * 1000000000 }}"), "exceeds the limit");
        contains(fails("{{ 'abc'.center(2000000000) }}"), "exceeds the limit");
        contains(fails("{{ 'abc'.zfill(2000000000) }}"), "exceeds the limit");
        contains(fails("{{ '%9999999d' % 1 }}"), "too large");
        contains(fails("{{ 'x' | indent(1000000000) }}{{ ('a\\n' * 100000) | indent(1000) }}"), "exceeds the limit");
    }

    @Test
    void growingStringsInLoopsFailCleanly() {
        // towards 100 MB by concatenation: fails on the string bound or the step budget, whichever first
        TemplateError e = fails("{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ ('x' * 1000) %}"
                + "{% endfor %}{{ ns.s | length }}");
        assertEquals(TemplateError.Kind.LIMIT, e.kind());
        e = fails("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}{% endfor %}");
        assertEquals(TemplateError.Kind.LIMIT, e.kind());
        e = fails("{% for i in range(100000) %}{{ 'x' * 1000 }}{% endfor %}",
                Map.of());
        assertEquals(TemplateError.Kind.LIMIT, e.kind(), e::getMessage);
        e = fails("{% set ns = namespace(l=[1]) %}{% for i in range(100) %}{% set ns.l = ns.l + ns.l %}{% endfor %}");
        contains(e, "exceeds the limit");
        e = fails("{% set l = [] %}{% for i in range(100000) %}{% for j in range(100) %}{% set _ = l.append(j) %}{% endfor %}"
                + "{% endfor %}");
        assertEquals(TemplateError.Kind.LIMIT, e.kind());
        contains(fails("{{ range(100000) | join(',') * 100 }}"), "exceeds the limit");
    }

    @Test
    void recursionIsBounded() {
        TemplateError e = fails("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}");
        assertEquals(TemplateError.Kind.LIMIT, e.kind());
        contains(e, "macro 'r' nest deeper than the limit of " + TemplateLimits.DEFAULT.maxCallDepth());
        contains(fails("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}"), "nest deeper");
        // self-referencing and deeply nested values
        contains(fails("{% set l = [] %}{% set _ = l.append(l) %}{{ l }}"), "nests deeper");
        contains(fails("{% set l = [] %}{% set _ = l.append(l) %}{{ l | tojson }}"), "nests deeper");
        contains(fails("{% set ns = namespace(x=[]) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}{% endfor %}{{ ns.x }}"),
                "nests deeper");
        contains(fails("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"), "nests deeper");
    }

    @Test
    void deepNestingInTheSourceIsRefusedByTheParser() {
        String parens = "{{ " + "(".repeat(100_000) + "1" + ")".repeat(100_000) + " }}";
        TemplateError e = fails(parens);
        assertEquals(TemplateError.Kind.LIMIT, e.kind());
        contains(e, "nests deeper than the limit of " + TemplateLimits.DEFAULT.maxNestingDepth());
        contains(fails("{{ " + "[".repeat(50_000) + "]".repeat(50_000) + " }}"), "nests deeper");
        contains(fails("{{ " + "not ".repeat(50_000) + "1 }}"), "nests deeper");
        contains(fails("{{ " + "-".repeat(50_000) + "1 }}"), "nests deeper");
        contains(fails("{{ 1" + " + 1".repeat(50_000) + " }}"), "nests deeper");
        contains(fails("{{ x" + " | trim".repeat(30_000) + " }}"), "nests deeper");
        contains(fails("{{ x" + ".a".repeat(50_000) + " }}"), "nests deeper");
        contains(fails("{{ 1 if x else ".repeat(10_000) + "2 }}"), "nests deeper");
        contains(fails("{% if x %}".repeat(10_000) + "{% endif %}".repeat(10_000)), "nests deeper");
        contains(fails("{% for x in y %}".repeat(10_000)), "nests deeper");
    }

    @Test
    void malformedTemplatesFailWithTheirPosition() {
        String[][] cases = {
            {"ab\n{{ x", "got end of template"},
            {"{% if x %}", "never closed"},
            {"{% for x in y %}{% endif %}", "unexpected 'endif'"},
            {"{# comment", "missing end of comment"},
            {"{% raw %}never closed", "missing end of raw"},
            {"{{ 'abc }}", "unterminated string"},
            {"{{ x ) }}", "unexpected ')'"},
            {"{{ [1, 2 }}", "unexpected '}'"},
            {"{% %}", "tag name expected"},
            {"{% endfor %}", "no block is open"},
            {"{{ 1 +* 2 }}", "unexpected '*'"},
            {"{{ x | }}", "expected a filter name"},
            {"{% set %}", "expected an assignment target"},
            {"{{ '\\xZZ' }}", "truncated \\x escape"},
            {"{{ 99999999999999999999 }}", "too large"},
            {"{{ x is }}", "expected a name"},
            {"{% macro m(a=1, b) %}{% endmacro %}", "non-default argument"},
            {"{{ f(a=1, 2) }}", "positional argument follows keyword argument"},
            {"{% for x in y recursive %}{% endfor %}", "recursive loops are not supported"},
            {"{% call m() %}{% endcall %}", "'call' blocks are not supported"},
            {"{{ `x` }}", "unexpected char"},
        };
        for (String[] c : cases) {
            TemplateError e = assertThrows(TemplateError.class, () -> Template.parse(c[0]), c[0]);
            assertEquals(TemplateError.Kind.SYNTAX, e.kind(), c[0] + ": " + e.getMessage());
            assertTrue(e.line() >= 1 && e.column() >= 1, c[0] + ": " + e.getMessage());
            contains(e, c[1]);
        }
        assertEquals(2, assertThrows(TemplateError.class, () -> Template.parse("ab\n{{ x")).line());
    }

    @Test
    void boundsOnRangesNumbersAndArithmetic() {
        contains(fails("{{ range(1000000000) | length }}"), "range() of 1000000000 elements exceeds the limit");
        contains(fails("{{ range(0, 9223372036854775807, 1) | length }}"), "exceeds the limit");
        contains(fails("{{ 10 ** 100 }}"), "integer overflow");
        contains(fails("{{ 9223372036854775807 + 1 }}"), "integer overflow");
        contains(fails("{{ -9223372036854775807 - 2 }}"), "integer overflow");
        contains(fails("{{ 1 / 0 }}"), "division by zero");
        contains(fails("{{ 1 // 0 }}"), "division or modulo by zero");
        contains(fails("{{ 1 % 0 }}"), "by zero");
        contains(fails("{{ 1.5 // 0 }}"), "by zero");
        contains(fails("{{ 0 ** -1 }}"), "negative power");
        contains(fails("{{ (-8) ** 0.5 }}"), "complex");
        contains(fails("{{ range(0, 10, 0) }}"), "must not be zero");
    }

    @Test
    void theSourceLengthIsBounded() {
        String big = "x".repeat(1 << 20);
        TemplateError e = assertThrows(TemplateError.class, () -> Template.parse(big));
        assertEquals(TemplateError.Kind.LIMIT, e.kind());
        contains(e, "more than the limit of " + TemplateLimits.DEFAULT.maxSourceChars());
        var ex = assertThrows(ChatTemplate.TemplateException.class, () -> new ChatTemplate(big, "", ""));
        assertTrue(ex.getMessage().contains("template source"), ex.getMessage());
    }

    @Test
    void unpairedSurrogatesAreRefused() {
        var t = new ChatTemplate("{% for m in messages %}{{ m.content }}{% endfor %}", "<s>", "</s>");
        var e = assertThrows(ChatTemplate.TemplateException.class,
                () -> t.render(List.of(new ChatMessage("user", "ok \uD83D then cut")), false));
        assertTrue(e.getMessage().contains("unpaired UTF-16 surrogate"), e.getMessage());
        e = assertThrows(ChatTemplate.TemplateException.class,
                () -> t.render(List.of(new ChatMessage("user", "low \uDE00 alone")), false));
        assertTrue(e.getMessage().contains("messages[0]['content']"), e.getMessage());
        contains(assertThrows(TemplateError.class, () -> Template.parse("a \uDC00 b")), "unpaired UTF-16 surrogate");
        contains(assertThrows(TemplateError.class, () -> Template.parse("{{ '\\ud83d' }}")), "unpaired UTF-16 surrogate");
        // a proper pair is fine
        assertEquals("🙂", t.render(List.of(new ChatMessage("user", "\uD83D\uDE42")), false));
    }

    @Test
    void everythingThroughChatTemplateIsATemplateException() {
        String[] bad = {"{{ messages.__class__ }}", "{{ 1/0 }}", "{% for a in range(100000) %}{% for b in range(100000) %}"
                + "{% endfor %}{% endfor %}", "{{ 'x' * 1000000000 }}", "{{ raise_exception('nope') }}", "{{ undefined.x }}"};
        for (String b : bad) {
            var t = new ChatTemplate(b, "", "");
            var e = assertThrows(ChatTemplate.TemplateException.class, () -> t.render(List.of(new ChatMessage("user", "u")), true));
            assertTrue(e.getMessage() != null && !e.getMessage().isBlank());
        }
        var e = assertThrows(ChatTemplate.TemplateException.class, () -> new ChatTemplate("a\nb {% if %}", "", ""));
        assertTrue(e.getMessage().startsWith("chat template error at line 2:"), e.getMessage());
        var t = new ChatTemplate("{{ raise_exception('exactly this') }}", "", "");
        assertEquals("exactly this", assertThrows(ChatTemplate.TemplateException.class, () -> t.render(List.of(), false)).getMessage());
    }
}
