package dev.longctx.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.gguf.GgufFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

/**
 * Every {@code tokenizer.ggml.pre} value against Hugging Face {@code tokenizers}: for each behaviour
 * a byte-level BPE {@code tokenizer.json} built with {@code tokenizers} and the same vocabulary as a
 * vocabulary-only GGUF file (models/src/test/python/make_gguf_pre_tokenizers.py), and the ids
 * {@code tokenizers} gives for 37 hostile texts (digit runs, contractions, CJK, emoji, a user-defined token, whitespace
 * runs, newlines, accents and combining marks, code). The GGUF path is run under every name llama.cpp
 * maps to the behaviour.
 */
class GgufPreTokenizerTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    /** The fixture folders, one per behaviour (the generator's FIXTURES). */
    private static final List<String> FIXTURES = List.of("default", "gpt-2", "llama-bpe", "dbrx", "qwen2", "qwen35", "smollm",
            "tekken", "gpt-4o");

    private static Path dir(String fixture) {
        return SharedFixtures.resource("fixtures/tokenizers/gguf-pre/" + fixture + "/encodings.json").getParent();
    }

    private static JsonNode encodings(String fixture) throws Exception {
        return JSON.readTree(Files.readString(dir(fixture).resolve("encodings.json")));
    }

    private static Map<String, Object> ggufMetadata(String fixture) throws Exception {
        try (GgufFile g = GgufFile.open(dir(fixture).resolve("vocab.gguf"))) {
            return new HashMap<>(g.metadata());
        }
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    private static void assertMatches(Tokenizer t, JsonNode enc, String what) {
        assertEquals(37, enc.get("cases").size(), "the fixture's corpus");
        for (JsonNode c : enc.get("cases")) {
            String text = c.get("text").asText();
            int[] want = ints(c.get("ids"));
            assertArrayEquals(want, t.encode(text, true, false), what + ": ids of '" + text + "'");
            assertEquals(c.get("decoded").asText(), t.decode(want), what + ": decode of '" + text + "'");
        }
    }

    /** Each fixture's GGUF file, opened as a model's tokenizer is, under each of its names. */
    @TestFactory
    Stream<DynamicTest> ggufVocabularyMatchesTokenizersUnderEveryName() {
        List<DynamicTest> tests = new ArrayList<>();
        for (String fixture : FIXTURES) {
            tests.add(DynamicTest.dynamicTest(fixture + " (file)", () -> {
                try (GgufFile g = GgufFile.open(dir(fixture).resolve("vocab.gguf"))) {
                    assertEquals(fixture, g.metadata().get("tokenizer.ggml.pre"));
                    assertMatches(Tokenizers.fromGguf(g), encodings(fixture), fixture);
                }
            }));
            JsonNode enc;
            try {
                enc = encodings(fixture);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            for (JsonNode name : enc.get("pre_values")) {
                tests.add(DynamicTest.dynamicTest(fixture + " as '" + name.asText() + "'", () -> {
                    Map<String, Object> m = ggufMetadata(fixture);
                    m.put("tokenizer.ggml.pre", name.asText());
                    assertMatches(Tokenizers.fromGgufMetadata(m, fixture + "/vocab.gguf"), enc, name.asText());
                }));
            }
        }
        return tests.stream();
    }

    /**
     * 80 seeded random strings per behaviour (letters of both cases, combining marks, digits, CJK,
     * emoji, Devanagari, every kind of whitespace): the GGUF path and our tokenizer.json reader give
     * tokenizers' ids.
     */
    @TestFactory
    Stream<DynamicTest> randomTextsMatchTokenizers() {
        return FIXTURES.stream().map(fixture -> DynamicTest.dynamicTest(fixture, () -> {
            JsonNode cases = JSON.readTree(Files.readString(dir(fixture).resolve("random.json"))).get("cases");
            assertEquals(80, cases.size());
            Tokenizer json = HfTokenizerJson.read(dir(fixture).resolve("tokenizer.json"));
            try (GgufFile g = GgufFile.open(dir(fixture).resolve("vocab.gguf"))) {
                Tokenizer gguf = Tokenizers.fromGguf(g);
                for (JsonNode c : cases) {
                    String text = c.get("text").asText();
                    assertArrayEquals(ints(c.get("ids")), gguf.encode(text, false, false), fixture + " (GGUF): '" + text + "'");
                    assertArrayEquals(ints(c.get("ids")), json.encode(text, false, false), fixture + " (json): '" + text + "'");
                }
            }
        }));
    }

    /** Our tokenizer.json reader on the same files gives the same ids (both paths agree with tokenizers). */
    @TestFactory
    Stream<DynamicTest> tokenizerJsonMatchesTokenizers() {
        return FIXTURES.stream().map(fixture -> DynamicTest.dynamicTest(fixture, () ->
                assertMatches(HfTokenizerJson.read(dir(fixture).resolve("tokenizer.json")), encodings(fixture), fixture)));
    }

    /**
     * decode(encode(s)) == s for random strings under every behaviour (byte-level BPE is lossless
     * whatever the split): ASCII, digits, Latin capitals and small letters, combining marks, CJK,
     * emoji, Devanagari, and every kind of whitespace.
     */
    @Test
    void everyBehaviourRoundTrips() throws Exception {
        java.util.SplittableRandom r = new java.util.SplittableRandom(17);
        int[][] ranges = {{0x20, 0x7E}, {'0', '9'}, {0xC0, 0x17F}, {0x300, 0x36F}, {0x4E00, 0x4E80}, {0x1F600, 0x1F64F},
            {0x900, 0x97F}, {'\t', '\r'}, {0x2000, 0x200A}, {0x3000, 0x3000}};
        for (String fixture : FIXTURES) {
            Tokenizer t;
            try (GgufFile g = GgufFile.open(dir(fixture).resolve("vocab.gguf"))) {
                t = Tokenizers.fromGguf(g);
            }
            for (int trial = 0; trial < 200; trial++) {
                StringBuilder b = new StringBuilder();
                int len = r.nextInt(60);
                for (int i = 0; i < len; i++) {
                    int[] range = ranges[r.nextInt(ranges.length)];
                    b.appendCodePoint(r.nextInt(range[0], range[1] + 1));
                }
                String text = b.toString();
                assertEquals(text, t.decode(t.encode(text, false, false)), fixture + ": round trip of '" + text + "'");
            }
        }
    }

    /** Every name the reader accepts is one a fixture tests, and every name a fixture lists is accepted. */
    @Test
    void everySupportedNameIsTested() throws Exception {
        TreeSet<String> tested = new TreeSet<>();
        for (String fixture : FIXTURES) {
            encodings(fixture).get("pre_values").forEach(n -> tested.add(n.asText()));
        }
        assertEquals(tested, new TreeSet<>(GgufPreType.names()));
    }

    /** The fixtures tell the behaviours apart: every pair differs on some text (BOS aside). */
    @Test
    void fixturesDistinguishEveryBehaviour() throws Exception {
        for (int a = 0; a < FIXTURES.size(); a++) {
            for (int b = a + 1; b < FIXTURES.size(); b++) {
                JsonNode ea = encodings(FIXTURES.get(a));
                JsonNode eb = encodings(FIXTURES.get(b));
                int differ = 0;
                for (int i = 0; i < ea.get("cases").size(); i++) {
                    int[] x = ints(ea.get("cases").get(i).get("ids"));
                    int[] y = ints(eb.get("cases").get(i).get("ids"));
                    x = ea.get("add_bos").asBoolean() && x.length > 0 ? java.util.Arrays.copyOfRange(x, 1, x.length) : x;
                    y = eb.get("add_bos").asBoolean() && y.length > 0 ? java.util.Arrays.copyOfRange(y, 1, y.length) : y;
                    differ += java.util.Arrays.equals(x, y) ? 0 : 1;
                }
                assertTrue(differ > 0, FIXTURES.get(a) + " and " + FIXTURES.get(b) + " give the same ids on every text");
            }
        }
    }

    /** An unknown value is a ModelFormatException naming it and the supported values; never a guess. */
    @Test
    void unknownPreValueIsAClearError() throws Exception {
        Map<String, Object> m = ggufMetadata("gpt-2");
        m.put("tokenizer.ggml.pre", "deepseek-coder");
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromGgufMetadata(m, "x.gguf"));
        assertTrue(e.getMessage().contains("'deepseek-coder'") && e.getMessage().contains("x.gguf")
                && e.getMessage().contains("qwen2") && e.getMessage().contains("llama-bpe"), e.getMessage());
        m.put("tokenizer.ggml.pre", 7L);
        e = assertThrows(ModelFormatException.class, () -> Tokenizers.fromGgufMetadata(m, "x.gguf"));
        assertTrue(e.getMessage().contains("tokenizer.ggml.pre"), e.getMessage());
    }

    /** A missing (or empty) value means llama.cpp's default pre-tokenizer, as in llama.cpp (with a warning). */
    @Test
    void missingPreValueMeansDefault() throws Exception {
        JsonNode enc = encodings("default");
        Map<String, Object> m = ggufMetadata("default");
        m.remove("tokenizer.ggml.pre");
        assertMatches(Tokenizers.fromGgufMetadata(m, "no-pre.gguf"), enc, "missing");
        m.put("tokenizer.ggml.pre", "");
        assertMatches(Tokenizers.fromGgufMetadata(m, "empty-pre.gguf"), enc, "empty");
    }

    /** tokenizer.ggml.add_bos_token, when present, wins over the type's default (llama.cpp reads it last). */
    @Test
    void addBosKeyOverridesTheTypesDefault() throws Exception {
        for (String fixture : List.of("llama-bpe", "qwen2")) {
            Map<String, Object> m = ggufMetadata(fixture);
            long bos = (Long) m.get("tokenizer.ggml.bos_token_id");
            boolean byDefault = encodings(fixture).get("add_bos").asBoolean();
            assertEquals(byDefault, Tokenizers.fromGgufMetadata(m, fixture).encode("hi")[0] == bos, fixture + " default");
            m.put("tokenizer.ggml.add_bos_token", !byDefault);
            int[] ids = Tokenizers.fromGgufMetadata(m, fixture).encode("hi");
            assertEquals(!byDefault, ids[0] == bos, fixture + " with add_bos_token " + !byDefault);
        }
    }
}
