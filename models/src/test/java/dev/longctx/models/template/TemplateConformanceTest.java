package dev.longctx.models.template;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.SharedFixtures;
import java.nio.file.Files;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Replays template-conformance.json (made by make_template_conformance.py with jinja2 3.1.6
 * configured as transformers configures it): every output must equal jinja2's byte for byte; every
 * case jinja2 fails must fail here too, with raise_exception's message exactly.
 */
class TemplateConformanceTest {
    /** The fixture's strftime_now time. */
    static final Clock FIXED = Clock.fixed(Instant.parse("2024-07-26T13:05:09Z"), ZoneOffset.UTC);

    static JsonNode fixture() throws Exception {
        return new ObjectMapper().readTree(Files.readString(SharedFixtures.resource("fixtures/template-conformance.json")));
    }

    /** A JSON value as the plain Java values a caller passes (maps, lists, strings, numbers, booleans, null). */
    static Object toJava(JsonNode n) {
        if (n.isObject()) {
            Map<String, Object> m = new LinkedHashMap<>();
            n.properties().forEach(e -> m.put(e.getKey(), toJava(e.getValue())));
            return m;
        }
        if (n.isArray()) {
            List<Object> l = new ArrayList<>();
            n.forEach(x -> l.add(toJava(x)));
            return l;
        }
        if (n.isTextual()) {
            return n.asText();
        }
        if (n.isIntegralNumber()) {
            return n.asLong();
        }
        if (n.isNumber()) {
            return n.asDouble();
        }
        if (n.isBoolean()) {
            return n.asBoolean();
        }
        return null;
    }

    @SuppressWarnings("unchecked")
    @TestFactory
    Stream<DynamicTest> everyCaseRendersAsJinja2() throws Exception {
        JsonNode root = fixture();
        assertTrue(root.get("cases").size() >= 250, "fixture has " + root.get("cases").size() + " cases");
        List<DynamicTest> tests = new ArrayList<>();
        for (JsonNode c : root.get("cases")) {
            String name = c.get("name").asText();
            String source = c.get("template").asText();
            Map<String, Object> context = (Map<String, Object>) toJava(c.get("context"));
            tests.add(DynamicTest.dynamicTest(name, () -> {
                if (c.has("expected")) {
                    String out = Template.parse(source).render(context, FIXED);
                    assertEquals(c.get("expected").asText(), out, name);
                } else {
                    TemplateError e = assertThrows(TemplateError.class, () -> Template.parse(source).render(context, FIXED),
                            name + " must fail as jinja2 failed: " + c.get("error_type").asText() + ": " + c.get("error").asText());
                    assertNotEquals(TemplateError.Kind.INTERNAL, e.kind(), name + ": " + e.getMessage());
                    if (c.get("raised").asBoolean()) {
                        assertEquals(TemplateError.Kind.RAISED, e.kind(), name + ": " + e.getMessage());
                        assertEquals(c.get("error").asText(), e.getMessage(), name);
                    }
                }
            }));
        }
        return tests.stream();
    }
}
