package dev.longctx.models.session;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.HeadWindows;
import dev.longctx.kvcache.KvCacheFullException;
import dev.longctx.kvcache.SnapKvPolicy;
import dev.longctx.models.Model;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.tokenizer.Tokenizer;
import dev.longctx.models.tokenizer.Tokenizers;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Sessions on stories260K: greedy output as llama.cpp's, every strategy, budgets, forks, concurrency, misuse. */
class SessionTest {
    private static Model model;
    private static Tokenizer tokenizer;
    private static JsonNode greedy;
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(2));

    @BeforeAll
    static void open() throws Exception {
        model = Model.open(SharedFixtures.locate("fixtures/stories260k/stories260K.gguf"));
        tokenizer = model.tokenizer();
        greedy = new ObjectMapper().readTree(Files.readString(SharedFixtures.locate("fixtures/stories260k/reference/greedy.json")))
                .get("cases");
    }

    @AfterAll
    static void close() throws Exception {
        model.close();
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    private static Session.Builder session(Strategy s) {
        return Session.builder(model.weights()).tokenizer(tokenizer).strategy(s).kvType(DType.F32).pageSize(16).chunkSize(7)
                .ops(OPS);
    }

    /** llama.cpp ran 64 tokens with no stop id. */
    private static final GenerateOptions SIXTY_FOUR = GenerateOptions.greedy(64).withStopIds(List.of());

    /** All three prompts: ids and text exactly as llama.cpp's greedy run (prompt encoded by our tokenizer). */
    @Test
    void fullCacheGreedyMatchesLlamaCpp() {
        for (JsonNode c : greedy) {
            int[] prompt = tokenizer.encode(c.get("prompt").asText());
            assertArrayEquals(ints(c.get("prompt_ids")), prompt);
            StringBuilder streamed = new StringBuilder();
            try (Session s = session(new Strategy.Full()).budgetTokens(256).build()) {
                Generation g = s.generate(prompt, SIXTY_FOUR, (id, text) -> streamed.append(text));
                assertArrayEquals(ints(c.get("generated_ids")), g.outputIds(), c.get("prompt").asText());
                assertEquals(c.get("continuation_text").asText(), g.text());
                assertEquals(g.text(), streamed.toString());
                assertEquals(FinishReason.LENGTH, g.finishReason());
            }
        }
    }

    /** The llama2.c checkpoint with tok512.bin gives the same greedy ids. */
    @Test
    void llama2cCheckpointGreedyMatchesLlamaCpp() throws Exception {
        try (Model bin = Model.open(SharedFixtures.locate("fixtures/stories260k/stories260K.bin"))) {
            Tokenizer tok = Tokenizers.fromLlama2c(SharedFixtures.locate("fixtures/stories260k/tok512.bin"), 512);
            for (JsonNode c : greedy) {
                try (Session s = Session.builder(bin.weights()).tokenizer(tok).kvType(DType.F32).ops(OPS).budgetTokens(128).build()) {
                    Generation g = s.generate(tok.encode(c.get("prompt").asText()), SIXTY_FOUR, null);
                    assertArrayEquals(ints(c.get("generated_ids")), g.outputIds());
                }
            }
        }
    }

    private static List<Strategy> everyStrategy() {
        HeadProfile half = halfRetrievalProfile();
        return List.of(new Strategy.Streaming(0, 0), new Strategy.H2o(0, 0), new Strategy.SnapKv(0, 0), new Strategy.Quest(0),
                new Strategy.TidalDecode(0, 0, 0), new Strategy.Recycled(0, 0), new Strategy.SirLlm(0, 0, 0, 0),
                new Strategy.SirLlm(2, 0, 8, 0.9), new Strategy.InfLlm(), new Strategy.LongHeads(0, 0, 0),
                new Strategy.SinkCalibration(SinkHeads.all(), 0, 1), // beta 1: exact (its own test covers beta < 1)
                new Strategy.SparsePrefill(), new Strategy.SparsePrefill(Strategy.SparsePrefill.Estimator.A_SHAPE),
                new Strategy.RetrievalHeads(half, 0, 0), new Strategy.ThinK(new Strategy.SnapKv(0, 0), 0, 0),
                new Strategy.ThinK(new Strategy.Full(), 0, 0), new Strategy.ThinK(new Strategy.H2o(0, 0), 0, 0),
                new Strategy.Moa(HeadWindows.uniform(model.config().layers(), model.config().kvHeads(), 4, 1, 1.0)),
                new Strategy.SparsePrefill(Strategy.SparsePrefill.Estimator.HIP),
                new Strategy.SparsePrefill(Strategy.SparsePrefill.Estimator.HIP_TOKEN),
                new Strategy.SparsePrefill(Strategy.SparsePrefill.Estimator.HYPER_ATTENTION),
                new Strategy.Squeezed(1.0, 0, 0, 0, 0)); // every cluster kept: exact (its own test covers fewer)
    }

    /**
     * MoA's windows are a function of position only, so the prefill chunk size does not change the
     * text; its heads hold fewer pages than the full cache's, and the name needs a profile.
     */
    @Test
    void moaIsChunkInvariantAndHoldsItsWindows() {
        JsonNode c = greedy.get(1);
        int[] prompt = ints(c.get("prompt_ids"));
        int layers = model.config().layers();
        int kv = model.config().kvHeads();
        long[][] alpha = new long[layers][kv];
        double[][] beta = new double[layers][kv];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kv; h++) {
                alpha[l][h] = 16 + 16L * ((l + h) % 2);
                beta[l][h] = l == layers - 1 ? 1.0 : 0.125 * (h % 2);
            }
        }
        Strategy moa = new Strategy.Moa(new HeadWindows(4, alpha, beta));
        int[][] out = new int[2][];
        long[] held = new long[2];
        int[] chunks = {7, 64};
        for (int i = 0; i < 2; i++) {
            try (Session s = session(moa).chunkSize(chunks[i]).budgetTokens(prompt.length + 64 + 32).build()) {
                out[i] = s.generate(prompt, SIXTY_FOUR, null).outputIds();
                held[i] = s.kvBytesInUse();
            }
        }
        assertArrayEquals(out[0], out[1], "chunks of 7 and 64 give the same text");
        try (Session s = session(new Strategy.Full()).budgetTokens(prompt.length + 64 + 32).build()) {
            s.generate(prompt, SIXTY_FOUR, null);
            assertTrue(held[0] < s.kvBytesInUse(), "moa holds " + held[0] + " bytes, full " + s.kvBytesInUse());
        }
        var e = assertThrows(IllegalArgumentException.class, () -> Strategy.parse("moa"));
        assertTrue(e.getMessage().contains("MoA profile"), e.getMessage());
    }

    @Test
    void sparsePrefillEstimatorsByName() {
        assertEquals(new Strategy.SparsePrefill(), Strategy.parse("sparse-prefill"));
        assertEquals(new Strategy.SparsePrefill(), Strategy.parse("minference"));
        for (Strategy.SparsePrefill.Estimator e : Strategy.SparsePrefill.Estimator.values()) {
            Strategy s = new Strategy.SparsePrefill(e);
            assertEquals(s, Strategy.parse(s.name()), s.name());
        }
        assertEquals(new Strategy.SparsePrefill(), Strategy.parse("sparse-prefill:vertical-slash"));
        assertEquals("sparse-prefill:top-k", Strategy.parse("Sparse-Prefill:Top-K").name());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Strategy.parse("sparse-prefill:dense"));
        assertTrue(e.getMessage().contains("unknown sparse-prefill estimator 'dense'")
                && e.getMessage().contains("vertical-slash, a-shape, top-k"), e.getMessage());
    }

    /** Top-k blocks keeps a few of the 19 pages a 300-token prompt fills: the prefill really is sparse. */
    @Test
    void topKSparsePrefillDropsBlocks() {
        int[] prompt = new int[300];
        for (int i = 0; i < prompt.length; i++) {
            prompt[i] = 1 + (i * 37) % (model.config().vocabSize() - 1);
        }
        float[] exact;
        try (Session s = session(new Strategy.Full()).budgetTokens(prompt.length + 1).build()) {
            exact = s.prefill(prompt, null);
        }
        try (Session s = session(new Strategy.SparsePrefill(Strategy.SparsePrefill.Estimator.TOP_K_BLOCKS))
                .budgetTokens(prompt.length + 1).build()) {
            float[] sparse = s.prefill(prompt, null);
            double diff = 0;
            for (int i = 0; i < exact.length; i++) {
                assertTrue(Float.isFinite(sparse[i]), "finite logits");
                diff = Math.max(diff, Math.abs(exact[i] - sparse[i]));
            }
            assertTrue(diff > 1e-3, "dropped blocks change the logits, max diff " + diff);
        }
    }

    /** Even KV heads retrieval, odd ones streaming. */
    private static HeadProfile halfRetrievalProfile() {
        var c = model.config();
        float[][] scores = new float[c.layers()][c.kvHeads()];
        for (int l = 0; l < c.layers(); l++) {
            for (int h = 0; h < c.kvHeads(); h++) {
                scores[l][h] = h % 2 == 0 ? 1f : 0f;
            }
        }
        return HeadProfile.byThreshold(scores, 0.5f);
    }

    /** With a budget covering the whole context, every strategy reproduces the full cache's greedy output exactly. */
    @Test
    void everyStrategyWithABudgetCoveringTheContextIsExact() {
        JsonNode c = greedy.get(1);
        int[] prompt = ints(c.get("prompt_ids"));
        for (Strategy s : everyStrategy()) {
            try (Session session = session(s).budgetTokens(prompt.length + 64 + 32).build()) {
                Generation g = session.generate(prompt, SIXTY_FOUR, null);
                assertArrayEquals(ints(c.get("generated_ids")), g.outputIds(), s.name());
            }
        }
    }

    /**
     * Tight budgets (32 tokens per head against a 128-token prompt plus 64 generated): every evicting
     * strategy runs to completion inside its pool; those that keep every token refuse up front.
     */
    @Test
    void tightBudgetsRunToCompletionOrRefuseUpFront() throws Exception {
        JsonNode story = new ObjectMapper().readTree(Files.readString(
                SharedFixtures.locate("fixtures/stories260k/reference/logits_llamacpp.json"))).get("token_ids");
        int[] prompt = ints(story);
        for (Strategy s : everyStrategy()) {
            try (Session session = session(s).budgetTokens(32).build()) {
                if (s.keepsEveryToken()) {
                    var e = assertThrows(ContextBudgetException.class, () -> session.generate(prompt, SIXTY_FOUR, null), s.name());
                    assertTrue(e.getMessage().contains("streaming, h2o, snapkv"), e.getMessage());
                    assertEquals(0, session.position(), "refused before any work");
                    continue;
                }
                long[] peak = {0};
                Generation g = session.generate(prompt, SIXTY_FOUR, (id, t) -> peak[0] = Math.max(peak[0], session.kvBytesInUse()));
                assertEquals(64, g.outputIds().length, s.name());
                assertTrue(peak[0] <= session.kvBudgetBytes(), s.name() + ": " + peak[0] + " > " + session.kvBudgetBytes());
            }
        }
    }

    /** Budgets in bytes: the largest token budget that fits, and a clear error when nothing fits. */
    @Test
    void byteBudgetsAndProtectedSets() {
        try (Session s = session(new Strategy.Streaming(4, 0)).budgetBytes(200_000).build()) {
            assertTrue(s.budgetTokens() > 4 && s.kvBudgetBytes() == 200_000, s.budgetTokens() + " tokens");
            assertTrue(s.strategy() instanceof Strategy.Streaming st && st.window() == s.budgetTokens() - 4);
        }
        var e = assertThrows(ContextBudgetException.class, () -> session(new Strategy.Streaming(4, 100)).budgetTokens(50).build());
        assertTrue(e.getMessage().contains("sinks 4 + window 100"), e.getMessage());
        assertThrows(ContextBudgetException.class, () -> session(new Strategy.H2o(0, 0)).budgetBytes(1000).build());
        var tooLong = assertThrows(ContextBudgetException.class, () -> {
            try (Session s = session(new Strategy.Full()).build()) {
                s.prefill(new int[3000], null);
            }
        });
        assertTrue(tooLong.getMessage().contains("context length of 2048"), tooLong.getMessage());
    }

    /** Two sessions one after the other and at the same time each give what they give alone; a fork continues like its parent. */
    @Test
    void sessionsAreIndependentAndForksShareTheirPrefix() throws Exception {
        int[] a = ints(greedy.get(0).get("prompt_ids"));
        int[] b = ints(greedy.get(2).get("prompt_ids"));
        int[] aloneA;
        int[] aloneB;
        try (Session s = session(new Strategy.H2o(0, 0)).budgetTokens(48).build()) {
            aloneA = s.generate(a, SIXTY_FOUR, null).outputIds();
        }
        try (Session s = session(new Strategy.H2o(0, 0)).budgetTokens(48).build()) {
            aloneB = s.generate(b, SIXTY_FOUR, null).outputIds();
        }
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<int[]>> runs = new ArrayList<>();
            for (int[] p : new int[][] {a, b, a, b}) {
                runs.add(pool.submit(() -> {
                    try (Session s = session(new Strategy.H2o(0, 0)).budgetTokens(48).build()) {
                        return s.generate(p, SIXTY_FOUR, null).outputIds();
                    }
                }));
            }
            for (int i = 0; i < runs.size(); i++) {
                assertArrayEquals(i % 2 == 0 ? aloneA : aloneB, runs.get(i).get(), "concurrent session " + i);
            }
        } finally {
            pool.shutdown();
        }
        try (Session parent = session(new Strategy.Full()).budgetTokens(256).build()) {
            parent.prefill(java.util.Arrays.copyOf(a, a.length - 1), null);
            try (Session child = parent.fork()) {
                int[] last = {a[a.length - 1]};
                int[] fromChild = child.generate(last, SIXTY_FOUR, null).outputIds();
                int[] fromParent = parent.generate(last, SIXTY_FOUR, null).outputIds();
                assertArrayEquals(ints(greedy.get(0).get("generated_ids")), fromChild);
                assertArrayEquals(fromChild, fromParent);
            }
        }
    }

    /** A full-cache session forks under Quest (same cache) and continues exactly; evicting strategies cannot. */
    @Test
    void forkUnderAnotherStrategyThatKeepsTheCache() {
        int[] prompt = ints(greedy.get(2).get("prompt_ids"));
        try (Session full = session(new Strategy.Full()).budgetTokens(256).build()) {
            full.prefill(java.util.Arrays.copyOf(prompt, prompt.length - 1), null);
            try (Session quest = full.fork(new Strategy.Quest(0))) {
                assertTrue(quest.strategy() instanceof Strategy.Quest);
                int[] out = quest.generate(new int[] {prompt[prompt.length - 1]}, SIXTY_FOUR, null).outputIds();
                assertArrayEquals(ints(greedy.get(2).get("generated_ids")), out);
            }
            assertThrows(IllegalArgumentException.class, () -> full.fork(new Strategy.Streaming(0, 0)));
        }
    }

    /**
     * SnapKV forks a full-cache prefill: the fork's first chunk (the prompt's last tokens, more than
     * its window) votes over the shared prefix and keeps what a SnapKV session given the whole
     * prompt in one chunk keeps (same logits up to rounding, same greedy text, same pages); the
     * parent goes on as if there were no fork; a pool without room for the copies refuses it.
     */
    @Test
    void snapKvForksAFullPrefillAndSelectsAsInOneChunk() {
        int[] prompt = IntStream.concat(Arrays.stream(ints(greedy.get(0).get("prompt_ids"))),
                Arrays.stream(ints(greedy.get(0).get("generated_ids")))).toArray(); // 69 tokens of a story
        Strategy snap = new Strategy.SnapKv(24, 8, 0);
        int tail = 12; // the fork's first chunk: more than the window of 8
        GenerateOptions more = GenerateOptions.greedy(32).withStopIds(List.of());
        float[] oneChunkLogits;
        int[] oneChunkText;
        long oneChunkBytes;
        try (Session s = session(snap).budgetTokens(24).chunkSize(prompt.length).build()) {
            oneChunkLogits = s.prefill(prompt, null);
            oneChunkBytes = s.kvBytesInUse();
            oneChunkText = s.generate(new int[] {OPS.argmax(oneChunkLogits, 0, oneChunkLogits.length)}, more, null).outputIds();
        }
        int[] fullText;
        try (Session s = session(new Strategy.Full()).budgetTokens(256).build()) {
            fullText = s.generate(prompt, more, null).outputIds();
        }
        assertTrue(!Arrays.equals(fullText, oneChunkText), "24 of 69 tokens per head should change the text");
        // the fork prefills in the parent's chunks, and a SnapKV chunk selects: one chunk must hold the tail
        try (Session full = session(new Strategy.Full()).budgetTokens(256).chunkSize(16).build()) {
            full.prefill(Arrays.copyOf(prompt, prompt.length - tail), null);
            long parentBytes = full.kvBytesInUse();
            try (Session f = full.fork(snap)) {
                assertEquals(new Strategy.SnapKv(24, 8, SnapKvPolicy.DEFAULT_KERNEL), f.strategy());
                float[] logits = f.prefill(Arrays.copyOfRange(prompt, prompt.length - tail, prompt.length), null);
                for (int i = 0; i < logits.length; i++) {
                    assertEquals(oneChunkLogits[i], logits[i], 1e-4, "logit " + i);
                }
                assertEquals(oneChunkBytes, f.kvBytesInUse(), "the fork holds the pages the one-chunk session holds");
                assertArrayEquals(oneChunkText, f.generate(new int[] {OPS.argmax(logits, 0, logits.length)}, more, null).outputIds());
            }
            assertEquals(parentBytes, full.kvBytesInUse(), "the parent's pages are its own again");
            int[] rest = Arrays.copyOfRange(prompt, prompt.length - tail, prompt.length);
            assertArrayEquals(fullText, full.generate(rest, more, null).outputIds(), "the parent continues as a full cache");
            assertThrows(IllegalArgumentException.class, () -> full.fork(new Strategy.H2o(0, 0)));
            IllegalArgumentException noCapacity = assertThrows(IllegalArgumentException.class, () -> full.fork(new Strategy.SnapKv(0, 8)));
            assertTrue(noCapacity.getMessage().contains("needs SnapKV's capacity"), noCapacity.getMessage());
            assertThrows(IllegalArgumentException.class, () -> full.fork(new Strategy.ThinK(snap, 0, 0)));
        }
        try (Session tight = session(new Strategy.Full()).budgetTokens(prompt.length).chunkSize(16).build()) {
            int[] head = Arrays.copyOf(prompt, prompt.length - tail);
            tight.prefill(head, null);
            long before = tight.kvBytesInUse();
            try (Session f = tight.fork(snap)) {
                assertThrows(KvCacheFullException.class,
                        () -> f.prefill(Arrays.copyOfRange(prompt, prompt.length - tail, prompt.length), null));
            }
            assertEquals(before, tight.kvBytesInUse(), "a refused fork leaves the parent's pages as they were");
        }
        try (Session snapParent = session(snap).budgetTokens(24).build()) {
            assertThrows(IllegalArgumentException.class, () -> snapParent.fork(new Strategy.Full()));
        }
    }

    /**
     * TidalDecode and Recycled Attention fork a full-cache prefill like Quest; with a small selection
     * they really attend fewer keys (their greedy text leaves the full cache's), and by name they parse.
     */
    @Test
    void tidalAndRecycledForkAFullPrefillAndSelect() {
        int[] prompt = ints(greedy.get(2).get("prompt_ids"));
        assertEquals(new Strategy.TidalDecode(0, 0, 0), Strategy.parse("tidal"));
        assertEquals(new Strategy.Recycled(0, 0), Strategy.parse("Recycled"));
        assertThrows(IllegalArgumentException.class, () -> new Strategy.TidalDecode(0, 1.5, 0));
        assertEquals(new Strategy.TidalDecode(0, 0.5, 0.875), Strategy.parse("tidal:0.5:0.875"));
        assertEquals(new Strategy.Recycled(0, 4), Strategy.parse("recycled:4"));
        assertEquals(new Strategy.SirLlm(0, 0, 16, 0.9), Strategy.parse("sirllm:0.9:16"));
        assertThrows(IllegalArgumentException.class, () -> Strategy.parse("tidal:x"));
        assertThrows(IllegalArgumentException.class, () -> Strategy.parse("h2o:3"));
        try (Session full = session(new Strategy.Full()).budgetTokens(256).build()) {
            full.prefill(java.util.Arrays.copyOf(prompt, prompt.length - 1), null);
            int[] last = {prompt[prompt.length - 1]};
            for (Strategy covering : List.of(new Strategy.TidalDecode(0, 0, 0), new Strategy.Recycled(0, 3))) {
                try (Session f = full.fork(covering)) {
                    assertArrayEquals(ints(greedy.get(2).get("generated_ids")), f.generate(last, SIXTY_FOUR, null).outputIds(),
                            covering.name());
                }
            }
            for (Strategy sparse : List.of(new Strategy.TidalDecode(2, 0.2, 0.6), new Strategy.Recycled(2, 16))) {
                try (Session f = full.fork(sparse)) {
                    int[] out = f.generate(last, SIXTY_FOUR, null).outputIds();
                    assertEquals(64, out.length);
                    assertTrue(!java.util.Arrays.equals(ints(greedy.get(2).get("generated_ids")), out),
                            sparse + " with 2 keys per head should leave the full cache's text");
                }
            }
        }
    }

    /**
     * InfLLM with units actually formed (a 16-token window, units of 5): retrieving every unit is the
     * full cache's greedy text, two units of one representative leave it; a fork carries the memory
     * on; by name it parses.
     */
    @Test
    void infLlmRetrievingEveryUnitIsExactAndFewUnitsSelect() {
        assertEquals(new Strategy.InfLlm(), Strategy.parse("InfLLM"));
        assertEquals(new Strategy.InfLlm(0, 0, 0, 0, 8, 2), Strategy.parse("infllm:8:2"));
        assertThrows(IllegalArgumentException.class, () -> new Strategy.InfLlm(0, -1, 0, 0, 0, 0));
        JsonNode c = greedy.get(2);
        int[] prompt = ints(c.get("prompt_ids"));
        int[] want = ints(c.get("generated_ids"));
        try (Session s = session(new Strategy.InfLlm(0, 3, 16, 5, 1000, 4)).budgetTokens(256).build()) {
            assertArrayEquals(want, s.generate(prompt, SIXTY_FOUR, null).outputIds(), "every unit retrieved");
        }
        // the key-bound variant: by name, and every unit retrieved is the full text too
        assertEquals(new Strategy.InfLlm(0, 0, 0, 0, 0, 0, true), Strategy.parse("infllm-bound"));
        assertEquals("infllm-bound", Strategy.parse("infllm-bound").name());
        try (Session s = session(new Strategy.InfLlm(0, 3, 16, 5, 1000, 4, true)).budgetTokens(256).build()) {
            assertArrayEquals(want, s.generate(prompt, SIXTY_FOUR, null).outputIds(), "every unit retrieved (infllm-bound)");
        }
        int[] sparse;
        try (Session s = session(new Strategy.InfLlm(0, 1, 8, 4, 2, 1)).budgetTokens(256).build()) {
            sparse = s.generate(prompt, SIXTY_FOUR, null).outputIds();
            assertEquals(64, sparse.length);
            assertTrue(!java.util.Arrays.equals(want, sparse), "two units of 4 beside an 8-token window should leave the full text");
        }
        // a fork carries its own copy of the memory: after 32 generated tokens, parent and fork continue alike
        try (Session s = session(new Strategy.InfLlm(0, 1, 8, 4, 2, 1)).budgetTokens(256).build()) {
            assertArrayEquals(java.util.Arrays.copyOf(sparse, 32),
                    s.generate(prompt, GenerateOptions.greedy(32).withStopIds(List.of()), null).outputIds());
            try (Session f = s.fork()) {
                GenerateOptions more = GenerateOptions.greedy(40).withStopIds(List.of());
                int[] parent = s.generate(new int[] {sparse[31]}, more, null).outputIds();
                assertArrayEquals(parent, f.generate(new int[] {sparse[31]}, more, null).outputIds(), "fork");
            }
        }
    }

    /**
     * LongHeads with chunks actually selected (chunks of 4): selecting every chunk is the full cache's
     * greedy text, 3 chunks per head leave it; a fork carries the representations on; by name it parses.
     */
    @Test
    void longHeadsSelectingEveryChunkIsExactAndFewChunksSelect() {
        assertEquals(new Strategy.LongHeads(0, 0, 0), Strategy.parse("LongHeads"));
        assertEquals(new Strategy.LongHeads(0, 0, 8), Strategy.parse("longheads:8"));
        assertThrows(IllegalArgumentException.class, () -> new Strategy.LongHeads(0, 0, 2));
        assertThrows(IllegalArgumentException.class, () -> Strategy.parse("longheads:x"));
        JsonNode c = greedy.get(2);
        int[] prompt = ints(c.get("prompt_ids"));
        int[] want = ints(c.get("generated_ids"));
        try (Session s = session(new Strategy.LongHeads(0, 4, 1000)).budgetTokens(256).build()) {
            assertArrayEquals(want, s.generate(prompt, SIXTY_FOUR, null).outputIds(), "every chunk selected");
        }
        int[] sparse;
        try (Session s = session(new Strategy.LongHeads(0, 4, 3)).budgetTokens(256).build()) {
            sparse = s.generate(prompt, SIXTY_FOUR, null).outputIds();
            assertEquals(64, sparse.length);
            assertTrue(!java.util.Arrays.equals(want, sparse), "3 chunks of 4 per head should leave the full text");
        }
        // a fork carries its own copy of the representations: after 32 generated tokens, parent and fork continue alike
        try (Session s = session(new Strategy.LongHeads(0, 4, 5)).budgetTokens(256).build()) {
            int[] first = s.generate(prompt, GenerateOptions.greedy(32).withStopIds(List.of()), null).outputIds();
            try (Session f = s.fork()) {
                GenerateOptions more = GenerateOptions.greedy(40).withStopIds(List.of());
                int[] parent = s.generate(new int[] {first[31]}, more, null).outputIds();
                assertArrayEquals(parent, f.generate(new int[] {first[31]}, more, null).outputIds(), "fork");
            }
        }
    }

    /**
     * Squeezed Attention on a 150-token prompt (the three reference prompts, repeated): with every
     * cluster kept it is the full cache's greedy text, for the default fixed context (the prompt
     * less its last token) and for a given one of 100 tokens; 5 % of the fixed keys change it; a
     * fork carries the clusters on.
     */
    @Test
    void squeezedKeepingEveryClusterIsExactAndFewClustersSelect() {
        int[] prompt = new int[150];
        int n = 0;
        while (n < prompt.length) {
            for (JsonNode c : greedy) {
                for (int id : ints(c.get("prompt_ids"))) {
                    if (n < prompt.length) {
                        prompt[n++] = id;
                    }
                }
            }
        }
        int[] full;
        try (Session s = session(new Strategy.Full()).budgetTokens(256).build()) {
            full = s.generate(prompt, SIXTY_FOUR, null).outputIds();
        }
        for (Strategy every : List.of(new Strategy.Squeezed(1.0, 0, 0, 4, 0), new Strategy.Squeezed(1.0, 0, 100, 4, 0))) {
            try (Session s = session(every).budgetTokens(256).build()) {
                assertArrayEquals(full, s.generate(prompt, SIXTY_FOUR, null).outputIds(), every + ": every cluster kept");
            }
        }
        try (Session s = session(new Strategy.Squeezed(0.05, 0, 0, 4, 0)).budgetTokens(256).build()) {
            int[] sparse = s.generate(prompt, SIXTY_FOUR, null).outputIds();
            assertEquals(64, sparse.length);
            assertTrue(!java.util.Arrays.equals(full, sparse), "5 % of the fixed keys should leave the full text");
        }
        try (Session s = session(new Strategy.Squeezed(0.2, 0, 0, 4, 0)).budgetTokens(256).build()) {
            int[] first = s.generate(prompt, GenerateOptions.greedy(32).withStopIds(List.of()), null).outputIds();
            try (Session f = s.fork()) {
                GenerateOptions more = GenerateOptions.greedy(30).withStopIds(List.of());
                int[] parent = s.generate(new int[] {first[31]}, more, null).outputIds();
                assertArrayEquals(parent, f.generate(new int[] {first[31]}, more, null).outputIds(), "fork");
            }
        }
    }

    /**
     * Attention-sink calibration: with beta 1 it is the full cache's greedy text; calibrating every
     * head with beta 0.4 changes it (the sinks are found and scaled); names and head sets parse.
     */
    @Test
    void sinkCalibrationAtScaleOneIsExactAndChangesTheTextBelow() {
        assertEquals(new Strategy.SinkCalibration(SinkHeads.all(), 0, 0), Strategy.parse("sink-calib"));
        assertEquals(new Strategy.SinkCalibration(SinkHeads.of(new int[] {3, 1}, new int[] {0, 2}), 0, 0.5),
                Strategy.parse("sink-calib:3.1/0.2:0.5"));
        assertEquals("0.2/3.1", SinkHeads.parse("3.1/0.2/3.1").toString());
        assertEquals(SinkHeads.of(), SinkHeads.parse("none"));
        assertThrows(IllegalArgumentException.class, () -> Strategy.parse("sink-calib:3"));
        assertThrows(IllegalArgumentException.class, () -> new Strategy.SinkCalibration(SinkHeads.all(), 0, 1.5));
        assertThrows(IllegalArgumentException.class, () -> new Strategy.SinkCalibration(SinkHeads.all(), 1, 0));
        JsonNode c = greedy.get(2);
        int[] prompt = ints(c.get("prompt_ids"));
        int[] want = ints(c.get("generated_ids"));
        try (Session s = session(new Strategy.SinkCalibration(SinkHeads.all(), 0, 1)).budgetTokens(256).build()) {
            assertArrayEquals(want, s.generate(prompt, SIXTY_FOUR, null).outputIds(), "beta 1");
        }
        try (Session s = session(new Strategy.SinkCalibration(SinkHeads.all(), 0, 0.01)).budgetTokens(256).build()) {
            int[] calibrated = s.generate(prompt, SIXTY_FOUR, null).outputIds();
            assertTrue(!java.util.Arrays.equals(want, calibrated), "sinks scaled to 1 % should change stories260K's text");
        }
        try (Session s = session(new Strategy.SinkCalibration(SinkHeads.of(), 0, 0.01)).budgetTokens(256).build()) {
            assertArrayEquals(want, s.generate(prompt, SIXTY_FOUR, null).outputIds(), "no head calibrated");
        }
    }

    /** Stop ids and strings end generation; a closed session refuses work. */
    @Test
    void stopConditionsAndClosedSessions() {
        JsonNode c = greedy.get(0);
        int[] prompt = ints(c.get("prompt_ids"));
        int[] expected = ints(c.get("generated_ids"));
        try (Session s = session(new Strategy.Full()).budgetTokens(256).build()) {
            Generation g = s.generate(prompt, SIXTY_FOUR.withStopIds(List.of(expected[5])), null);
            assertEquals(FinishReason.EOS, g.finishReason());
            assertArrayEquals(java.util.Arrays.copyOf(expected, 6), g.outputIds());
        }
        try (Session s = session(new Strategy.Full()).budgetTokens(256).build()) {
            StringBuilder streamed = new StringBuilder();
            Generation g = s.generate(prompt, SIXTY_FOUR.withStopStrings(List.of("little girl")), (id, t) -> streamed.append(t));
            assertEquals(FinishReason.STOP_STRING, g.finishReason());
            assertEquals(", there was a ", g.text());
            assertEquals(g.text(), streamed.toString(), "the listener saw the text and no part of the stop string");
        }
        Session closed = session(new Strategy.Full()).budgetTokens(64).build();
        closed.close();
        closed.close();
        assertThrows(IllegalStateException.class, () -> closed.prefill(prompt, null));
        assertThrows(IllegalStateException.class, closed::fork);
    }
}
