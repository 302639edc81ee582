package dev.longctx.models.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.sampling.SamplerConfig;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.HeadWindows;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.models.Model;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.FinishReason;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The serving engine on stories260K (512-token context): batched requests against each run alone
 * in a {@link Session} with the same chunk size, prefix caching, preemption under a small KV
 * budget, cancellation, time limits, stop strings, metrics, and refused requests.
 */
class ServingEngineTest {
    static final int CHUNK = 32;
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(2));
    static Model model;

    @BeforeAll
    static void open() {
        model = Model.open(SharedFixtures.locate("fixtures/stories260k/stories260K.gguf"), Model.Options.defaults().withOps(OPS));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    /** A prompt of {@code n} tokens: BOS and a story's words, cycled. */
    static int[] prompt(int n, int salt) {
        int[] story = model.tokenizer().encode("Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                + "park with her friend Tom. One day, they saw a big red ball near the tree.");
        int[] p = new int[n];
        p[0] = story[0];
        for (int i = 1; i < n; i++) {
            p[i] = story[1 + (i * 7 + salt) % (story.length - 1)];
        }
        return p;
    }

    /** What a session alone generates for the same request. */
    static Generation alone(int[] prompt, GenerateOptions options, Strategy strategy, int budget) {
        try (Session s = model.session().strategy(strategy).budgetTokens(budget).chunkSize(CHUNK).build()) {
            return s.generate(prompt, options, null);
        }
    }

    static ServingEngine.Builder engine() {
        return ServingEngine.builder(model).chunkTokens(CHUNK).stepTokens(64).maxRunning(8).budgetBytes(64L << 20);
    }

    /**
     * Submits every request at once (greedy, 30 tokens, prompts salted from {@code salt}) and checks
     * each against the same request run alone in a Session; only prefix-cache pages stay in use.
     */
    private static void assertBatchedEqualsAlone(Strategy[] strategies, int[] lengths, int[] budgets, int salt) {
        GenerateOptions o = GenerateOptions.greedy(30).withStopIds(List.of());
        try (ServingEngine e = engine().build()) {
            List<RequestHandle> handles = new ArrayList<>();
            for (int i = 0; i < strategies.length; i++) {
                handles.add(e.submit(Request.tokens(prompt(lengths[i], salt + i)).options(o).strategy(strategies[i])
                        .budgetTokens(budgets[i]).build()));
            }
            for (int i = 0; i < strategies.length; i++) {
                Generation ref = alone(prompt(lengths[i], salt + i), o, strategies[i], budgets[i]);
                assertArrayEquals(ref.outputIds(), handles.get(i).join().outputIds(), "request " + i + " under " + strategies[i]);
            }
            EngineStats st = e.stats();
            assertEquals(st.pagesCached(), st.pagesUsed(), "only prefix-cache pages stay in use: " + st);
        }
    }

    @Test
    void batchedRequestsEqualEachRunAlone() {
        Strategy[] strategies = {new Strategy.Full(), new Strategy.Streaming(4, 0), new Strategy.H2o(0, 0), new Strategy.SnapKv(0, 16),
                new Strategy.Quest(32), new Strategy.Full(), new Strategy.Streaming(4, 0)};
        int[] lengths = {37, 150, 200, 96, 120, 1, 65};
        int[] budgets = {512, 64, 96, 80, 512, 512, 100};
        try (ServingEngine e = engine().build()) {
            List<RequestHandle> handles = new ArrayList<>();
            for (int i = 0; i < strategies.length; i++) {
                handles.add(e.submit(Request.tokens(prompt(lengths[i], i)).options(GenerateOptions.greedy(40 + 10 * i)
                        .withStopIds(List.of())).strategy(strategies[i]).budgetTokens(budgets[i]).build()));
            }
            for (int i = 0; i < strategies.length; i++) {
                Generation g = handles.get(i).join();
                Generation ref = alone(prompt(lengths[i], i), GenerateOptions.greedy(40 + 10 * i).withStopIds(List.of()),
                        strategies[i], budgets[i]);
                assertEquals(FinishReason.LENGTH, g.finishReason(), strategies[i].name());
                assertArrayEquals(ref.outputIds(), g.outputIds(), "request " + i + " under " + strategies[i].name());
                assertEquals(ref.text(), g.text());
            }
            EngineStats st = e.stats();
            assertTrue(st.steps() < st.decodeTokens(), "decode tokens were batched: " + st);
            assertEquals(0, st.running());
            assertEquals(st.pagesCached(), st.pagesUsed(), "only prefix-cache pages stay in use: " + st);
        }
    }

    /** TidalDecode and Recycled Attention (state per sequence, in its cache) batched with each other and the full cache. */
    @Test
    void tidalAndRecycledRequestsBatchedEqualEachRunAlone() {
        Strategy[] strategies = {new Strategy.TidalDecode(24, 0, 0), new Strategy.Recycled(24, 4), new Strategy.Full(),
                new Strategy.TidalDecode(24, 0.3, 0.6), new Strategy.Recycled(24, 4)};
        int[] lengths = {180, 150, 90, 200, 160};
        int[] budgets = {512, 512, 512, 512, 512};
        assertBatchedEqualsAlone(strategies, lengths, budgets, 10);
    }

    /** InfLLM (a memory per sequence and layer, in its cache) batched with the full cache and itself equals each run alone. */
    @Test
    void infLlmRequestsBatchedEqualEachRunAlone() {
        Strategy[] strategies = {new Strategy.InfLlm(0, 2, 24, 8, 3, 2), new Strategy.Full(), new Strategy.InfLlm(0, 4, 40, 5, 2, 1)};
        int[] lengths = {180, 120, 210};
        int[] budgets = {512, 512, 512};
        assertBatchedEqualsAlone(strategies, lengths, budgets, 20);
    }

    /**
     * SirLLM (every row's logits score the tokens' entropies, kept in the sequence's cache) batched
     * with the full cache and itself, evicting under a small budget, equals each run alone.
     */
    @Test
    void sirLlmRequestsBatchedEqualEachRunAlone() {
        Strategy[] strategies = {new Strategy.SirLlm(4, 0, 8, 0.9), new Strategy.Full(), new Strategy.SirLlm(2, 0, 0, 0.5),
                new Strategy.SirLlm(4, 0, 16, 1.0)};
        int[] lengths = {180, 120, 210, 150};
        int[] budgets = {64, 512, 80, 96};
        assertBatchedEqualsAlone(strategies, lengths, budgets, 30);
    }

    /** ThinK (channel masks per sequence, in its cache) over SnapKV and the full cache, batched with the full cache, equals each run alone. */
    @Test
    void thinkRequestsBatchedEqualEachRunAlone() {
        Strategy[] strategies = {new Strategy.ThinK(new Strategy.SnapKv(0, 0)), new Strategy.Full(),
                new Strategy.ThinK(new Strategy.Full(), 0.5, 8)};
        int[] budgets = {96, 512, 512};
        int[] lengths = {180, 120, 210};
        assertBatchedEqualsAlone(strategies, lengths, budgets, 30);
    }

    /** MoA (heterogeneous elastic windows, pages released per head) batched with the full cache equals each run alone. */
    @Test
    void moaRequestsBatchedEqualEachRunAlone() {
        ModelConfig c = model.config();
        long[][] alpha = new long[c.layers()][c.kvHeads()];
        double[][] beta = new double[c.layers()][c.kvHeads()];
        for (int l = 0; l < c.layers(); l++) {
            for (int h = 0; h < c.kvHeads(); h++) {
                alpha[l][h] = 8 + 13L * ((l + h) % 3);
                beta[l][h] = ((l * 7 + h) % 4) / 8.0;
            }
        }
        Strategy moa = new Strategy.Moa(new HeadWindows(2, alpha, beta));
        Strategy[] strategies = {moa, new Strategy.Full(), moa};
        int[] lengths = {180, 120, 230};
        int[] budgets = {512, 512, 512};
        assertBatchedEqualsAlone(strategies, lengths, budgets, 40);
    }

    /**
     * LongHeads (chunk representations per sequence and layer, in its cache) and attention-sink
     * calibration batched with the full cache and each other equal each run alone.
     */
    @Test
    void longHeadsRequestsBatchedEqualEachRunAlone() {
        Strategy[] strategies = {new Strategy.LongHeads(0, 8, 4), new Strategy.Full(), new Strategy.LongHeads(0, 5, 6),
            new Strategy.SinkCalibration(dev.longctx.models.session.SinkHeads.all(), 0, 0)};
        int[] lengths = {180, 120, 210, 150};
        int[] budgets = {512, 512, 512, 512};
        assertBatchedEqualsAlone(strategies, lengths, budgets, 30);
    }

    /**
     * Squeezed Attention (its fixed context's clusters per sequence and layer, in its cache) batched
     * with the full cache and each other equals each run alone: the default fixed context (the
     * prompt less its last token), a given one, and every cluster kept.
     */
    @Test
    void squeezedRequestsBatchedEqualEachRunAlone() {
        Strategy[] strategies = {new Strategy.Squeezed(0.2, 0, 0, 8, 0), new Strategy.Full(), new Strategy.Squeezed(0.1, 0, 100, 4, 0),
            new Strategy.Squeezed(1.0, 0, 0, 0, 0)};
        int[] lengths = {180, 120, 210, 150};
        int[] budgets = {512, 512, 512, 512};
        assertBatchedEqualsAlone(strategies, lengths, budgets, 40);
    }

    private static double squeezedIndexes(ServingEngine e, String source) {
        return e.meterRegistry().get("longctx.squeezed.index").tag("source", source).counter().count();
    }

    /**
     * Two Squeezed Attention requests on one 260-token document (its fixed context) with different
     * questions: the first prefills and clusters it; the second takes the document's four whole
     * blocks from the prefix cache and its clusters with them (no second clustering) and gives the
     * tokens it gives alone; a full-cache request shares the same blocks; a request with another
     * cluster size clusters again; no page is left behind but the cached blocks.
     */
    @Test
    void aCachedDocumentIsClusteredOnceForSqueezedRequests() {
        int[] doc = prompt(260, 11);
        int[] a = java.util.Arrays.copyOf(doc, 300);
        int[] b = java.util.Arrays.copyOf(doc, 290);
        for (int i = 260; i < a.length; i++) {
            a[i] = doc[(i * 5) % 200];
        }
        for (int i = 260; i < b.length; i++) {
            b[i] = doc[(i * 3 + 1) % 200];
        }
        Strategy sq = new Strategy.Squeezed(0.25, 0, 260, 8, 0);
        GenerateOptions o = GenerateOptions.greedy(30).withStopIds(List.of());
        try (ServingEngine e = engine().build()) {
            Generation ga = e.submit(Request.tokens(a).options(o).strategy(sq).build()).join();
            assertEquals(1, squeezedIndexes(e, "built"));
            assertEquals(0, squeezedIndexes(e, "prefix-cache"));
            long hitBefore = e.stats().prefixHitTokens();
            long prefillBefore = e.stats().prefillTokens();
            Generation gb = e.submit(Request.tokens(b).options(o).strategy(sq).build()).join();
            assertEquals(1, squeezedIndexes(e, "built"), "the second request did not cluster again");
            assertEquals(1, squeezedIndexes(e, "prefix-cache"));
            assertEquals(256, e.stats().prefixHitTokens() - hitBefore, "the document's four whole blocks were reused");
            assertEquals(290 - 256, e.stats().prefillTokens() - prefillBefore, "only the rest was prefilled");
            assertArrayEquals(alone(a, o, sq, 512).outputIds(), ga.outputIds(), "first request as alone");
            assertArrayEquals(alone(b, o, sq, 512).outputIds(), gb.outputIds(), "second request as alone");
            // the document's blocks are exact: a full-cache request shares them
            long hitFull = e.stats().prefixHitTokens();
            Generation gf = e.submit(Request.tokens(b).options(o).build()).join();
            assertEquals(256, e.stats().prefixHitTokens() - hitFull);
            assertArrayEquals(alone(b, o, new Strategy.Full(), 512).outputIds(), gf.outputIds());
            // other cluster settings: other clusters
            Strategy other = new Strategy.Squeezed(0.25, 0, 260, 16, 0);
            Generation go = e.submit(Request.tokens(a).options(o).strategy(other).build()).join();
            assertEquals(2, squeezedIndexes(e, "built"));
            assertArrayEquals(alone(a, o, other, 512).outputIds(), go.outputIds());
            EngineStats st = e.stats();
            assertEquals(st.pagesCached(), st.pagesUsed(), "only prefix-cache pages stay in use: " + st);
        }
    }

    @Test
    void aSharedPrefixSkipsItsPrefillAndGivesTheSameTokens() {
        int[] doc = prompt(300, 3);
        int[] a = doc.clone();
        int[] b = doc.clone();
        b[299] = doc[5]; // same first 299 tokens, another last one
        GenerateOptions o = GenerateOptions.greedy(30).withStopIds(List.of());
        try (ServingEngine e = engine().build()) {
            Generation ga = e.submit(Request.tokens(a).options(o).build()).join();
            long prefillAfterA = e.stats().prefillTokens();
            Generation gb = e.submit(Request.tokens(b).options(o).build()).join();
            EngineStats st = e.stats();
            assertEquals(256, st.prefixHitTokens(), "four full 64-token blocks of the prefix were reused: " + st);
            assertEquals(300 - 256, st.prefillTokens() - prefillAfterA, "only the rest was prefilled");
            assertArrayEquals(alone(a, o, new Strategy.Full(), 512).outputIds(), ga.outputIds());
            assertArrayEquals(alone(b, o, new Strategy.Full(), 512).outputIds(), gb.outputIds());
            // an evicting strategy neither reuses nor publishes
            Generation gc = e.submit(Request.tokens(a).options(o).strategy(new Strategy.Streaming(4, 0)).budgetTokens(128).build())
                    .join();
            assertEquals(256, e.stats().prefixHitTokens());
            assertArrayEquals(alone(a, o, new Strategy.Streaming(4, 0), 128).outputIds(), gc.outputIds());
        }
    }

    @Test
    void aSmallBudgetPreemptsAndEveryRequestStillFinishesWithItsTokens() {
        var c = model.config();
        long pageBytes = BlockPool.pageBytes(new KvLayout(c.layers(), c.kvHeads(), c.headDim(), KvLayout.DEFAULT_PAGE_SIZE,
                KvLayout.DEFAULT_DTYPE));
        int blockPages = c.layers() * c.kvHeads();
        // room for 9 blocks of 64 tokens over all layers and heads: one request of ~300 tokens fits (6 blocks), two do not
        long budget = 9L * blockPages * pageBytes;
        GenerateOptions o = GenerateOptions.greedy(120).withStopIds(List.of());
        try (ServingEngine e = engine().budgetBytes(budget).prefixCaching(false).build()) {
            List<RequestHandle> hs = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                hs.add(e.submit(Request.tokens(prompt(170, 10 + i)).options(o).build()));
            }
            // an H2O request is pinned: admitted with its bounded working set free, never preempted
            RequestHandle h2o = e.submit(Request.tokens(prompt(170, 20)).options(o).strategy(new Strategy.H2o(0, 0))
                    .budgetTokens(96).build());
            for (int i = 0; i < 3; i++) {
                Generation g = hs.get(i).join();
                assertEquals(FinishReason.LENGTH, g.finishReason());
                assertArrayEquals(alone(prompt(170, 10 + i), o, new Strategy.Full(), 512).outputIds(), g.outputIds(), "request " + i);
            }
            assertArrayEquals(alone(prompt(170, 20), o, new Strategy.H2o(0, 0), 96).outputIds(), h2o.join().outputIds(), "h2o");
            EngineStats st = e.stats();
            assertTrue(st.preemptions() > 0, "the budget forced preemption: " + st);
            assertEquals(0, st.pagesUsed(), "every page returned: " + st);
        }
    }

    @Test
    void cancellingEndsTheRequestAndFreesItsPages() throws Exception {
        try (ServingEngine e = engine().prefixCaching(false).build()) {
            RequestHandle[] h = new RequestHandle[1];
            CountDownLatch submitted = new CountDownLatch(1);
            List<Integer> seen = new ArrayList<>();
            h[0] = e.submit(Request.tokens(prompt(20, 1)).options(GenerateOptions.greedy(400).withStopIds(List.of()))
                    .listener((id, text) -> {
                        seen.add(id);
                        if (seen.size() == 5) {
                            try {
                                submitted.await();
                            } catch (InterruptedException ex) {
                                throw new IllegalStateException(ex);
                            }
                            h[0].cancel();
                        }
                    }).build());
            submitted.countDown();
            Generation g = h[0].join();
            assertEquals(FinishReason.CANCELLED, g.finishReason());
            assertTrue(g.outputIds().length >= 5 && g.outputIds().length < 400, "ended early: " + g.outputIds().length);
            assertEquals(0, e.stats().pagesUsed());
            // cancelling the future works the same way
            RequestHandle f = e.submit(Request.tokens(prompt(20, 2)).options(GenerateOptions.greedy(400).withStopIds(List.of()))
                    .build());
            f.result().cancel(false);
            assertTrue(f.cancelRequested());
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (e.stats().running() + e.stats().waiting() > 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertEquals(0, e.stats().pagesUsed());
        }
    }

    @Test
    void anAttentionBudgetCutsPrefillChunksAndKeepsTheTokens() {
        GenerateOptions o = GenerateOptions.greedy(20).withStopIds(List.of());
        int[] p = prompt(300, 7);
        try (ServingEngine e = engine().stepAttention(3000).build()) {
            Generation g = e.submit(Request.tokens(p).options(o).build()).join();
            assertArrayEquals(alone(p, o, new Strategy.Full(), 512).outputIds(), g.outputIds());
            // 300 prompt rows attending up to 300 keys each under 3000 key-rows per step: far more than 300 / 32 chunks
            assertTrue(e.stats().steps() > 40, "chunks were cut: " + e.stats());
            // an evicting strategy keeps its aligned chunks (they decide what it evicts)
            Generation h = e.submit(Request.tokens(p).options(o).strategy(new Strategy.Streaming(4, 0)).budgetTokens(128).build())
                    .join();
            assertArrayEquals(alone(p, o, new Strategy.Streaming(4, 0), 128).outputIds(), h.outputIds());
        }
        assertThrows(IllegalArgumentException.class, () -> engine().stepAttention(0));
    }

    @Test
    void anAttentionRatioCutsPrefillChunksOnlyWhileSequencesDecode() throws Exception {
        GenerateOptions longDecode = GenerateOptions.greedy(400).withStopIds(List.of());
        GenerateOptions o = GenerateOptions.greedy(10).withStopIds(List.of());
        int[] shortPrompt = prompt(12, 3);
        int[] p = prompt(300, 7);
        try (ServingEngine e = engine().stepAttentionRatio(1).build()) {
            // alone, nothing decodes: the prompt goes in whole chunks (300 / 32 -> 10 steps) and 10 decode steps
            Generation alone = e.submit(Request.tokens(p).options(o).build()).join();
            assertArrayEquals(alone(p, o, new Strategy.Full(), 512).outputIds(), alone.outputIds());
            long stepsAlone = e.stats().steps();
            assertTrue(stepsAlone < 40, "no decoder, no cut: " + e.stats());
            // with a sequence decoding (12-40 cached keys), each step's chunk may attend about as many keys:
            // one row per step once the prompt's own cache passes them, so far more steps than chunks
            CountDownLatch decoding = new CountDownLatch(1);
            RequestHandle d = e.submit(Request.tokens(shortPrompt).options(longDecode).listener((id, t) -> decoding.countDown()).build());
            assertTrue(decoding.await(60, TimeUnit.SECONDS));
            long before = e.stats().steps();
            int[] p2 = prompt(300, 8); // another prompt: p's pages are in the prefix cache now
            Generation g = e.submit(Request.tokens(p2).options(o).build()).join();
            assertArrayEquals(alone(p2, o, new Strategy.Full(), 512).outputIds(), g.outputIds(), "cut chunks keep the tokens");
            assertTrue(e.stats().steps() - before > 150, "chunks were cut while a sequence decoded: " + (e.stats().steps() - before));
            assertArrayEquals(alone(shortPrompt, longDecode, new Strategy.Full(), 512).outputIds(), d.join().outputIds());
        }
        assertThrows(IllegalArgumentException.class, () -> engine().stepAttentionRatio(0));
        assertThrows(IllegalArgumentException.class, () -> engine().stepAttentionRatio(Double.NaN));
    }

    @Test
    void aPassedTimeLimitEndsTheRequest() {
        try (ServingEngine e = engine().build()) {
            Generation g = e.submit(Request.tokens(prompt(20, 1)).options(GenerateOptions.greedy(50)).timeout(Duration.ofNanos(1))
                    .build()).join();
            assertEquals(FinishReason.TIMEOUT, g.finishReason());
            assertEquals(0, g.outputIds().length);
        }
    }

    @Test
    void streamedTextIsTheTextWithoutTheStopString() {
        try (ServingEngine e = engine().build()) {
            GenerateOptions free = GenerateOptions.greedy(60).withStopIds(List.of());
            Generation all = e.submit(Request.text("Once upon a time").options(free).build()).join();
            String text = all.text();
            assertTrue(text.length() > 20, text);
            String stop = text.substring(12, 17);
            StringBuilder streamed = new StringBuilder();
            Generation g = e.submit(Request.text("Once upon a time").options(free.withStopStrings(List.of(stop)))
                    .listener((id, t) -> streamed.append(t)).build()).join();
            assertEquals(FinishReason.STOP_STRING, g.finishReason());
            assertEquals(text.substring(0, text.indexOf(stop)), g.text());
            assertEquals(g.text(), streamed.toString(), "the listener saw exactly the text, no part of the stop string");
            StringBuilder whole = new StringBuilder();
            Generation h = e.submit(Request.text("Once upon a time").options(free).listener((id, t) -> whole.append(t)).build()).join();
            assertEquals(h.text(), whole.toString());
        }
    }

    @Test
    void seededSamplingIsReproducible() {
        GenerateOptions o = new GenerateOptions(40, SamplerConfig.sampling(42), List.of(), List.of());
        try (ServingEngine e = engine().build()) {
            Generation a = e.submit(Request.tokens(prompt(30, 4)).options(o).build()).join();
            Generation b = e.submit(Request.tokens(prompt(30, 4)).options(o).build()).join();
            assertArrayEquals(a.outputIds(), b.outputIds());
            assertArrayEquals(alone(prompt(30, 4), o, new Strategy.Full(), 512).outputIds(), a.outputIds());
        }
    }

    @Test
    void metricsCountTokensRequestsAndLatencies() {
        SimpleMeterRegistry registry = new SimpleMeterRegistry();
        try (ServingEngine e = engine().meterRegistry(registry).name("t").build()) {
            for (int i = 0; i < 3; i++) {
                e.submit(Request.tokens(prompt(40, i)).options(GenerateOptions.greedy(10).withStopIds(List.of())).build()).join();
            }
            assertEquals(30, registry.get("longctx.tokens").tag("phase", "decode").counter().count());
            assertEquals(120, registry.get("longctx.tokens").tag("phase", "prefill").counter().count());
            assertEquals(3, registry.get("longctx.ttft").timer().count());
            assertEquals(27, registry.get("longctx.itl").timer().count());
            assertEquals(3, registry.get("longctx.requests").tag("finish", "length").counter().count());
            assertEquals(0, registry.get("longctx.sequences.running").gauge().value());
            assertTrue(registry.get("longctx.kv.pages").tag("state", "free").gauge().value() > 0);
        }
        assertTrue(registry.find("longctx.tokens").meters().isEmpty(), "closing removes the engine's meters");
    }

    @Test
    void badRequestsAreRefusedWithAClearMessage() {
        try (ServingEngine e = engine().budgetBytes(60_000).build()) {
            assertThrows(IllegalArgumentException.class, () -> e.submit(Request.tokens(new int[0]).build()));
            var ex = assertThrows(IllegalArgumentException.class, () -> e.submit(Request.tokens(new int[] {1, 99999}).build()));
            assertTrue(ex.getMessage().contains("vocabulary"), ex.getMessage());
            var big = assertThrows(RequestRejectedException.class, () -> e.submit(Request.tokens(prompt(400, 1))
                    .options(GenerateOptions.greedy(100)).build()));
            assertEquals(RequestRejectedException.Reason.TOO_LARGE, big.reason());
            assertTrue(big.getMessage().contains("KV budget of 60000 bytes"), big.getMessage());
            int max = model.config().maxPositions();
            var tooLong = assertThrows(ContextBudgetException.class, () -> e.submit(Request.tokens(new int[max - 10])
                    .options(GenerateOptions.greedy(100)).build()));
            assertTrue(tooLong.getMessage().contains("longer than the model's context length of " + max), tooLong.getMessage());
            assertThrows(ContextBudgetException.class, () -> e.submit(Request.tokens(prompt(100, 1))
                    .options(GenerateOptions.greedy(100)).budgetTokens(150).build()));
            assertEquals(0, e.stats().pagesUsed());
            assertEquals(0, e.stats().waiting());
        }
        assertThrows(IllegalArgumentException.class, () -> engine().maxRunning(0));
        assertThrows(IllegalArgumentException.class, () -> engine().stepTokens(-1));
        assertThrows(IllegalArgumentException.class, () -> engine().budgetBytes(0));
        assertThrows(IllegalArgumentException.class, () -> Request.tokens(new int[] {1}).budgetTokens(0));
        assertThrows(IllegalArgumentException.class, () -> Request.tokens(new int[] {1}).timeout(Duration.ZERO));
    }

    @Test
    void aFullQueueRefusesAndClosingEndsEverythingInFlight() throws Exception {
        CountDownLatch started = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        ServingEngine e = engine().maxRunning(1).maxQueue(1).build();
        RequestHandle a = e.submit(Request.tokens(prompt(20, 1)).options(GenerateOptions.greedy(300).withStopIds(List.of()))
                .listener((id, t) -> {
                    started.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException ex) {
                        throw new IllegalStateException(ex);
                    }
                }).build());
        assertTrue(started.await(60, TimeUnit.SECONDS));
        RequestHandle b = e.submit(Request.tokens(prompt(20, 2)).build()); // waits: one runs at a time
        var full = assertThrows(RequestRejectedException.class, () -> e.submit(Request.tokens(prompt(20, 3)).build()));
        assertEquals(RequestRejectedException.Reason.QUEUE_FULL, full.reason());
        release.countDown();
        e.close();
        assertTrue(a.isDone() && b.isDone());
        assertEquals(FinishReason.CANCELLED, b.join().finishReason());
        assertEquals(FinishReason.CANCELLED, a.join().finishReason());
        assertEquals(0, e.stats().pagesUsed());
        var closed = assertThrows(RequestRejectedException.class, () -> e.submit(Request.tokens(prompt(20, 3)).build()));
        assertEquals(RequestRejectedException.Reason.CLOSED, closed.reason());
        e.close(); // idempotent
    }

    @Test
    void aFailingListenerFailsItsRequestOnly() {
        try (ServingEngine e = engine().build()) {
            RequestHandle bad = e.submit(Request.tokens(prompt(20, 1)).options(GenerateOptions.greedy(20))
                    .listener((id, t) -> {
                        throw new IllegalStateException("listener broke");
                    }).build());
            RequestHandle good = e.submit(Request.tokens(prompt(20, 2)).options(GenerateOptions.greedy(20)).build());
            var ex = assertThrows(IllegalStateException.class, bad::join);
            assertTrue(ex.getMessage().contains("listener broke"), ex.getMessage());
            assertTrue(good.join().outputIds().length > 0);
            assertEquals(e.stats().pagesCached(), e.stats().pagesUsed());
        }
    }
}
