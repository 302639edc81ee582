package dev.longctx.models.decoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.rope.RopePairing;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.Model;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.safetensors.SafetensorsModel;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Session;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Gemma 3 (text), SmolLM3, Granite and OLMo 2 against transformers 5.18: the fixtures of
 * {@code tools/fixtures/arch/make_arch_fixtures.py} ({@code fixtures/arch/NAME}: BF16 weights,
 * reference logits at every position and a greedy continuation computed in float32), each loaded
 * from its Hugging Face files and from the GGUF file the script wrote with llama.cpp's names and
 * keys. Logits must agree within 1e-3 at every position, greedy continuations exactly.
 */
class ArchFixturesTest {
    private static final Logger LOG = LoggerFactory.getLogger(ArchFixturesTest.class);
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(2));

    @AfterAll
    static void closePool() {
        OPS.pool().close();
    }

    /** The folder of fixture {@code name}. */
    static Path dir(String name) {
        return SharedFixtures.resource("fixtures/arch/" + name + "/config.json").getParent();
    }

    private static JsonNode reference(String name) throws Exception {
        return new ObjectMapper().readTree(Files.readString(dir(name).resolve("reference.json")));
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"gemma3-text", "smollm3", "granite", "olmo2"})
    void hfLogitsMatchTransformersAtEveryPosition(String name) throws Exception {
        Path d = dir(name);
        ModelConfig c = HfConfigReader.read(d);
        try (SafetensorsModel st = SafetensorsModel.open(d)) {
            assertLogitsMatch(name + " (HF)", ModelWeights.fromHfNames(c, st::tensor, st::has));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"gemma3-text", "smollm3", "granite", "olmo2"})
    void ggufLogitsMatchTransformersAtEveryPosition(String name) throws Exception {
        try (Model m = Model.open(dir(name).resolve("model.gguf"))) {
            boolean llamaRope = name.equals("smollm3") || name.equals("granite"); // llama.cpp's NORM rope type
            assertEquals(llamaRope ? RopePairing.ADJACENT : RopePairing.ROTATE_HALF, m.weights().pairing(), name);
            assertLogitsMatch(name + " (GGUF)", m.weights());
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"gemma3-text", "smollm3", "granite", "olmo2"})
    void hfGreedyContinuationMatchesTransformers(String name) throws Exception {
        Path d = dir(name);
        ModelConfig c = HfConfigReader.read(d);
        try (SafetensorsModel st = SafetensorsModel.open(d)) {
            assertGreedyMatches(name + " (HF)", ModelWeights.fromHfNames(c, st::tensor, st::has));
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"gemma3-text", "smollm3", "granite", "olmo2"})
    void ggufGreedyContinuationMatchesTransformers(String name) throws Exception {
        try (Model m = Model.open(dir(name).resolve("model.gguf"))) {
            assertGreedyMatches(name + " (GGUF)", m.weights());
        }
    }

    /**
     * The HF config and the GGUF metadata describe the same model: sizes, layer types, per-layer
     * RoPE, scales (GGUF has no query_pre_attn_scalar: the fixture sets it to head_dim, what
     * llama.cpp uses).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"gemma3-text", "smollm3", "granite", "olmo2"})
    void ggufConfigDescribesTheSameModel(String name) throws Exception {
        ModelConfig hf;
        try (Model folder = Model.open(dir(name))) { // the front door on the HF folder (no tokenizer in it)
            hf = folder.config();
            assertEquals(HfConfigReader.read(dir(name)), hf);
        }
        try (Model m = Model.open(dir(name).resolve("model.gguf"))) {
            ModelConfig g = m.config();
            assertEquals(hf.architecture(), g.architecture());
            assertEquals(List.of(hf.vocabSize(), hf.hiddenSize(), hf.intermediateSize(), hf.layers(), hf.heads(), hf.kvHeads(),
                    hf.headDim()), List.of(g.vocabSize(), g.hiddenSize(), g.intermediateSize(), g.layers(), g.heads(), g.kvHeads(),
                    g.headDim()));
            assertEquals(hf.tieEmbeddings(), g.tieEmbeddings());
            assertEquals(hf.ropeTheta(), g.ropeTheta(), 1e-3 * hf.ropeTheta());
            assertEquals(hf.ropeScaling(), g.ropeScaling());
            assertEquals(hf.attentionScale(), g.attentionScale(), 1e-6);
            assertEquals(hf.embeddingScale(), g.embeddingScale(), 1e-6);
            assertEquals(hf.options().multipliers().residual(), g.options().multipliers().residual(), 1e-6);
            assertEquals(hf.options().multipliers().logitsDivisor(), g.options().multipliers().logitsDivisor(), 1e-6);
            assertEquals(hf.options().activation(), g.options().activation());
            for (int l = 0; l < hf.layers(); l++) {
                assertEquals(hf.slidingWindow(l), g.slidingWindow(l), "window of layer " + l);
                assertEquals(hf.usesRope(l), g.usesRope(l), "RoPE on layer " + l);
                assertEquals(hf.usesSlidingRope(l), g.usesSlidingRope(l), "local RoPE on layer " + l);
            }
            assertEquals(hf.options().slidingRopeTheta(), g.options().slidingRopeTheta(), 1e-6);
        }
    }

    /** What each fixture is there to exercise really is in it (so a regenerated fixture cannot lose it silently). */
    @Test
    void fixturesExerciseTheirFamilysFeatures() throws Exception {
        ModelConfig gemma = HfConfigReader.read(dir("gemma3-text"));
        assertEquals(ModelConfig.Architecture.GEMMA3, gemma.architecture());
        assertEquals(ModelConfig.periodicLayerTypes(6, 6), gemma.options().layerTypes());
        assertEquals(16, gemma.slidingWindow(0));
        assertEquals(0, gemma.slidingWindow(5));
        assertEquals(1e6, gemma.ropeTheta());
        assertEquals(10000.0, gemma.options().slidingRopeTheta());
        assertEquals(new dev.longctx.core.rope.RopeScaling.Linear(4.0), gemma.ropeScaling());
        assertEquals(Math.sqrt(64), gemma.embeddingScale(), 1e-12);
        // the Gemma 3 case longer than its window: 80 tokens against 16
        assertTrue(reference("gemma3-text").get("cases").get(0).get("input_ids").size() > 4 * gemma.slidingWindow());

        ModelConfig smol = HfConfigReader.read(dir("smollm3"));
        assertEquals(List.of(true, true, true, false), smol.options().ropeLayers());

        ModelConfig granite = HfConfigReader.read(dir("granite"));
        assertEquals(new ModelConfig.Multipliers(12.0, 0.1, 0.22, 8.0), granite.options().multipliers());
        assertEquals(0.1, granite.attentionScale(), 1e-12);

        Path olmo = dir("olmo2");
        ModelConfig o = HfConfigReader.read(olmo);
        try (SafetensorsModel st = SafetensorsModel.open(olmo)) {
            ModelWeights.Layer y = ModelWeights.fromHfNames(o, st::tensor, st::has).layers()[0];
            assertEquals(null, y.attnNorm());
            assertEquals(null, y.ffnNorm());
            assertEquals(o.heads() * o.headDim(), y.qNorm().length);
            assertEquals(o.kvHeads() * o.headDim(), y.kNorm().length);
        }
    }

    /**
     * Gemma 3's prompt of five windows gives the same logits prefilled in one chunk, in chunks of 7
     * and token by token (1e-5): the sliding layers' masks and local RoPE hold across chunks.
     */
    @Test
    void gemma3ChunkedPrefillGivesTheSameLogits() throws Exception {
        Path d = dir("gemma3-text");
        ModelConfig c = HfConfigReader.read(d);
        int[] ids = ints(reference("gemma3-text").get("cases").get(0).get("input_ids"));
        try (SafetensorsModel st = SafetensorsModel.open(d)) {
            ModelWeights w = ModelWeights.fromHfNames(c, st::tensor, st::has);
            float[] whole = logitsInChunks(w, ids, ids.length);
            for (int chunk : new int[] {7, 1}) {
                float[] parts = logitsInChunks(w, ids, chunk);
                double max = 0;
                for (int i = 0; i < whole.length; i++) {
                    max = Math.max(max, Math.abs(whole[i] - parts[i]));
                }
                assertTrue(max <= 1e-5, "gemma3 in chunks of " + chunk + ": max |diff| " + max);
            }
        }
    }

    /**
     * A session on Gemma 3 returns the pages that fall out of the five local layers' window (16) to
     * the pool while the global layer keeps every token (the Full strategy), sizes the pool for it,
     * and still generates what the decoder gives with every page kept.
     */
    @Test
    void gemma3SessionKeepsOnlyTheWindowOfItsLocalLayers() throws Exception {
        Path d = dir("gemma3-text");
        ModelConfig c = HfConfigReader.read(d);
        int[] prompt = ints(reference("gemma3-text").get("cases").get(0).get("input_ids"));
        int generate = 16;
        int pageSize = 4;
        int chunk = 8;
        try (SafetensorsModel st = SafetensorsModel.open(d)) {
            ModelWeights w = ModelWeights.fromHfNames(c, st::tensor, st::has);
            int[] expected = greedyKeepingEveryPage(w, prompt, generate);
            try (Session s = Session.builder(w).kvType(DType.F32).pageSize(pageSize).chunkSize(chunk).budgetTokens(128).ops(OPS)
                    .build()) {
                long pageBytes = BlockPool.pageBytes(new KvLayout(c.layers(), c.kvHeads(), c.headDim(), pageSize, DType.F32));
                long globalPages = 128 / pageSize + 1;
                long localPages = (16 + chunk + pageSize - 1) / pageSize + 1;
                assertEquals((globalPages + 5 * localPages) * c.kvHeads() * pageBytes, s.kvBudgetBytes(),
                        "one global layer sized for the budget, five local layers for window + chunk");
                int[] out = s.generate(prompt, GenerateOptions.greedy(generate).withStopIds(List.of()), null).outputIds();
                assertArrayEquals(expected, out);
                SequenceKvCache cache = dev.longctx.models.internal.SessionAccess.get().cache(s);
                int context = prompt.length + generate - 1; // the last generated token is not run
                for (int l = 0; l < c.layers(); l++) {
                    for (int h = 0; h < c.kvHeads(); h++) {
                        if (c.slidingWindow(l) > 0) {
                            assertTrue(cache.pages(l, h) <= localPages, "layer " + l + " holds " + cache.pages(l, h) + " pages");
                            assertTrue(cache.length(l, h) < 16 + pageSize, "layer " + l + " holds " + cache.length(l, h) + " tokens");
                        } else {
                            assertEquals(context, cache.length(l, h), "the global layer keeps every token");
                        }
                    }
                }
                long full = s.kvBytesInUse(ModelConfig.LayerType.FULL_ATTENTION);
                long sliding = s.kvBytesInUse(ModelConfig.LayerType.SLIDING_ATTENTION);
                assertEquals(s.kvBytesInUse(), full + sliding);
                assertTrue(sliding <= 5 * localPages * c.kvHeads() * pageBytes, "five local layers hold their window's pages: " + sliding);
                assertEquals((long) (context + pageSize - 1) / pageSize * c.kvHeads() * pageBytes, full);
                LOG.info("gemma3 session: {} KV bytes in use after {} tokens (full-attention layers {}, sliding {}; budget {})",
                        s.kvBytesInUse(), context, full, sliding, s.kvBudgetBytes());
            }
        }
    }

    /**
     * With a budget that covers the context, every strategy that can run without a profile
     * generates on Gemma 3 what a decoder keeping every page generates: local layers keep their own
     * window (StreamingLLM's wider window included) and release what falls out of it, while the
     * strategy governs the global layer.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"full", "streaming", "h2o", "snapkv", "quest"})
    void gemma3StrategiesWithARoomyBudgetGenerateWhatTheFullCacheGenerates(String strategy) throws Exception {
        Path d = dir("gemma3-text");
        ModelConfig c = HfConfigReader.read(d);
        int[] prompt = ints(reference("gemma3-text").get("cases").get(0).get("input_ids"));
        int generate = 12;
        dev.longctx.models.session.Strategy s = switch (strategy) {
            case "full" -> new dev.longctx.models.session.Strategy.Full();
            case "streaming" -> new dev.longctx.models.session.Strategy.Streaming(0, 0);
            case "h2o" -> new dev.longctx.models.session.Strategy.H2o(0, 0);
            case "snapkv" -> new dev.longctx.models.session.Strategy.SnapKv(0, 0);
            default -> new dev.longctx.models.session.Strategy.Quest(0);
        };
        try (SafetensorsModel st = SafetensorsModel.open(d)) {
            ModelWeights w = ModelWeights.fromHfNames(c, st::tensor, st::has);
            int[] expected = greedyKeepingEveryPage(w, prompt, generate);
            try (Session session = Session.builder(w).strategy(s).kvType(DType.F32).pageSize(4).chunkSize(8).budgetTokens(128)
                    .ops(OPS).build()) {
                int[] out = session.generate(prompt, GenerateOptions.greedy(generate).withStopIds(List.of()), null).outputIds();
                assertArrayEquals(expected, out, strategy);
                assertTrue(session.kvBytesInUse(ModelConfig.LayerType.SLIDING_ATTENTION)
                        < session.kvBytesInUse(ModelConfig.LayerType.FULL_ATTENTION) * 5 / 2, strategy + ": local layers hold their window");
            }
        }
    }

    /**
     * The serving engine on Gemma 3: requests outside the prefix cache release their local layers'
     * old pages (so the longest fits a pool of 150 pages, where keeping every page needs 288),
     * requests in it keep them; both generate what a decoder keeping every page generates, three
     * at a time.
     */
    @ParameterizedTest(name = "prefix caching {0}")
    @ValueSource(booleans = {false, true})
    void gemma3ServingEngineGeneratesWhatTheFullCacheGenerates(boolean prefixCaching) throws Exception {
        int[] prompt = ints(reference("gemma3-text").get("cases").get(0).get("input_ids"));
        int generate = 12;
        try (Model m = Model.open(dir("gemma3-text").resolve("model.gguf"), Model.Options.defaults().withOps(OPS))) {
            int[][] prompts = {prompt, Arrays.copyOfRange(prompt, 10, 70), Arrays.copyOfRange(prompt, 3, 40)};
            ModelConfig c = m.config();
            // 150 pages: the 92-token request needs 6 x 2 x 24 = 288 pages keeping every page, 2 x 24 + 5 x 2 x 7 = 118
            // releasing (global layer: its context; local layers: window 16 + chunk 8)
            long pages150 = 150 * BlockPool.pageBytes(new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 4, DType.F32));
            try (dev.longctx.models.serving.ServingEngine e = dev.longctx.models.serving.ServingEngine.builder(m).chunkTokens(8)
                    .pageSize(4).kvType(DType.F32).budgetBytes(prefixCaching ? 8L << 20 : pages150).prefixCaching(prefixCaching)
                    .build()) {
                List<dev.longctx.models.serving.RequestHandle> handles = new java.util.ArrayList<>();
                for (int[] p : prompts) {
                    handles.add(e.submit(dev.longctx.models.serving.Request.tokens(p)
                            .options(GenerateOptions.greedy(generate).withStopIds(List.of())).build()));
                }
                for (int i = 0; i < prompts.length; i++) {
                    assertArrayEquals(greedyKeepingEveryPage(m.weights(), prompts[i], generate), handles.get(i).join().outputIds(),
                            "request " + i);
                }
            }
        }
    }

    /** Greedy ids from a plain decoder loop whose cache keeps every page (no plan releases any). */
    private static int[] greedyKeepingEveryPage(ModelWeights w, int[] prompt, int n) {
        ModelConfig c = w.config();
        int[] out = new int[n];
        KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 4, DType.F32);
        try (BlockPool pool = new BlockPool(layout, 64L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            Decoder decoder = new Decoder(w, OPS);
            float[] logits = decoder.forward(cache, prompt, 0, false);
            for (int i = 0; i < n; i++) {
                int best = 0;
                for (int j = 1; j < logits.length; j++) {
                    best = logits[j] > logits[best] ? j : best;
                }
                out[i] = best;
                if (i + 1 < n) {
                    logits = decoder.forward(cache, new int[] {best}, prompt.length + i, false);
                }
            }
            assertEquals(prompt.length + n - 1, cache.length(0, 0), "the reference run kept every page");
        }
        return out;
    }

    private static float[] logitsInChunks(ModelWeights w, int[] ids, int chunk) {
        ModelConfig c = w.config();
        float[] out = new float[ids.length * c.vocabSize()];
        KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 16, DType.F32);
        try (BlockPool pool = new BlockPool(layout, 64L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            Decoder decoder = new Decoder(w, OPS);
            for (int from = 0; from < ids.length; from += chunk) {
                int[] part = Arrays.copyOfRange(ids, from, Math.min(ids.length, from + chunk));
                float[] logits = decoder.forward(cache, part, from, true);
                System.arraycopy(logits, 0, out, from * c.vocabSize(), logits.length);
            }
        }
        return out;
    }

    /** Every case of the fixture, in one prefill: max |logit difference| at every position <= 1e-3. */
    private static void assertLogitsMatch(String what, ModelWeights w) throws Exception {
        String name = what.substring(0, what.indexOf(' '));
        ModelConfig c = w.config();
        for (JsonNode kase : reference(name).get("cases")) {
            int[] ids = ints(kase.get("input_ids"));
            float[] logits = logitsInChunks(w, ids, ids.length);
            double max = 0;
            for (int p = 0; p < ids.length; p++) {
                JsonNode row = kase.get("logits").get(p);
                double atP = 0;
                for (int j = 0; j < c.vocabSize(); j++) {
                    atP = Math.max(atP, Math.abs(logits[p * c.vocabSize() + j] - row.get(j).asDouble()));
                }
                assertTrue(atP <= 1e-3, what + ", " + ids.length + " tokens, position " + p + ": max |diff| " + atP);
                max = Math.max(max, atP);
            }
            LOG.info("{}, {} tokens: max |logit diff| over every position {}", what, ids.length, String.format("%.2e", max));
        }
    }

    /** The greedy continuation (24 tokens after a 16-token prompt) through a session with its KV cache. */
    private static void assertGreedyMatches(String what, ModelWeights w) throws Exception {
        String name = what.substring(0, what.indexOf(' '));
        JsonNode g = reference(name).get("greedy");
        int[] prompt = ints(g.get("prompt"));
        int[] expected = ints(g.get("output"));
        try (Session s = Session.builder(w).kvType(DType.F32).budgetTokens(64).ops(OPS).build()) {
            int[] out = s.generate(prompt, GenerateOptions.greedy(expected.length - prompt.length).withStopIds(List.of()), null)
                    .outputIds();
            assertArrayEquals(Arrays.copyOfRange(expected, prompt.length, expected.length), out, what);
        }
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }
}
