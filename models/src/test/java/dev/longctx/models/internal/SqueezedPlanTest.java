package dev.longctx.models.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.attention.SqueezedIndex;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.session.Strategy;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Squeezed Attention as a strategy against a naive reference of its rule: rows before the fixed
 * context's end attend exactly; each later (row, query head) ranks its KV head's centroids by
 * {@code q . c}, takes clusters until their keys reach the kept budget, and attends exactly those
 * fixed keys plus every key after the fixed context, causally. At awkward sizes (pages of 7, a
 * chunk straddling the fixed context's end, a decode row), with the index built by the fast path
 * (it really ran: the index exists, and a small budget changes the output); a budget of every key
 * is exact attention; the parameters resolve and bad ones are refused with a typed error.
 */
class SqueezedPlanTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(2));
    private static final int D = 16;
    private static final int KV = 2;
    private static final int HQ = 6; // groups of 3
    private static final KvLayout LAYOUT = new KvLayout(1, KV, D, 7, DType.F32);

    private static float[] gaussian(SplittableRandom r, int n, double sd) {
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            // Box-Muller from two uniforms
            double u = 1 - r.nextDouble();
            double v = r.nextDouble();
            x[i] = (float) (sd * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v));
        }
        return x;
    }

    /** A cache of {@code n} tokens whose keys come from 9 blobs per KV head (so that clusters mean something). */
    private static SequenceKvCache filled(BlockPool pool, SplittableRandom r, int n) {
        SequenceKvCache cache = SequenceKvCache.create(pool);
        float[] centres = gaussian(r, KV * 9 * D, 3);
        for (int p = 0; p < n; p++) {
            float[] k = gaussian(r, KV * D, 0.5);
            for (int h = 0; h < KV; h++) {
                int b = r.nextInt(9);
                for (int e = 0; e < D; e++) {
                    k[h * D + e] += centres[(h * 9 + b) * D + e];
                }
            }
            cache.append(0, k, gaussian(r, KV * D, 1), p);
        }
        return cache;
    }

    private static AttentionProblem problem(SequenceKvCache cache, float[] q, int rows) {
        KvView[] views = {cache.view(0, 0), cache.view(0, 1)};
        return AttentionProblem.causal(q, rows, HQ, views);
    }

    /** The naive reference of the strategy's rule over {@code index} (the fixed context's clusters) with a budget of {@code kept} keys. */
    static float[] naive(AttentionProblem p, int fixed, SqueezedIndex index, int kept, VectorKernels kernels) {
        int g = p.groupSize();
        float[] out = new float[p.outputLength()];
        for (int h = 0; h < p.kvHeads(); h++) {
            KvView view = p.kv()[h];
            List<float[]> keys = new ArrayList<>();
            List<float[]> vals = new ArrayList<>();
            List<Long> pos = new ArrayList<>();
            for (int page = 0; page < view.pageCount(); page++) {
                for (int s = 0; s < view.pageLength(page); s++) {
                    if (view.isValid(page, s)) {
                        float[] kk = new float[D];
                        float[] vv = new float[D];
                        Quantization.dequantize(view.dtype(), view.keys(page), s * view.rowBytes(), kk, 0, D);
                        Quantization.dequantize(view.dtype(), view.values(page), s * view.rowBytes(), vv, 0, D);
                        keys.add(kk);
                        vals.add(vv);
                        pos.add(view.position(page, s));
                    }
                }
            }
            int[] assign = index.assignment(h);
            float[] cent = index.centroids(h);
            int c = index.clusters(h);
            int[] size = new int[c];
            for (int a : assign) {
                size[a]++;
            }
            for (int r = 0; r < p.queryRows(); r++) {
                long qPos = p.queryPositions()[r];
                for (int j = 0; j < g; j++) {
                    int qh = h * g + j;
                    int qi = p.queryIndex(r, qh);
                    boolean[] take = new boolean[c];
                    if (qPos >= fixed) {
                        double[] score = new double[c];
                        for (int x = 0; x < c; x++) {
                            float s = kernels.dot(p.queries(), qi, cent, x * D, D); // the rule's f32 arithmetic
                            score[x] = Float.isNaN(s) ? Double.POSITIVE_INFINITY : s;
                        }
                        List<Integer> order = new ArrayList<>();
                        for (int x = 0; x < c; x++) {
                            order.add(x);
                        }
                        order.sort(Comparator.<Integer>comparingDouble(x -> -score[x]).thenComparingInt(x -> x));
                        int taken = 0;
                        for (int x : order) {
                            if (taken >= kept) {
                                break;
                            }
                            if (size[x] > 0) {
                                take[x] = true;
                                taken += size[x];
                            }
                        }
                    }
                    double max = Double.NEGATIVE_INFINITY;
                    List<Integer> attended = new ArrayList<>();
                    for (int i = 0; i < keys.size(); i++) {
                        boolean inFixed = pos.get(i) < fixed;
                        boolean chosen = qPos < fixed || !inFixed || take[assign[i]];
                        if (chosen && pos.get(i) <= qPos) {
                            attended.add(i);
                        }
                    }
                    double[] logit = new double[attended.size()];
                    for (int a = 0; a < logit.length; a++) {
                        double dot = 0;
                        for (int e = 0; e < D; e++) {
                            dot += (double) p.queries()[qi + e] * keys.get(attended.get(a))[e];
                        }
                        logit[a] = dot * p.scale();
                        max = Math.max(max, logit[a]);
                    }
                    double den = 0;
                    double[] acc = new double[D];
                    for (int a = 0; a < logit.length; a++) {
                        double w = Math.exp(logit[a] - max);
                        den += w;
                        for (int e = 0; e < D; e++) {
                            acc[e] += w * vals.get(attended.get(a))[e];
                        }
                    }
                    for (int e = 0; e < D; e++) {
                        out[(r * p.queryHeads() + qh) * D + e] = (float) (acc[e] / den);
                    }
                }
            }
        }
        return out;
    }

    private static double relativeError(float[] a, float[] b) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < a.length; i++) {
            num += (a[i] - b[i]) * (double) (a[i] - b[i]);
            den += b[i] * (double) b[i];
        }
        return Math.sqrt(num / den);
    }

    @Test
    void aChunkStraddlingTheFixedContextAndADecodeRowEqualTheNaiveRule() {
        SplittableRandom r = new SplittableRandom(21);
        // keep, fixed tokens, keys per cluster: the kept budget is ceil(keep x fixed)
        double[][] cases = {{0.1, 250, 9}, {0.33, 177, 5}, {0.02, 299, 31}};
        for (double[] c : cases) {
            int fixed = (int) c[1];
            StrategyPlan plan = StrategyPlan.resolve(new Strategy.Squeezed(c[0], 0, fixed, (int) c[2], 4), 512, LAYOUT, 64, OPS);
            try (BlockPool pool = new BlockPool(LAYOUT, 8L << 20); SequenceKvCache cache = filled(pool, r, 301)) {
                plan.beginPrompt(cache, 0, 400); // a prompt longer than the fixed context
                int rows = 80; // positions 221..300
                float[] q = gaussian(r, rows * HQ * D, 1);
                AttentionProblem p = problem(cache, q, rows);
                AttentionKernel k = plan.kernel(cache, 0, rows);
                float[] out = new float[p.outputLength()];
                float[] lse = new float[rows * HQ];
                k.attend(p, out, lse, null);
                SqueezedIndex[] index = plan.squeezedIndexes(cache);
                assertNotNull(index, "the fast path built the index");
                assertEquals(fixed, index[0].tokens());
                assertEquals(Math.max(1, fixed / (int) c[2]), index[0].clusters(0));
                int kept = (int) Math.ceil(c[0] * fixed);
                float[] want = naive(p, fixed, index[0], kept, OPS.kernels());
                double err = relativeError(out, want);
                assertTrue(err <= 2e-5, java.util.Arrays.toString(c) + ": chunk vs the naive rule " + err);
                float[] exact = new float[p.outputLength()];
                dev.longctx.models.decoder.AttentionPlan.exact(OPS).kernel(0, p.queryRows()).attend(p, exact, null, null);
                assertTrue(relativeError(out, exact) > 1e-4, java.util.Arrays.toString(c) + ": keys were dropped");
                for (int row = 0; row < rows; row++) {
                    assertTrue(Float.isFinite(lse[row * HQ]), "lse of row " + row);
                }
                // a decode row after the chunk: the same index
                float[] q1 = gaussian(r, HQ * D, 1);
                AttentionProblem p1 = problem(cache, q1, 1);
                float[] out1 = new float[p1.outputLength()];
                plan.kernel(cache, 0, 1).attend(p1, out1, null, null);
                assertTrue(plan.squeezedIndexes(cache)[0] == index[0], "built once");
                assertTrue(relativeError(out1, naive(p1, fixed, index[0], kept, OPS.kernels())) <= 2e-5, "decode row");
            }
        }
    }

    @Test
    void aBudgetOfEveryKeyIsExactAttention() {
        SplittableRandom r = new SplittableRandom(5);
        StrategyPlan plan = StrategyPlan.resolve(new Strategy.Squeezed(1.0, 0, 0, 8, 3), 512, LAYOUT, 64, OPS);
        try (BlockPool pool = new BlockPool(LAYOUT, 8L << 20); SequenceKvCache cache = filled(pool, r, 233)) {
            plan.beginPrompt(cache, 0, 200); // fixed context: 199 tokens
            assertEquals(199, plan.squeezedFixed(200));
            float[] q = gaussian(r, 50 * HQ * D, 1);
            AttentionProblem p = problem(cache, q, 50);
            float[] out = new float[p.outputLength()];
            plan.kernel(cache, 0, 50).attend(p, out, null, null);
            assertNotNull(plan.squeezedIndexes(cache));
            float[] exact = new float[p.outputLength()];
            dev.longctx.models.decoder.AttentionPlan.exact(OPS).kernel(0, p.queryRows()).attend(p, exact, null, null);
            assertTrue(relativeError(out, exact) <= 1e-5, "every cluster kept: " + relativeError(out, exact));
        }
    }

    @Test
    void beforeItsFirstPromptOrWithAWindowItIsExact() {
        SplittableRandom r = new SplittableRandom(8);
        StrategyPlan plan = StrategyPlan.resolve(new Strategy.Squeezed(0.1, 0, 0, 8, 3), 512, LAYOUT, 64, OPS);
        try (BlockPool pool = new BlockPool(LAYOUT, 8L << 20); SequenceKvCache cache = filled(pool, r, 120)) {
            float[] q = gaussian(r, 10 * HQ * D, 1);
            AttentionProblem p = problem(cache, q, 10);
            float[] out = new float[p.outputLength()];
            plan.kernel(cache, 0, 10).attend(p, out, null, null); // no prompt begun: no fixed context
            assertNull(plan.squeezedIndexes(cache));
            plan.beginPrompt(cache, 0, 100);
            AttentionProblem windowed = new AttentionProblem(q, 0, 10, HQ, p.kv(), p.queryPositions(), p.scale(), 0f,
                    AttentionMask.slidingWindow(32, 0));
            plan.kernel(cache, 0, 10).attend(windowed, out, null, null);
            assertNull(plan.squeezedIndexes(cache), "a windowed layer attends exactly");
            plan.beginPrompt(cache, 120, 30); // a later prompt changes nothing
            assertEquals(99, plan.squeezedFixedContext(cache));
        }
    }

    @Test
    void parametersResolveAndBadOnesAreRefused() {
        Strategy.Squeezed s = (Strategy.Squeezed) StrategyPlan.resolve(new Strategy.Squeezed(), 4096, LAYOUT, 64, OPS).strategy;
        assertEquals(new Strategy.Squeezed(1.0 / 8, 0, 0, 32, 10), s);
        assertEquals(new Strategy.Squeezed(), Strategy.parse("squeezed"));
        assertEquals(new Strategy.Squeezed(0.25, 0, 0, 0, 0), Strategy.parse("squeezed:0.25"));
        assertEquals(new Strategy.Squeezed(0.25, 0, 1000, 16, 0), Strategy.parse("Squeezed:0.25:1000:16"));
        assertEquals(999, new Strategy.Squeezed(0, 0, 2000, 0, 0).fixedFor(1000), "at most the prompt less its last token");
        assertEquals(500, new Strategy.Squeezed(0, 0, 500, 0, 0).fixedFor(1000));
        assertEquals(0, new Strategy.Squeezed().fixedFor(1));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Strategy.parse("squeezed:1.5"));
        assertTrue(e.getMessage().contains("squeezed keep"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Strategy.parse("squeezed:x"));
        assertThrows(IllegalArgumentException.class, () -> Strategy.parse("squeezed:0.1:-3"));
        assertThrows(IllegalArgumentException.class, () -> Strategy.parse("squeezed:0.1:10:4:2"));
        assertThrows(IllegalArgumentException.class, () -> new Strategy.Squeezed(0.1, -1, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new Strategy.ThinK(new Strategy.Squeezed()));
        StrategyPlan other = StrategyPlan.resolve(new Strategy.Full(), 512, LAYOUT, 64, OPS);
        try (BlockPool pool = new BlockPool(LAYOUT, 1L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            assertThrows(IllegalStateException.class, () -> other.adoptSqueezedIndexes(cache, new SqueezedIndex[1]));
        }
    }
}
