package dev.longctx.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.gguf.GgufFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Every tokenizer against the ids and texts of the tools that define it. */
class TokenizerFixturesTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    static Tokenizer storiesGguf() throws Exception {
        try (GgufFile g = GgufFile.open(SharedFixtures.locate("fixtures/stories260k/stories260K.gguf"))) {
            return Tokenizers.fromGguf(g);
        }
    }

    static Tokenizer storiesBin() throws Exception {
        return Tokenizers.fromLlama2c(SharedFixtures.locate("fixtures/stories260k/tok512.bin"), 512);
    }

    static Tokenizer byteLevel() throws Exception {
        return HfTokenizerJson.read(SharedFixtures.locate("fixtures/hf/tokenizers/bytelevel-bpe/tokenizer.json"));
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    /** llama.cpp's ids (add_special, no special parsing) for all 14 texts, from the GGUF vocabulary and from tok512.bin. */
    @Test
    void storiesTokenizersMatchLlamaCpp() throws Exception {
        JsonNode cases = JSON.readTree(Files.readString(SharedFixtures.locate("fixtures/stories260k/reference/tokenizer.json")))
                .get("cases");
        for (Tokenizer t : new Tokenizer[] {storiesGguf(), storiesBin()}) {
            for (JsonNode c : cases) {
                String text = c.get("text").asText();
                assertArrayEquals(ints(c.get("ids")), t.encode(text), "ids of '" + text + "'");
                int[] body = ints(c.get("ids"));
                assertEquals(text, t.decode(java.util.Arrays.copyOfRange(body, 1, body.length)), "decode of '" + text + "'");
            }
        }
    }

    /** The greedy continuations' pieces and text, decoded as a stream that continues the prompt. */
    @Test
    void storiesGreedyPiecesDecodeAsLlamaCpp() throws Exception {
        JsonNode cases = JSON.readTree(Files.readString(SharedFixtures.locate("fixtures/stories260k/reference/greedy.json")))
                .get("cases");
        Tokenizer t = storiesGguf();
        for (JsonNode c : cases) {
            int[] ids = ints(c.get("generated_ids"));
            StreamingDecoder d = t.streamingDecoder(true);
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < ids.length; i++) {
                String piece = d.accept(ids[i]);
                assertEquals(c.get("generated_pieces").get(i).asText(), piece, "piece " + i);
                text.append(piece);
            }
            text.append(d.flush());
            assertEquals(c.get("continuation_text").asText(), text.toString());
            assertEquals(c.get("full_text").asText(), t.decode(ints(c.get("prompt_ids"))) + text);
        }
    }

    /** Every case of the byte-level BPE fixture: ids exact, decode exact. */
    @Test
    void byteLevelBpeMatchesTokenizers() throws Exception {
        JsonNode cases = JSON.readTree(Files.readString(
                SharedFixtures.locate("fixtures/hf/tokenizers/bytelevel-bpe/encodings.json"))).get("cases");
        Tokenizer t = byteLevel();
        assertEquals(0, t.bosId());
        for (JsonNode c : cases) {
            String text = c.get("text").asText();
            assertArrayEquals(ints(c.get("ids")), t.encode(text), "ids of '" + text + "'");
            assertEquals(c.get("decoded").asText(), t.decode(ints(c.get("ids"))), "decode of '" + text + "'");
        }
    }

    /**
     * SentencePiece-style tokenizer.json files (Metaspace, byte fallback) in the three shapes real
     * Llama 2 / Mistral files take, made by models/src/test/python/make_sentencepiece_tokenizers.py:
     * ids and decoded text exact, HF's quirks included (the legacy normaliser prefixes every segment
     * after a special token; the Metaspace decoder drops every "▁" of the first token).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"sentencepiece-legacy", "sentencepiece-metaspace", "sentencepiece-metaspace-split"})
    void sentencePieceTokenizerJsonMatchesTokenizers(String variant) throws Exception {
        Path dir = SharedFixtures.resource("fixtures/tokenizers/" + variant + "/tokenizer.json").getParent();
        Tokenizer t = HfTokenizerJson.read(dir.resolve("tokenizer.json"));
        assertEquals(1, t.bosId());
        assertEquals(2, t.eosId());
        for (JsonNode c : JSON.readTree(Files.readString(dir.resolve("encodings.json"))).get("cases")) {
            String text = c.get("text").asText();
            assertArrayEquals(ints(c.get("ids")), t.encode(text), variant + ": ids of '" + text + "'");
            assertEquals(c.get("decoded").asText(), t.decode(ints(c.get("ids"))), variant + ": decode of '" + text + "'");
        }
    }

    /**
     * The same vocabulary as a GGUF {@code gpt2} tokenizer (tokens, "a b" merges, pre-tokenizer
     * {@code llama-bpe}: llama.cpp's spelling of the fixture's split regex) gives the same ids.
     */
    @Test
    void ggufGpt2VocabularyMatchesTokenizerJson() throws Exception {
        Path file = SharedFixtures.locate("fixtures/hf/tokenizers/bytelevel-bpe/tokenizer.json");
        JsonNode root = JSON.readTree(Files.readString(file));
        int n = root.path("model").path("vocab").size();
        String[] tokens = new String[n];
        int[] types = new int[n];
        for (Map.Entry<String, JsonNode> e : root.path("model").path("vocab").properties()) {
            tokens[e.getValue().asInt()] = e.getKey();
            types[e.getValue().asInt()] = SentencePieceTokenizer.NORMAL;
        }
        for (JsonNode a : root.path("added_tokens")) {
            tokens[a.get("id").asInt()] = a.get("content").asText();
            types[a.get("id").asInt()] = SentencePieceTokenizer.CONTROL;
        }
        List<String> merges = new ArrayList<>();
        root.path("model").path("merges").forEach(m -> merges.add(m.isArray() ? m.get(0).asText() + " " + m.get(1).asText()
                : m.asText()));
        Tokenizer gguf = BpeTokenizer.fromGguf(tokens, types, merges.toArray(String[]::new),
                GgufPreType.forName("llama-bpe", "test"), 0, 1, true, "test");
        JsonNode cases = JSON.readTree(Files.readString(file.resolveSibling("encodings.json"))).get("cases");
        for (JsonNode c : cases) {
            assertArrayEquals(ints(c.get("ids")), gguf.encode(c.get("text").asText()), c.get("text").asText());
        }
    }

    /** decode(encode(s)) == s for random strings of ASCII, Latin, CJK, emoji and whitespace. */
    @Test
    void decodeOfEncodeIsTheIdentity() throws Exception {
        SplittableRandom r = new SplittableRandom(42);
        int[][] ranges = {{0x20, 0x7E}, {0xA0, 0x17F}, {0x4E00, 0x4FFF}, {0x1F600, 0x1F64F}, {0x0400, 0x04FF}, {'\n', '\n'}};
        for (Tokenizer t : new Tokenizer[] {storiesGguf(), storiesBin(), byteLevel()}) {
            for (int trial = 0; trial < 300; trial++) {
                StringBuilder b = new StringBuilder();
                int len = r.nextInt(40);
                for (int i = 0; i < len; i++) {
                    int[] range = ranges[r.nextInt(ranges.length)];
                    b.appendCodePoint(r.nextInt(range[0], range[1] + 1));
                }
                String s = b.toString();
                int[] ids = t.encode(s, false, false);
                assertEquals(s, t.decode(ids), "round trip of '" + s + "'");
                StreamingDecoder d = t.streamingDecoder(false);
                StringBuilder streamed = new StringBuilder();
                for (int id : ids) {
                    String piece = d.accept(id);
                    assertTrue(piece.chars().noneMatch(c -> c == 0xFFFD), "a streamed piece split a character: " + piece);
                    streamed.append(piece);
                }
                assertEquals(s, streamed.append(d.flush()).toString(), "streamed round trip of '" + s + "'");
            }
        }
    }

    /** Lone surrogates and characters outside every vocabulary never throw. */
    @Test
    void hostileTextFollowsTheTokenizersRules() throws Exception {
        String nasty = "a\uD800b\uDC00\uFFFF\u0000" + "\uDBFF\uDFFF";
        for (Tokenizer t : new Tokenizer[] {storiesGguf(), storiesBin(), byteLevel()}) {
            int[] ids = t.encode(nasty, true, true);
            assertTrue(ids.length > 2);
            assertTrue(t.decode(ids).contains("\uFFFD"));
        }
    }
}
