package dev.longctx.models.template;

import dev.longctx.models.ChatMessage;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.models.tokenizer.ChatTemplate;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** Behaviour of the engine beyond what the jinja2 conformance fixture covers: our own choices, the API, threading. */
class TemplateEngineTest {

    private static String render(String source, Map<String, ?> vars) {
        return Template.parse(source).render(vars, TemplateConformanceTest.FIXED);
    }

    @Test
    void appendWorksOnListsTheTemplateBuiltOnly() {
        // jinja2's immutable sandbox refuses list.append entirely; we allow it on the template's own lists
        assertEquals("[1, 'two']", render("{% set l = [] %}{% set _ = l.append(1) %}{% set _ = l.append('two') %}{{ l }}", Map.of()));
        assertEquals("[1]", render("{% set l = [] %}{% set alias = l %}{% set _ = alias.append(1) %}{{ l }}", Map.of()));
        assertEquals("[0, 1, 2]", render("{% set l = [] %}{% for i in range(3) %}{% set _ = l.append(i) %}{% endfor %}{{ l }}",
                Map.of()));
        TemplateError e = assertThrows(TemplateError.class, () -> render("{{ xs.append(1) }}", Map.of("xs", List.of(1))));
        assertTrue(e.getMessage().contains("only lists the template built"), e.getMessage());
        assertThrows(TemplateError.class, () -> render("{{ (1, 2).append(3) }}", Map.of()));
        assertThrows(TemplateError.class, () -> render("{% set l = [] %}{{ l.extend([1]) }}", Map.of()));
        TemplateError big = assertThrows(TemplateError.class, () -> Template.parse(
                "{% set l = [] %}{% for i in range(100) %}{% set _ = l.append(i) %}{% endfor %}",
                new TemplateLimits(1000, 50, 100_000, 1000, 1000, 10, 10, 10)).render(Map.of()));
        assertEquals(TemplateError.Kind.LIMIT, big.kind());
    }

    @Test
    void runtimeErrorsCarryLineAndColumn() {
        TemplateError e = assertThrows(TemplateError.class, () -> render("first line\n{% set x = 1 %}\n  {{ x / 0 }}", Map.of()));
        assertEquals(TemplateError.Kind.RENDER, e.kind());
        assertEquals(3, e.line());
        assertEquals(8, e.column(), e.getMessage());
        assertEquals("line 3:8: division by zero", e.getMessage());
        e = assertThrows(TemplateError.class, () -> render("{% for m in messages %}\n{{ m.content.x.y }}{% endfor %}",
                Map.of("messages", List.of(Map.of("content", "c")))));
        assertEquals(2, e.line());
        assertTrue(e.getMessage().contains("'str object' has no attribute 'x'"), e.getMessage());
    }

    @Test
    void syntaxErrorsCarryLineAndColumn() {
        TemplateError e = assertThrows(TemplateError.class, () -> Template.parse("ok\n\n  {% if x %}{{ y + }}{% endif %}"));
        assertEquals(TemplateError.Kind.SYNTAX, e.kind());
        assertEquals(3, e.line());
        assertEquals(20, e.column(), e.getMessage());
        e = assertThrows(TemplateError.class, () -> Template.parse("{% for x in y %}\n{% if x %}\n{% endfor %}"));
        assertTrue(e.getMessage().startsWith("line 3:"), e.getMessage());
        assertTrue(e.getMessage().contains("the innermost open block is the 'if' at line 2"), e.getMessage());
        e = assertThrows(TemplateError.class, () -> Template.parse("{% if x %}\n{% for y in z %}\n"));
        assertTrue(e.getMessage().contains("'for' opened at line 2 is never closed (expected 'else' or 'endfor')"), e.getMessage());
    }

    @Test
    void callerValuesAreConvertedAndCheckedOnTheWayIn() {
        Map<String, Object> vars = new HashMap<>();
        vars.put("i", 3);
        vars.put("l", 4L);
        vars.put("f", 1.5f);
        vars.put("big", BigInteger.TEN);
        vars.put("dec", new BigDecimal("2.5"));
        vars.put("arr", new Object[] {"a", null, true});
        vars.put("ch", 'c');
        vars.put("nul", null);
        assertEquals("3 4 1.5 10 2.5 ['a', None, True] c None True",
                render("{{ i }} {{ l }} {{ f }} {{ big }} {{ dec }} {{ arr }} {{ ch }} {{ nul }} {{ nul is none }}", vars));
        TemplateError e = assertThrows(TemplateError.class, () -> render("{{ o }}", Map.of("o", new Object())));
        assertTrue(e.getMessage().contains("variable o has unsupported type java.lang.Object"), e.getMessage());
        e = assertThrows(TemplateError.class, () -> render("{{ t }}", Map.of("t", Thread.currentThread())));
        assertTrue(e.getMessage().contains("unsupported type"), e.getMessage());
        Map<String, Object> cyclic = new HashMap<>();
        cyclic.put("self", cyclic);
        e = assertThrows(TemplateError.class, () -> render("{{ c }}", Map.of("c", cyclic)));
        assertEquals(TemplateError.Kind.LIMIT, e.kind());
        e = assertThrows(TemplateError.class, () -> render("{{ b }}", Map.of("b", BigInteger.TWO.pow(70))));
        assertTrue(e.getMessage().contains("beyond 64 bits"), e.getMessage());
    }

    @Test
    void passedInValuesCannotBeModified() {
        List<Object> xs = new ArrayList<>(List.of(1, 2));
        Map<String, Object> d = new HashMap<>(Map.of("k", "v"));
        assertThrows(TemplateError.class, () -> render("{{ xs.append(3) }}", Map.of("xs", xs)));
        assertThrows(TemplateError.class, () -> render("{{ d.update({'k': 1}) }}{{ d.pop('k') }}", Map.of("d", d)));
        assertThrows(TemplateError.class, () -> render("{% set d.k = 1 %}", Map.of("d", d)));
        assertEquals(List.of(1, 2), xs);
        assertEquals(Map.of("k", "v"), d);
    }

    @Test
    void aParsedTemplateRendersConcurrently() throws Exception {
        Template t = Template.parse("{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}"
                + "{{ loop.index }}:{{ m.content | upper }}{% set l = [] %}{% set _ = l.append(m) %};{% endfor %}{{ ns.n }}");
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Boolean>> results = new ArrayList<>();
            for (int k = 0; k < 64; k++) {
                int n = k;
                results.add(pool.submit(() -> {
                    List<Map<String, String>> msgs = new ArrayList<>();
                    StringBuilder expected = new StringBuilder();
                    for (int i = 0; i < 50 + n; i++) {
                        msgs.add(Map.of("content", "m" + n + "-" + i));
                        expected.append(i + 1).append(":M").append(n).append('-').append(i).append(';');
                    }
                    expected.append(msgs.size());
                    for (int rep = 0; rep < 20; rep++) {
                        if (!expected.toString().equals(t.render(Map.of("messages", msgs), TemplateConformanceTest.FIXED))) {
                            return false;
                        }
                    }
                    return true;
                }));
            }
            for (Future<Boolean> f : results) {
                assertTrue(f.get());
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void limitsAreValidatedAndAdjustable() {
        assertThrows(IllegalArgumentException.class, () -> new TemplateLimits(0, 1, 1, 1, 1, 1, 1, 1));
        assertThrows(IllegalArgumentException.class, () -> TemplateLimits.DEFAULT.withMaxSteps(-1));
        TemplateLimits small = TemplateLimits.DEFAULT.withMaxSteps(50);
        assertEquals(50, small.maxSteps());
        TemplateError e = assertThrows(TemplateError.class,
                () -> Template.parse("{% for i in range(100) %}{{ i }}{% endfor %}", small).render(Map.of()));
        assertTrue(e.getMessage().contains("exceeded 50 evaluation steps"), e.getMessage());
        TemplateError out = assertThrows(TemplateError.class, () -> Template.parse("{{ 'x' * 11 }}",
                TemplateLimits.DEFAULT.withMaxOutputChars(10)).render(Map.of()));
        assertEquals(TemplateError.Kind.LIMIT, out.kind());
        assertEquals("x".repeat(10), Template.parse("{{ 'x' * 10 }}", TemplateLimits.DEFAULT.withMaxOutputChars(10)).render(Map.of()));
        assertThrows(TemplateError.class, () -> Template.parse("{% for i in range(6) %}{{ 'xx' }}{% endfor %}",
                TemplateLimits.DEFAULT.withMaxOutputChars(10)).render(Map.of()));
    }

    @Test
    void strftimeNowReadsTheClock() {
        assertEquals("2024-07-26 13:05", render("{{ strftime_now('%Y-%m-%d %H:%M') }}", Map.of()));
        assertEquals("%Q stays", render("{{ strftime_now('%Q stays') }}", Map.of()));
        assertFalse(Template.parse("{{ strftime_now('%d %b %Y') }}").render(Map.of()).isBlank());
    }

    @Test
    void chatTemplateAddsTransformersVariablesAndExtras() {
        var msgs = List.of(new ChatMessage("user", "hi"));
        var t = new ChatTemplate("{{ bos_token }}|{{ tools is none }}|{{ documents is none }}|{{ date_string | default('-') }}|"
                + "{{ messages | length }}|{{ add_generation_prompt }}|{{ tools | tojson if tools else '' }}", "<s>", "</s>");
        assertEquals("<s>|True|True|-|1|True|", t.render(msgs, true));
        Map<String, Object> extras = new HashMap<>();
        extras.put("date_string", "26 Jul 2024");
        extras.put("tools", List.of(Map.of("name", "f")));
        extras.put("messages", List.of());
        extras.put("add_generation_prompt", false);
        assertEquals("<s>|False|True|26 Jul 2024|1|True|[{\"name\": \"f\"}]", t.render(msgs, true, extras));
        var bad = assertThrows(ChatTemplate.TemplateException.class, () -> t.render(msgs, true, Map.of("x", new Object())));
        assertTrue(bad.getMessage().contains("unsupported type"), bad.getMessage());
    }

    @Test
    void unsupportedFeaturesFailClearly() {
        String[][] cases = {
            {"{% include 'x' %}", "'include' is not supported"},
            {"{% import 'x' as y %}", "'import' is not supported"},
            {"{% from 'x' import y %}", "'from' is not supported"},
            {"{% extends 'x' %}", "no template inheritance"},
            {"{% block b %}{% endblock %}", "no template inheritance"},
            {"{% call m() %}{% endcall %}", "'call' blocks are not supported"},
            {"{% macro m() %}{{ caller() }}{% endmacro %}", "'caller'"},
            {"{% autoescape true %}{% endautoescape %}", "'autoescape' blocks are not supported"},
            {"{% do x.append(1) %}", "'do' extension is not enabled"},
            {"{% for x in y recursive %}{% endfor %}", "recursive loops are not supported"},
            {"{{ f(*args) }}", "*args and **kwargs in calls are not supported"},
            {"{{ '\\N{BULLET}' }}", "\\N{...} escapes are not supported"},
        };
        for (String[] c : cases) {
            TemplateError e = assertThrows(TemplateError.class, () -> Template.parse(c[0]), c[0]);
            assertTrue(e.getMessage().contains(c[1]), c[0] + " -> " + e.getMessage());
            assertEquals(1, e.line());
        }
        TemplateError e = assertThrows(TemplateError.class, () -> render("{{ x | groupby('a') }}", Map.of("x", List.of())));
        assertTrue(e.getMessage().contains("no filter named 'groupby'"), e.getMessage());
    }
}
