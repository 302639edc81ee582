package dev.longctx.models.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.ChannelPrunedAttention;
import dev.longctx.attention.DenseKvView;
import dev.longctx.attention.KeyChannelPruning;
import dev.longctx.attention.KvView;
import dev.longctx.attention.NaiveAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.kvcache.SnapKvPolicy;
import dev.longctx.models.session.Strategy;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * ThinK's plan over a real paged cache: the observation window it records across prompt chunks,
 * the channels it keeps (against {@link KeyChannelPruning#referenceScores}), the decode kernel
 * (against the naive kernel on channel-zeroed keys), forks, and ratio 0 (exact).
 */
class ThinkPlanTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(1));
    /** 2 layers, 2 KV heads, head dim 20, pages of 7 slots: awkward sizes. */
    private static final KvLayout LAYOUT = new KvLayout(2, 2, 20, 7, DType.F32);
    private static final int HQ = 4;
    private static final int D = 20;

    @Test
    void namesAndParameters() {
        assertEquals(new Strategy.ThinK(new Strategy.SnapKv(0, 0), 0.4, 0), Strategy.parse("think"));
        assertEquals(new Strategy.ThinK(new Strategy.H2o(0, 0), 0.5, 0), Strategy.parse("ThinK:0.5:h2o"));
        assertEquals(new Strategy.ThinK(new Strategy.Full(), 0, 0), Strategy.parse("think:0:full"));
        assertEquals(new Strategy.ThinK(new Strategy.SparsePrefill(Strategy.SparsePrefill.Estimator.A_SHAPE), 0.4, 0),
                Strategy.parse("think:0.4:sparse-prefill:a-shape"));
        var e = assertThrows(IllegalArgumentException.class, () -> Strategy.parse("think:0.4:tidal"));
        assertTrue(e.getMessage().contains("not tidal"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Strategy.parse("think:1"));
        assertThrows(IllegalArgumentException.class, () -> new Strategy.ThinK(new Strategy.Full(), -0.1, 0));
        assertFalse(Strategy.parse("think").keepsEveryToken());
        assertTrue(Strategy.parse("think:0.4:quest").keepsEveryToken());
        StrategyPlan plan = StrategyPlan.resolve(Strategy.parse("think"), 256, LAYOUT, 16, OPS);
        assertEquals(new Strategy.ThinK(new Strategy.SnapKv(256, 32, SnapKvPolicy.DEFAULT_KERNEL), 0.4, 32), plan.strategy,
                "inner resolved, SnapKV's window and pooling kernel");
        assertEquals(StrategyPlan.resolve(new Strategy.SnapKv(0, 0), 256, LAYOUT, 16, OPS).pagesPerHead(1, 1), plan.pagesPerHead(1, 1));
        assertEquals(12, plan.thinkPlan().keptChannels(), "20 - floor(0.4 * 20)");
    }

    @Test
    void selectsChannelsFromTheLastWindowQueriesAndPrunesDecodeLogits() {
        StrategyPlan plan = StrategyPlan.resolve(new Strategy.ThinK(new Strategy.Full(), 0.4, 5), 1024, LAYOUT, 16, OPS);
        SplittableRandom r = new SplittableRandom(9);
        int n = 45;
        float[][] keys = new float[2][n * D];
        float[][] values = new float[2][n * D];
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            for (int pos = 0; pos < n; pos++) {
                float[] k = new float[2 * D];
                float[] v = new float[2 * D];
                for (int i = 0; i < k.length; i++) {
                    k[i] = (float) (r.nextGaussian() * (1 + (i % D) % 3)); // channels of different magnitude
                    v[i] = (float) r.nextGaussian();
                }
                for (int h = 0; h < 2; h++) {
                    System.arraycopy(k, h * D, keys[h], pos * D, D);
                    System.arraycopy(v, h * D, values[h], pos * D, D);
                }
                cache.append(1, k, v, pos);
            }
            // two prompt chunks of 30 and 3 rows: the window of 5 is the first's last 2 and the second's 3
            float[] q1 = gaussian(r, 30 * HQ * D);
            float[] q2 = gaussian(r, 3 * HQ * D);
            attend(plan.kernel(cache, 1, 30), cache.views(1), q1, 30);
            plan.afterAttention(cache, 1, 30, false);
            assertFalse(plan.thinkPlan().selected(cache, 1), "no selection before the prompt ends");
            attend(plan.kernel(cache, 1, 3), cache.views(1), q2, 3);
            plan.afterAttention(cache, 1, 3, true);
            assertTrue(plan.thinkPlan().selected(cache, 1));
            assertFalse(plan.thinkPlan().selected(cache, 0), "layer 0 saw no prompt");
            float[] window = new float[5 * HQ * D];
            System.arraycopy(q1, 28 * HQ * D, window, 0, 2 * HQ * D);
            System.arraycopy(q2, 0, window, 2 * HQ * D, 3 * HQ * D);
            KvView[] dense = new KvView[2];
            KvView[] zeroed = new KvView[2];
            for (int h = 0; h < 2; h++) {
                dense[h] = DenseKvView.of(keys[h], values[h], D, DType.F32, 7);
                boolean[] want = KeyChannelPruning.keep(KeyChannelPruning.referenceScores(window, 5, HQ, 2, h, dense[h]), 12);
                assertArrayEquals(want, plan.thinkPlan().mask(cache, 1, h), "head " + h);
                float[] kz = keys[h].clone();
                for (int i = 0; i < kz.length; i++) {
                    if (!want[i % D]) {
                        kz[i] = 0;
                    }
                }
                zeroed[h] = DenseKvView.of(kz, values[h], D, DType.F32, 7);
            }
            AttentionKernel decode = plan.kernel(cache, 1, 1);
            assertTrue(decode instanceof ChannelPrunedAttention, decode.name());
            float[] q = gaussian(r, HQ * D);
            float[] got = attend(decode, cache.views(1), q, 1);
            float[] want = attend(new NaiveAttention(), zeroed, q, 1);
            float[] unpruned = attend(new NaiveAttention(), dense, q, 1);
            assertTrue(maxDiff(got, want) < 1e-5, "pruned decode = naive on zeroed channels: " + maxDiff(got, want));
            assertTrue(maxDiff(unpruned, want) > 1e-3, "pruning changed the output");
            try (SequenceKvCache fork = cache.fork()) {
                assertArrayEquals(plan.thinkPlan().mask(cache, 1, 0), plan.thinkPlan().mask(fork, 1, 0));
                assertTrue(plan.kernel(fork, 1, 1) instanceof ChannelPrunedAttention, "the fork decodes pruned");
            }
        }
    }

    /**
     * Ratio 0 keeps every channel: the decode kernel wraps the exact one with no channel masked, so it hands the
     * problem to it unchanged, bit for bit. Scalar kernels here: the Panama kernels' lane reductions may sum in
     * another order once the JIT has compiled them between two calls (seen: 3e-8 after other tests warmed them up),
     * scalar Java float arithmetic may not.
     */
    @Test
    void ratioZeroIsExact() {
        TensorOps scalar = new TensorOps(KernelProvider.scalar(), ComputePool.create(1));
        StrategyPlan plan = StrategyPlan.resolve(new Strategy.ThinK(new Strategy.Full(), 0, 4), 1024, LAYOUT, 16, scalar);
        StrategyPlan full = StrategyPlan.resolve(new Strategy.Full(), 1024, LAYOUT, 16, scalar);
        SplittableRandom r = new SplittableRandom(4);
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            for (int pos = 0; pos < 19; pos++) {
                cache.append(0, gaussian(r, 2 * D), gaussian(r, 2 * D), pos);
            }
            attend(plan.kernel(cache, 0, 8), cache.views(0), gaussian(r, 8 * HQ * D), 8);
            plan.afterAttention(cache, 0, 8, true);
            assertTrue(plan.thinkPlan().selected(cache, 0));
            assertNull(plan.thinkPlan().mask(cache, 0, 1));
            float[] q = gaussian(r, HQ * D);
            AttentionKernel exact = full.kernel(cache, 0, 1);
            AttentionKernel got = plan.kernel(cache, 0, 1);
            ChannelPrunedAttention pruned = assertInstanceOf(ChannelPrunedAttention.class, got);
            assertEquals(exact.getClass(), pruned.inner().getClass(), "the full cache's kernel inside: " + pruned.name());
            for (int h = 0; h < LAYOUT.kvHeads(); h++) {
                assertNull(pruned.kept(h), "head " + h + " keeps every channel");
            }
            assertArrayEquals(attend(exact, cache.views(0), q, 1), attend(got, cache.views(0), q, 1));
        }
    }

    private static float[] attend(AttentionKernel k, KvView[] views, float[] q, int rows) {
        AttentionProblem p = AttentionProblem.causal(q, rows, HQ, views);
        float[] out = new float[p.outputLength()];
        k.attend(p, out, null, null);
        return out;
    }

    private static float[] gaussian(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    private static double maxDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }
}
