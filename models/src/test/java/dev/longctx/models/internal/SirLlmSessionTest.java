package dev.longctx.models.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.KvView;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.kvcache.TokenEntropies;
import dev.longctx.models.Model;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** SirLLM in a session: the entropies it scores are the model's surprisals, and it keeps the most surprising tokens. */
class SirLlmSessionTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(2));
    private static Model model;

    @BeforeAll
    static void open() throws Exception {
        model = Model.open(SharedFixtures.locate("fixtures/stories260k/stories260K.gguf"));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static int[] prompt(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = 1 + (i * 37 + i * i) % (model.config().vocabSize() - 1);
        }
        return p;
    }

    private static Session session(Strategy s, int budget) {
        return Session.builder(model.weights()).strategy(s).budgetTokens(budget).kvType(DType.F32).pageSize(16).chunkSize(7)
                .ops(OPS).build();
    }

    @Test
    void scoredEntropiesAreTheFullCachesSurprisals() {
        int[] ids = prompt(100);
        double[] logp;
        try (Session full = session(new Strategy.Full(), 256)) {
            logp = full.logProbabilities(ids, null);
        }
        try (Session s = session(new Strategy.SirLlm(0, 0, 0, 0), 256)) { // covering: nothing evicted
            s.prefill(ids, null);
            TokenEntropies e = TokenEntropies.of(SessionAccess.get().cache(s));
            assertTrue(Float.isNaN(e.get(0)), "the first token has no prediction");
            for (int i = 1; i < ids.length; i++) {
                assertEquals(-logp[i - 1], e.get(i), 1e-4 * Math.max(1, Math.abs(logp[i - 1])), "position " + i);
            }
        }
    }

    @Test
    void aTightBudgetKeepsSinksAndTheMostSurprisingTokens() {
        int[] ids = prompt(160);
        int sinks = 4;
        int capacity = 24;
        try (Session s = session(new Strategy.SirLlm(sinks, capacity, 0, 0), 64)) {
            s.prefill(ids, null);
            SequenceKvCache cache = SessionAccess.get().cache(s);
            TokenEntropies e = TokenEntropies.of(cache);
            // the entropy-ranked candidates: scored, not sinks
            List<Integer> ranked = new ArrayList<>();
            for (int i = sinks; i < ids.length; i++) {
                if (!Float.isNaN(e.get(i))) {
                    ranked.add(i);
                }
            }
            ranked.sort((a, b) -> e.get(a) != e.get(b) ? Float.compare(e.get(b), e.get(a)) : Integer.compare(a, b));
            // after the last chunk's attention, every token scored before it was ranked: the kept scored ones are the top
            KvView v = cache.view(3, 0);
            List<Integer> kept = new ArrayList<>();
            for (int pg = 0; pg < v.pageCount(); pg++) {
                for (int sl = 0; sl < v.pageLength(pg); sl++) {
                    if (v.isValid(pg, sl)) {
                        kept.add((int) v.position(pg, sl));
                    }
                }
            }
            for (int i = 0; i < sinks; i++) {
                assertTrue(kept.contains(i), "sink " + i);
            }
            int lastChunkStart = ids.length - (ids.length % 7 == 0 ? 7 : ids.length % 7);
            // the last chunk's first token was scored before its step (from the previous chunk's last row), the rest after it
            for (int i = lastChunkStart + 1; i < ids.length; i++) {
                assertTrue(kept.contains(i), "unscored token " + i + " of the last chunk is kept");
            }
            long scoredKept = kept.stream().filter(p -> p >= sinks && p <= lastChunkStart).count();
            assertEquals(capacity, scoredKept, "kept " + kept);
            // the kept scored tokens are the best-ranked ones scored by then
            List<Integer> top = ranked.stream().filter(p -> p <= lastChunkStart).limit(capacity).toList();
            assertTrue(kept.containsAll(top), "the " + capacity + " most surprising tokens " + top + " kept: " + kept);
            int best = top.getFirst();
            assertTrue(kept.contains(best), "most surprising token " + best + " kept: " + kept);
            assertEquals(64, s.generate(new int[] {ids[0]}, GenerateOptions.greedy(64).withStopIds(List.of()), null).outputIds().length);
        }
    }
}
