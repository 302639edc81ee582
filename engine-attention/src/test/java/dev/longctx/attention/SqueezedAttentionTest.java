package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SqueezedAttentionTest {

    /** Keys and values of lk tokens per KV head; the first {@code fixed} are the context. */
    private record Data(float[][] k, float[][] v, int fixed, int d) {
        KvView[] views(int upTo, int ps, DType dtype) {
            KvView[] out = new KvView[k.length];
            for (int h = 0; h < k.length; h++) {
                out[h] = DenseKvView.of(Arrays.copyOf(k[h], upTo * d), Arrays.copyOf(v[h], upTo * d), d, dtype, ps);
            }
            return out;
        }
    }

    private static Data data(SplittableRandom r, int kvHeads, int lk, int fixed, int d, int blobs) {
        float[][] k = new float[kvHeads][];
        float[][] v = new float[kvHeads][];
        for (int h = 0; h < kvHeads; h++) {
            float[] centres = Problems.gaussian(r, blobs * d, 3);
            k[h] = Problems.gaussian(r, lk * d, 0.5);
            for (int i = 0; i < lk; i++) {
                int b = r.nextInt(blobs);
                for (int c = 0; c < d; c++) {
                    k[h][i * d + c] += centres[b * d + c];
                }
            }
            v[h] = Problems.gaussian(r, lk * d, 1);
        }
        return new Data(k, v, fixed, d);
    }

    /**
     * The naive reference of the online rule: per (row, query head) the centroid scores by the
     * kernels' dot product (the rule's arithmetic), clusters sorted by (score desc, NaN first; index asc), taken until their sizes
     * (counted from the assignment) reach the budget; then a double-precision softmax over the fixed
     * keys of those clusters (read from the view) and every new key the mask allows.
     */
    static float[] naiveSqueezed(AttentionProblem p, SqueezedIndex index, double keep,
                                  dev.longctx.core.kernels.spi.VectorKernels kernels) {
        return naiveSqueezed(p, index, (int) Math.min(index.tokens(), Math.ceil(keep * index.tokens())), kernels);
    }

    /** The same reference with the budget in fixed keys (clusters are taken until their keys reach it). */
    static float[] naiveSqueezed(AttentionProblem p, SqueezedIndex index, int budget,
                                  dev.longctx.core.kernels.spi.VectorKernels kernels) {
        int d = p.headDim();
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
                        float[] kk = new float[d];
                        float[] vv = new float[d];
                        dev.longctx.core.kernels.spi.Quantization.dequantize(view.dtype(), view.keys(page), s * view.rowBytes(), kk, 0, d);
                        dev.longctx.core.kernels.spi.Quantization.dequantize(view.dtype(), view.values(page), s * view.rowBytes(), vv, 0, d);
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
                for (int j = 0; j < g; j++) {
                    int qh = h * g + j;
                    int qi = p.queryIndex(r, qh);
                    double[] score = new double[c];
                    for (int x = 0; x < c; x++) {
                        // the rule's arithmetic: the kernels' f32 dot product
                        float s = kernels.dot(p.queries(), qi, cent, x * d, d);
                        score[x] = Float.isNaN(s) ? Double.POSITIVE_INFINITY : s;
                    }
                    List<Integer> order = new ArrayList<>();
                    for (int x = 0; x < c; x++) {
                        order.add(x);
                    }
                    order.sort(Comparator.<Integer>comparingDouble(x -> -score[x]).thenComparingInt(x -> x));
                    boolean[] take = new boolean[c];
                    int kept = 0;
                    for (int x : order) {
                        if (kept >= budget) {
                            break;
                        }
                        if (size[x] > 0) {
                            take[x] = true;
                            kept += size[x];
                        }
                    }
                    List<Integer> attended = new ArrayList<>();
                    for (int i = 0; i < keys.size(); i++) {
                        boolean fixed = i < index.tokens();
                        if ((!fixed || take[assign[i]]) && p.mask().allows(p.queryPositions()[r], pos.get(i))) {
                            attended.add(i);
                        }
                    }
                    double max = Double.NEGATIVE_INFINITY;
                    double[] logit = new double[attended.size()];
                    for (int a = 0; a < logit.length; a++) {
                        double dot = 0;
                        for (int e = 0; e < d; e++) {
                            dot += (double) p.queries()[qi + e] * keys.get(attended.get(a))[e];
                        }
                        logit[a] = dot * p.scale();
                        max = Math.max(max, logit[a]);
                    }
                    double den = 0;
                    double[] acc = new double[d];
                    for (int a = 0; a < logit.length; a++) {
                        double w = Math.exp(logit[a] - max);
                        den += w;
                        for (int e = 0; e < d; e++) {
                            acc[e] += w * vals.get(attended.get(a))[e];
                        }
                    }
                    for (int e = 0; e < d; e++) {
                        out[(r * p.queryHeads() + qh) * d + e] = den == 0 ? 0f : (float) (acc[e] / den);
                    }
                }
            }
        }
        return out;
    }

    @Test
    void fastPathEqualsTheNaiveReferenceAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(6);
        // kvHeads, g, lk, fixed, d, ps, clusters, blobs, keep (per mille)
        int[][] cases = {{2, 2, 1100, 1000, 16, 16, 37, 9, 100}, {1, 3, 533, 500, 32, 7, 50, 5, 260},
            {3, 1, 700, 699, 16, 13, 11, 11, 500},
            // decode steps (one row: the per-query-head path), grouped heads, F32 and F16 pages
            {2, 2, 801, 800, 32, 7, 23, 5, 150}, {1, 4, 512, 511, 16, 9, 17, 4, 200}};
        for (int[] c : cases) {
            Data data = data(r, c[0], c[2], c[3], c[4], c[7]);
            DType dtype = c[0] == 1 ? DType.F16 : DType.F32;
            for (TensorOps ops : Problems.allOps()) {
                SqueezedIndex index = SqueezedIndex.build(data.views(c[3], c[5], dtype), c[6], 5, 1, ops);
                float[] q = Problems.gaussian(r, (c[2] - c[3]) * c[0] * c[1] * c[4], 1);
                AttentionProblem p = AttentionProblem.causal(q, c[2] - c[3], c[0] * c[1], data.views(c[2], c[5], dtype));
                SqueezedAttention kernel = new SqueezedAttention(ops, index, c[8] / 1000.0);
                float[] out = new float[p.outputLength()];
                kernel.attend(p, out, null, null);
                String what = Arrays.toString(c) + " " + ops.kernels().name();
                double err = Problems.relativeError(out, naiveSqueezed(p, index, c[8] / 1000.0, ops.kernels()), out.length);
                assertTrue(err <= 2e-5, what + ": vs the naive reference " + err);
                float[] exact = new float[p.outputLength()];
                new NaiveAttention().attend(p, exact, null, null);
                assertTrue(Problems.relativeError(out, exact, out.length) > 1e-4, what + ": nothing was dropped");
            }
        }
    }

    /**
     * The budget given in keys (a strategy's keys per query head) is the same rule: equal to the
     * naive reference at that budget, to the fraction constructor where both give it, and
     * a budget past the context keeps every cluster.
     */
    @Test
    void aBudgetInKeysEqualsTheNaiveReference() {
        SplittableRandom r = new SplittableRandom(9);
        Data data = data(r, 2, 613, 577, 16, 7);
        for (TensorOps ops : Problems.allOps()) {
            SqueezedIndex index = SqueezedIndex.build(data.views(577, 13, DType.F32), 29, 4, 5, ops);
            float[] q = Problems.gaussian(r, 36 * 4 * 16, 1);
            AttentionProblem p = AttentionProblem.causal(q, 36, 4, data.views(613, 13, DType.F32));
            for (int keys : new int[] {1, 61, 200}) {
                SqueezedAttention kernel = new SqueezedAttention(ops, index, keys);
                assertEquals(keys, kernel.budget());
                float[] out = new float[p.outputLength()];
                kernel.attend(p, out, null, null);
                double err = Problems.relativeError(out, naiveSqueezed(p, index, keys, ops.kernels()), out.length);
                assertTrue(err <= 2e-5, keys + " keys, " + ops.kernels().name() + ": vs the naive reference " + err);
                SqueezedAttention byFraction = new SqueezedAttention(ops, index, keys / 577.0);
                assertEquals(keys, byFraction.budget());
                float[] out2 = new float[p.outputLength()];
                byFraction.attend(p, out2, null, null);
                // the same clusters; the Panama reductions may round the last bits differently from call to call
                assertTrue(Problems.relativeError(out2, out, out.length) <= 1e-6, keys + " keys: same budget, same rule");
            }
            assertEquals(577, new SqueezedAttention(ops, index, 10_000).budget());
            // a decode row under a sliding window with sinks: fixed keys outside it are masked one by one
            KvView[] views = data.views(613, 13, DType.F32);
            AttentionProblem windowed = new AttentionProblem(Problems.gaussian(r, 4 * 16, 1), 0, 1, 4, views,
                    AttentionProblem.lastPositions(views[0], 1), 0.25f, 0f, AttentionMask.slidingWindow(300, 4));
            float[] wout = new float[windowed.outputLength()];
            new SqueezedAttention(ops, index, 61).attend(windowed, wout, null, null);
            double werr = Problems.relativeError(wout, naiveSqueezed(windowed, index, 61, ops.kernels()), wout.length);
            assertTrue(werr <= 2e-5, "windowed decode row vs the naive reference " + werr);
            Problems.assertMatchesNaive(new SqueezedAttention(ops, index, 577), p, 1e-5, "every key kept");
        }
    }

    @Test
    void exactWhenEveryClusterIsKept() {
        SplittableRandom r = new SplittableRandom(2);
        Data data = data(r, 2, 900, 800, 16, 6);
        TensorOps ops = Problems.panamaTwoThreads();
        SqueezedIndex index = SqueezedIndex.build(data.views(800, 16, DType.F32), 20, 4, 3, ops);
        float[] q = Problems.gaussian(r, 100 * 4 * 16, 1);
        AttentionProblem p = AttentionProblem.causal(q, 100, 4, data.views(900, 16, DType.F32));
        Problems.assertMatchesNaive(new SqueezedAttention(ops, index, 1.0), p, 1e-5, "keep every cluster");
    }

    @Test
    void kMeansAssignsEveryKeyToItsNearestCentroidDeterministically() {
        SplittableRandom r = new SplittableRandom(3);
        Data data = data(r, 2, 1000, 1000, 16, 7);
        SqueezedIndex a = SqueezedIndex.build(data.views(1000, 16, DType.F32), 7, 8, 42, Problems.panamaOneThread());
        SqueezedIndex b = SqueezedIndex.build(data.views(1000, 16, DType.F32), 7, 8, 42, Problems.panamaTwoThreads());
        for (int h = 0; h < 2; h++) {
            assertArrayEquals(a.assignment(h), b.assignment(h), "head " + h + ": 1 vs 2 threads");
            float[] cent = a.centroids(h);
            int[] as = a.assignment(h);
            for (int i = 0; i < 1000; i++) {
                double mine = dist(data.k[h], i, cent, as[i], 16);
                for (int c = 0; c < 7; c++) {
                    assertTrue(mine <= dist(data.k[h], i, cent, c, 16) + 1e-3, "key " + i + " nearer to " + c);
                }
            }
        }
        assertEquals(1000, a.tokens());
        assertEquals(999, a.lastPosition());
        assertEquals(0, a.firstPosition());
    }

    private static double dist(float[] k, int i, float[] cent, int c, int d) {
        double s = 0;
        for (int e = 0; e < d; e++) {
            double x = k[i * d + e] - cent[c * d + e];
            s += x * x;
        }
        return s;
    }

    @Test
    void badInputIsRejected() {
        SplittableRandom r = new SplittableRandom(4);
        Data data = data(r, 1, 300, 200, 16, 3);
        TensorOps ops = Problems.panamaOneThread();
        assertThrows(IllegalArgumentException.class, () -> SqueezedIndex.build(data.views(200, 16, DType.F32), 201, 1, 0, ops));
        SqueezedIndex index = SqueezedIndex.build(data.views(200, 16, DType.F32), 10, 2, 0, ops);
        assertThrows(IllegalArgumentException.class, () -> new SqueezedAttention(ops, index, 0));
        AttentionProblem shorter = AttentionProblem.causal(Problems.gaussian(r, 16, 1), 1, 1, data.views(150, 16, DType.F32));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new SqueezedAttention(ops, index, 0.5).attend(shorter, new float[16], null, null));
        assertTrue(e.getMessage().contains("indexed context"), e.getMessage());
    }
}
