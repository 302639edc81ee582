package dev.longctx.bench.ruler;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.ChatMessage;
import dev.longctx.models.Model;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.Arrays;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The Java task generator against {@code train.py}'s: instances recorded from the Python generator
 * (tools/ruler-eval/record_generator.py: its filler pool's states and every numpy draw in order)
 * are rebuilt by replaying those draws, and must be identical token for token, text for text.
 */
class RulerGeneratorTest {
    private static Model model;
    private static RulerSpec spec;

    /** tools/retrieval-model/model, found above the working directory. */
    static Path modelDir() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path m = dir.resolve("tools/retrieval-model/model");
            if (Files.isDirectory(m)) {
                return m;
            }
        }
        return fail("tools/retrieval-model/model not found");
    }

    @BeforeAll
    static void load() throws Exception {
        model = Model.open(modelDir().resolve("retrieval-16k.gguf"));
        spec = RulerSpec.load(modelDir().resolve("tasks.json"), model.tokenizer());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** Replays recorded numpy draws, checking that each call asks for the same kind and range. */
    private static final class Replay implements RandomSource {
        final Deque<JsonNode> draws = new ArrayDeque<>();

        @Override
        public long integers(long lo, long hi) {
            JsonNode d = next("integers");
            assertEquals(d.get(1).asLong(), lo, "integers lo");
            assertEquals(d.get(2).asLong(), hi, "integers hi");
            return d.get(3).asLong();
        }

        @Override
        public double random() {
            return next("random").get(1).asDouble();
        }

        @Override
        public int[] choice(int n, int size) {
            JsonNode d = next("choice");
            assertEquals(d.get(1).asInt(), n, "choice n");
            assertEquals(d.get(2).asInt(), size, "choice size");
            return ints(d.get(3));
        }

        @Override
        public int[] permutation(int n) {
            JsonNode d = next("permutation");
            assertEquals(d.get(1).asInt(), n, "permutation n");
            return ints(d.get(2));
        }

        private JsonNode next(String kind) {
            JsonNode d = draws.poll();
            assertTrue(d != null, "no recorded draw left for " + kind);
            assertEquals(kind, d.get(0).asText(), "draw kind");
            return d;
        }
    }

    static int[] ints(JsonNode a) {
        int[] v = new int[a.size()];
        for (int i = 0; i < v.length; i++) {
            v[i] = a.get(i).asInt();
        }
        return v;
    }

    @Test
    void replayedDrawsGivePythonsInstances() throws Exception {
        JsonNode doc;
        try (InputStream in = new GZIPInputStream(getClass().getResourceAsStream("generator-replay.json.gz"))) {
            doc = new ObjectMapper().readTree(in);
        }
        RulerGenerator gen = new RulerGenerator(spec, FillerPool.of(spec, ints(doc.get("pool_states"))));
        Replay replay = new Replay();
        doc.get("draws").forEach(replay.draws::add);
        int n = 0;
        for (JsonNode x : doc.get("instances")) {
            double depth = x.get("depth").isNull() ? Double.NaN : x.get("depth").asDouble();
            TaskInstance t = gen.instance(x.get("task").asText(), x.get("length").asInt(), depth, replay);
            String what = x.get("task").asText() + " at " + x.get("length").asInt();
            assertArrayEquals(ints(x.get("ids")), t.ids(), what);
            assertEquals(x.get("prompt_len").asInt(), t.promptLength(), what);
            assertEquals(x.get("user").asText(), t.user(), what);
            assertEquals(x.get("answer").asText(), t.answer(), what);
            assertEquals(x.get("drawn_depth").asDouble(), t.depth(), what);
            n++;
        }
        assertEquals(50, n);
        assertTrue(replay.draws.isEmpty(), replay.draws.size() + " recorded draws unused");
    }

    @Test
    void seededInstancesMatchTheTokenizerAndTheirLength() {
        RandomSource rnd = RandomSource.seeded(7);
        RulerGenerator gen = new RulerGenerator(spec, FillerPool.generate(spec, 60_000, rnd));
        for (String task : RulerGenerator.TASKS) {
            for (int length : new int[] {256, 1000}) {
                TaskInstance t = gen.instance(task, length, 0.5, rnd);
                assertEquals(length, t.length());
                assertArrayEquals(model.encodeChat(List.of(new ChatMessage("user", t.user()))), t.prompt(), task);
                assertTrue(t.neededStarts().length > 0, task);
                // the document ends where the question begins (the prompt ends with end-of-text, assistant, newline)
                String q = model.tokenizer().decode(Arrays.copyOfRange(t.ids(), t.questionStart(), t.promptLength() - 3));
                assertTrue(q.startsWith("\n\nQuestion: ") && t.user().endsWith(q), task + ": " + q);
                for (int n : t.neededEnds()) {
                    assertTrue(n <= t.questionStart(), task + ": needles lie in the document");
                }
            }
        }
    }
}
