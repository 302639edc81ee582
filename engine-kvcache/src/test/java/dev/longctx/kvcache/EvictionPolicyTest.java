package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.attention.TiledAttention;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class EvictionPolicyTest {
    static final int D = 32;

    static List<Long> keptPositions(KvView v) {
        List<Long> out = new ArrayList<>();
        for (int p = 0; p < v.pageCount(); p++) {
            for (int s = 0; s < v.pageLength(p); s++) {
                if (v.isValid(p, s)) {
                    out.add(v.position(p, s));
                }
            }
        }
        return out;
    }

    static void appendToken(SequenceKvCache c, SplittableRandom r, long pos) {
        int n = c.layout().kvHeads() * D;
        float[] k = new float[n];
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            k[i] = (float) r.nextGaussian();
            v[i] = (float) r.nextGaussian();
        }
        c.append(0, k, v, pos);
    }

    @Test
    void streamingLlmKeepsSinksAndWindowAndReleasesWholePages() {
        KvLayout layout = new KvLayout(1, 1, D, 2, DType.F32);
        SplittableRandom r = new SplittableRandom(1);
        try (BlockPool pool = new BlockPool(layout, 1 << 20); SequenceKvCache c = SequenceKvCache.create(pool)) {
            StreamingLlmPolicy policy = new StreamingLlmPolicy(2, 3);
            for (int t = 0; t < 10; t++) {
                appendToken(c, r, t);
                policy.afterStep(c, 0);
            }
            // Hand-worked: sinks {0, 1} and window {7, 8, 9}; pages {2,3} and {4,5} emptied and released.
            assertEquals(List.of(0L, 1L, 7L, 8L, 9L), keptPositions(c.view(0, 0)));
            assertEquals(3, c.pages(0, 0));
            assertEquals(3, pool.stats().pagesInUse());
        }
    }

    @Test
    void h2oKeepsHeavyHittersAndTheRecentWindowOnAHandWorkedTrace() {
        // heavy = 2, recent = 3. After each token t, the query's attention over the cached tokens is
        // given explicitly (by position); scores accumulate; the budget is 5 tokens.
        double[][] attention = {
                {1.0},
                {0.6, 0.4},
                {0.5, 0.1, 0.4},
                {0.4, 0.1, 0.2, 0.3},
                {0.3, 0.1, 0.2, 0.2, 0.2},
                {0.3, 0.05, 0.15, 0.2, 0.1, 0.2},      // recent {3,4,5}; scores 0:3.1 1:0.75 2:0.95 -> evict 1
                {0.3, 0.0, 0.1, 0.05, 0.25, 0.1, 0.2}, // recent {4,5,6}; scores 0:3.4 2:1.05 3:0.75 -> evict 3
        };
        KvLayout layout = new KvLayout(1, 1, D, 2, DType.F32);
        SplittableRandom r = new SplittableRandom(2);
        try (BlockPool pool = new BlockPool(layout, 1 << 20); SequenceKvCache c = SequenceKvCache.create(pool)) {
            H2oPolicy policy = new H2oPolicy(2, 3);
            for (int t = 0; t < attention.length; t++) {
                appendToken(c, r, t);
                KvView v = c.view(0, 0);
                for (int p = 0; p < v.pageCount(); p++) {
                    float[] probs = new float[2];
                    for (int s = 0; s < v.pageLength(p); s++) {
                        int pos = (int) v.position(p, s);
                        probs[s] = v.isValid(p, s) ? (float) attention[t][pos] : 0f;
                    }
                    policy.observer(c, 0).observe(0, 0, 0, p, probs, v.pageLength(p));
                }
                policy.afterStep(c, 0);
            }
            // Token 1 went at t=5, token 3 at t=6.
            assertEquals(List.of(0L, 2L, 4L, 5L, 6L), keptPositions(c.view(0, 0)));
            // Kept keys keep their scores: token 0 has 1.0+0.6+0.5+0.4+0.3+0.3+0.3.
            KvView v = c.view(0, 0);
            assertEquals(3.4f, c.score(0, 0, 0, 0), 1e-5f);
            assertEquals(0, v.position(0, 0));
        }
    }

    @Test
    void aBudgetCoveringEverythingGivesTheFullCachesAttentionBitForBit() {
        KvLayout layout = new KvLayout(1, 2, D, 8, DType.F16);
        TensorOps ops = new TensorOps(KernelProvider.scalar(), ComputePool.create(1));
        try (BlockPool pool = new BlockPool(layout, 1 << 22)) {
            SequenceKvCache full = SequenceKvCache.create(pool);
            SequenceKvCache streaming = SequenceKvCache.create(pool);
            SequenceKvCache h2o = SequenceKvCache.create(pool);
            EvictionPolicy s = new StreamingLlmPolicy(4, 200);
            EvictionPolicy h = new H2oPolicy(100, 100);
            SplittableRandom r1 = new SplittableRandom(3);
            SplittableRandom r2 = new SplittableRandom(3);
            SplittableRandom r3 = new SplittableRandom(3);
            SplittableRandom rq = new SplittableRandom(4);
            for (int t = 0; t < 150; t++) {
                appendToken(full, r1, t);
                appendToken(streaming, r2, t);
                appendToken(h2o, r3, t);
                float[] q = new float[4 * D];
                for (int i = 0; i < q.length; i++) {
                    q[i] = (float) rq.nextGaussian();
                }
                float[] a = new float[4 * D];
                float[] b = new float[4 * D];
                float[] c = new float[4 * D];
                new TiledAttention(ops).attend(AttentionProblem.causal(q, 1, 4, full.views(0)), a, null, null);
                new TiledAttention(ops).attend(AttentionProblem.causal(q, 1, 4, streaming.views(0)), b, null, s.observer(streaming, 0));
                new TiledAttention(ops).attend(AttentionProblem.causal(q, 1, 4, h2o.views(0)), c, null, h.observer(h2o, 0));
                s.afterStep(streaming, 0);
                h.afterStep(h2o, 0);
                assertArrayEquals(a, b, "streaming at step " + t);
                assertArrayEquals(a, c, "h2o at step " + t);
            }
            full.close();
            streaming.close();
            h2o.close();
            assertEquals(0, pool.stats().pagesInUse());
        }
    }

    @Test
    void tightBudgetsRunWithinTheirBudgetAndForksStayIndependent() {
        KvLayout layout = new KvLayout(1, 2, D, 4, DType.F16);
        TensorOps ops = new TensorOps(KernelProvider.scalar(), ComputePool.create(1));
        SplittableRandom r = new SplittableRandom(5);
        try (BlockPool pool = new BlockPool(layout, 1 << 22); SequenceKvCache c = SequenceKvCache.create(pool)) {
            EvictionPolicy policy = new H2oPolicy(6, 10);
            SequenceKvCache fork = null;
            for (int t = 0; t < 200; t++) {
                appendToken(c, r, t);
                float[] q = new float[4 * D];
                for (int i = 0; i < q.length; i++) {
                    q[i] = (float) r.nextGaussian();
                }
                new TiledAttention(ops).attend(AttentionProblem.causal(q, 1, 4, c.views(0)), new float[4 * D], null,
                        policy.observer(c, 0));
                policy.afterStep(c, 0);
                for (int h = 0; h < 2; h++) {
                    assertEquals(Math.min(t + 1, 16), c.validLength(0, h));
                }
                if (t == 100) {
                    fork = c.fork();
                }
            }
            assertEquals(16, fork.validLength(0, 0), "the fork kept its own tokens");
            assertEquals(List.of(91L, 92L, 93L, 94L, 95L, 96L, 97L, 98L, 99L, 100L),
                    keptPositions(fork.view(0, 0)).subList(6, 16), "the fork's recent window is as it was at t = 100");
            fork.close();
        }
    }

    @Test
    void badPolicyParametersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new StreamingLlmPolicy(-1, 4));
        assertThrows(IllegalArgumentException.class, () -> new StreamingLlmPolicy(4, 0));
        assertThrows(IllegalArgumentException.class, () -> new H2oPolicy(-1, 4));
        assertThrows(IllegalArgumentException.class, () -> new H2oPolicy(4, 0));
    }
}
