package dev.longctx.models.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.longctx.attention.InfLlmMemory;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.Strategy;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** InfLLM's parameters against the budget, and how its plan closes units and picks representatives. */
class InfLlmPlanTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(1));
    private static final KvLayout LAYOUT = new KvLayout(2, 2, 4, 5, DType.F32);

    private static Strategy.InfLlm resolved(Strategy.InfLlm s, int budget) {
        return (Strategy.InfLlm) StrategyPlan.resolve(s, budget, LAYOUT, 16, OPS).strategy;
    }

    @Test
    void thePapersDefaultsWhereTheyFitScaledBelow() {
        assertEquals(new Strategy.InfLlm(6272, 128, 4096, 128, 16, 4), resolved(new Strategy.InfLlm(), 16384));
        assertEquals(new Strategy.InfLlm(6272, 128, 4096, 128, 16, 4), resolved(new Strategy.InfLlm(), 6272));
        // 2048 / 6272 of 128 is 41.8: 41 sinks, units of 41, the window the rest less 17 units
        assertEquals(new Strategy.InfLlm(2048, 41, 2048 - 41 - 17 * 41, 41, 16, 4), resolved(new Strategy.InfLlm(), 2048));
        assertEquals(new Strategy.InfLlm(512, 10, 512 - 10 - 170, 10, 16, 4), resolved(new Strategy.InfLlm(0, 0, 0, 0, 0, 0), 512));
        assertEquals(new Strategy.InfLlm(100, 2, 100 - 2 - 3 * 2, 2, 2, 2), resolved(new Strategy.InfLlm(0, 0, 0, 0, 2, 9), 100),
                "representatives at most the unit");
        assertThrows(ContextBudgetException.class, () -> resolved(new Strategy.InfLlm(), 16));
    }

    /** The variant {@code infllm-bound}: each closed unit carries the per-channel min / max of its keys, naively recomputed. */
    @Test
    void theKeyBoundVariantsUnitsCarryTheirKeysBounds() {
        StrategyPlan plan = StrategyPlan.resolve(new Strategy.InfLlm(0, 3, 10, 4, 2, 2, true), 1024, LAYOUT, 16, OPS);
        SplittableRandom r = new SplittableRandom(6);
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20);
             SequenceKvCache cache = SequenceKvCache.create(pool)) {
            int n = 30;
            float[][] keys = appendRandomKeys(cache, n, r);
            plan.kernel(cache, 1, 1);
            InfLlmMemory mem = plan.infLlmMemory(cache, 1);
            for (int h = 0; h < 2; h++) {
                assertEquals(4, mem.units(h));
                for (int u = 0; u < 4; u++) {
                    for (int c = 0; c < 4; c++) {
                        float min = Float.POSITIVE_INFINITY;
                        float max = Float.NEGATIVE_INFINITY;
                        for (long pos = mem.first(h, u); pos <= mem.last(h, u); pos++) {
                            float k = keys[(int) pos][h * 4 + c];
                            min = Math.min(min, k);
                            max = Math.max(max, k);
                        }
                        assertEquals(min, mem.keyMin(h, u, c), 1e-6, "head " + h + " unit " + u + " channel " + c);
                        assertEquals(max, mem.keyMax(h, u, c), 1e-6, "head " + h + " unit " + u + " channel " + c);
                    }
                }
            }
        }
        // the paper's rule keeps no bounds
        StrategyPlan paper = StrategyPlan.resolve(new Strategy.InfLlm(0, 3, 10, 4, 2, 2), 1024, LAYOUT, 16, OPS);
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20);
             SequenceKvCache cache = SequenceKvCache.create(pool)) {
            for (int pos = 0; pos < 30; pos++) {
                cache.append(1, new float[8], new float[8], pos);
            }
            paper.kernel(cache, 1, 1);
            assertTrue(Float.isNaN(paper.infLlmMemory(cache, 1).keyMin(0, 0, 0)));
        }
    }

    @Test
    void blocksThatLeaveTheWindowBecomeUnitsOfTheirBestScoredTokens() {
        // sinks 3, window 10, units of 4, 2 representatives
        StrategyPlan plan = StrategyPlan.resolve(new Strategy.InfLlm(0, 3, 10, 4, 2, 2), 1024, LAYOUT, 16, OPS);
        SplittableRandom r = new SplittableRandom(5);
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20);
             SequenceKvCache cache = SequenceKvCache.create(pool)) {
            int n = 30;
            float[][] keys = appendRandomKeys(cache, n, r);
            // scores: position p of head h gets (p * 7 + h) % 5, so ties happen
            float[] score = new float[n];
            for (int h = 0; h < 2; h++) {
                for (int pg = 0; pg < cache.pages(1, h); pg++) {
                    float[] probs = new float[5];
                    for (int s = 0; s < 5; s++) {
                        probs[s] = ((pg * 5 + s) * 7 + h) % 5;
                    }
                    cache.addScores(1, h, pg, probs, 5);
                }
            }
            plan.kernel(cache, 1, 1); // a decode step at position 29: blocks ending at or before 19 close
            InfLlmMemory mem = plan.infLlmMemory(cache, 1);
            for (int h = 0; h < 2; h++) {
                assertEquals(4, mem.units(h), "units 3-6, 7-10, 11-14, 15-18");
                assertEquals(18, mem.coveredTo(h));
                for (int u = 0; u < 4; u++) {
                    long first = 3 + 4L * u;
                    assertEquals(first, mem.first(h, u));
                    assertEquals(first + 3, mem.last(h, u));
                    // naive: the two best-scored positions, ties to the older
                    int hh = h;
                    Long[] order = new Long[4];
                    for (int i = 0; i < 4; i++) {
                        order[i] = first + i;
                    }
                    Arrays.sort(order, (a, b) -> {
                        int sa = (int) ((a * 7 + hh) % 5);
                        int sb = (int) ((b * 7 + hh) % 5);
                        return sa != sb ? Integer.compare(sb, sa) : Long.compare(a, b);
                    });
                    long[] want = {order[0], order[1]};
                    long[] got = {mem.representative(h, u, 0), mem.representative(h, u, 1)};
                    Arrays.sort(want);
                    Arrays.sort(got);
                    assertArrayEquals(want, got, "head " + h + " unit " + u);
                }
            }
            cache.append(1, keys[0], new float[8], 30);
            cache.append(1, keys[0], new float[8], 31);
            cache.append(1, keys[0], new float[8], 32);
            plan.kernel(cache, 1, 1);
            assertEquals(5, plan.infLlmMemory(cache, 1).units(0), "position 32: the block 19-22 closes");
            assertEquals(0, plan.infLlmMemory(cache, 0).units(0), "layer 0 untouched");
        }
    }

    /** Appends {@code n} tokens of sequence 1 with Gaussian keys (2 KV heads x 4 channels) and zero values; returns the keys. */
    private static float[][] appendRandomKeys(SequenceKvCache cache, int n, SplittableRandom r) {
        float[][] keys = new float[n][];
        for (int pos = 0; pos < n; pos++) {
            keys[pos] = new float[2 * 4];
            for (int i = 0; i < keys[pos].length; i++) {
                keys[pos][i] = (float) r.nextGaussian();
            }
            cache.append(1, keys[pos], new float[8], pos);
        }
        return keys;
    }
}
