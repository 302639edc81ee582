package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link InfLlmAttention} against a naive double-precision reference of InfLLM's rule (sinks +
 * local tokens + the top-k units by the summed dot products of the query heads with the unit's
 * representative keys), at awkward sizes, and exact attention when every unit is retrieved.
 */
class InfLlmAttentionTest {
    private static final int PAGE = 13;

    /**
     * A memory of units of {@code unit} positions from {@code sinks} up to {@code coveredTo}, random
     * representatives among the valid keys, with their summed keys.
     */
    private static InfLlmMemory memory(SplittableRandom r, float[][] keys, KvView[] views, int d, int reps, int sinks, int unit,
                                       long coveredTo) {
        InfLlmMemory mem = new InfLlmMemory(views.length, reps, d);
        int ps = views[0].pageSize();
        for (int kh = 0; kh < views.length; kh++) {
            for (long first = sinks; first + unit - 1 <= coveredTo; first += unit) {
                long[] rep = new long[reps];
                float[] sum = new float[d];
                int count = 0;
                int want = r.nextInt(4) == 0 ? r.nextInt(reps + 1) : reps;
                for (int i = 0; i < want; i++) {
                    long pos = first + r.nextInt(unit);
                    if (views[kh].isValid((int) pos / ps, (int) pos % ps)) {
                        rep[count++] = pos;
                        for (int c = 0; c < d; c++) {
                            sum[c] += keys[kh][(int) pos * d + c];
                        }
                    }
                }
                float[] min = new float[d];
                float[] max = new float[d];
                java.util.Arrays.fill(min, Float.POSITIVE_INFINITY);
                java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
                for (long pos = first; pos <= first + unit - 1; pos++) {
                    if (views[kh].isValid((int) pos / ps, (int) pos % ps)) {
                        for (int c = 0; c < d; c++) {
                            min[c] = Math.min(min[c], keys[kh][(int) pos * d + c]);
                            max[c] = Math.max(max[c], keys[kh][(int) pos * d + c]);
                        }
                    }
                }
                mem.addUnit(kh, first, first + unit - 1, rep, count, sum, 0, min, max, 0);
            }
        }
        return mem;
    }

    /**
     * The key-bound variant's relevance, naively (double precision): per unit
     * {@code sum_j sum_c max(q_jc min_c, q_jc max_c)}, with min/max over the unit's valid keys
     * recomputed here from the keys (not read from the memory).
     */
    private static double[] boundScores(float[][] keys, KvView[] views, InfLlmMemory mem, AttentionProblem p, int kh, int d) {
        int g = p.groupSize();
        int units = mem.units(kh);
        double[] score = new double[units];
        for (int u = 0; u < units; u++) {
            double[] min = new double[d];
            double[] max = new double[d];
            java.util.Arrays.fill(min, Double.POSITIVE_INFINITY);
            java.util.Arrays.fill(max, Double.NEGATIVE_INFINITY);
            for (long pos = mem.first(kh, u); pos <= mem.last(kh, u); pos++) {
                if (views[kh].isValid((int) pos / PAGE, (int) pos % PAGE)) {
                    for (int c = 0; c < d; c++) {
                        min[c] = Math.min(min[c], keys[kh][(int) pos * d + c]);
                        max[c] = Math.max(max[c], keys[kh][(int) pos * d + c]);
                    }
                }
            }
            for (int j = 0; j < g; j++) {
                int qi = p.queryIndex(0, kh * g + j);
                for (int c = 0; c < d; c++) {
                    double qc = (double) p.queries()[qi + c] * p.scale();
                    score[u] += Math.max(qc * min[c], qc * max[c]);
                }
            }
        }
        return score;
    }

    /** The rule, naively: which keys of {@code kh} row 0 attends. */
    private static BitSet reference(float[][] keys, KvView[] views, InfLlmMemory mem, AttentionProblem p, int kh, int sinks,
                                    int topK, int d) {
        return reference(keys, views, mem, p, kh, sinks, topK, d, representativeScores(keys, mem, p, kh, d));
    }

    /** The paper's relevance, naively: {@code sum_j sum_r q_j . k_r} per unit. */
    private static double[] representativeScores(float[][] keys, InfLlmMemory mem, AttentionProblem p, int kh, int d) {
        int g = p.groupSize();
        int units = mem.units(kh);
        double[] score = new double[units];
        for (int u = 0; u < units; u++) {
            for (int rr = 0; rr < mem.reps(); rr++) {
                long pos = mem.representative(kh, u, rr);
                if (pos < 0) {
                    continue;
                }
                for (int j = 0; j < g; j++) {
                    int qi = p.queryIndex(0, kh * g + j);
                    for (int c = 0; c < d; c++) {
                        score[u] += (double) p.queries()[qi + c] * p.scale() * keys[kh][(int) pos * d + c];
                    }
                }
            }
        }
        return score;
    }

    /** The keys of {@code kh} row 0 attends, with the units ranked by {@code score} (ties to the older unit). */
    private static BitSet reference(float[][] keys, KvView[] views, InfLlmMemory mem, AttentionProblem p, int kh, int sinks,
                                    int topK, int d, double[] score) {
        int units = mem.units(kh);
        List<Integer> order = new ArrayList<>();
        for (int u = 0; u < units; u++) {
            order.add(u);
        }
        order.sort((a, b) -> score[a] != score[b] ? Double.compare(score[b], score[a]) : Integer.compare(a, b));
        BitSet chosen = new BitSet();
        for (int i = 0; i < Math.min(topK, units); i++) {
            chosen.set(order.get(i));
        }
        int lk = keys[kh].length / d;
        long qPos = p.queryPositions()[0];
        BitSet keep = new BitSet();
        for (int i = 0; i < lk; i++) {
            if (!views[kh].isValid(i / PAGE, i % PAGE) || !p.mask().allows(qPos, i)) {
                continue;
            }
            boolean inChosen = false;
            for (int u = chosen.nextSetBit(0); u >= 0; u = chosen.nextSetBit(u + 1)) {
                inChosen |= mem.first(kh, u) <= i && i <= mem.last(kh, u);
            }
            if (i < sinks || i > mem.coveredTo(kh) || inChosen) {
                keep.set(i);
            }
        }
        return keep;
    }

    @Test
    void fastPathIsTheRuleAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(2124);
        for (TensorOps ops : List.of(Problems.panamaTwoThreads(), Problems.allOps().get(0))) {
            for (int g : new int[] {1, 3}) {
                for (int lk : new int[] {1, 29, 300, 2051}) {
                    for (int unit : new int[] {1, 7, 64}) {
                        for (int topK : new int[] {0, 1, 5}) {
                            int kvHeads = 2;
                            int d = 24;
                            int sinks = Math.min(3, lk);
                            float[][] k = new float[kvHeads][];
                            float[][] v = new float[kvHeads][];
                            DenseKvView[] views = new DenseKvView[kvHeads];
                            for (int h = 0; h < kvHeads; h++) {
                                k[h] = Problems.gaussian(r, lk * d, 1);
                                v[h] = Problems.gaussian(r, lk * d, 1);
                                views[h] = DenseKvView.of(k[h], v[h], d, DType.F32, PAGE);
                                for (int i = 5; i < lk - 1; i += 17) {
                                    views[h].invalidate(i); // evicted slots: never attended, never representatives
                                }
                            }
                            InfLlmMemory mem = memory(r, k, views, d, 4, sinks, unit, lk - 1 - Math.min(lk - 1, 20));
                            float[] q = Problems.gaussian(r, kvHeads * g * d, 1.5);
                            long[] pos = {lk - 1};
                            for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.slidingWindow(200, 2)}) {
                                AttentionProblem p = new AttentionProblem(q, 0, 1, kvHeads * g, views, pos, (float) (1 / Math.sqrt(d)),
                                        0f, mask);
                                InfLlmAttention kernel = new InfLlmAttention(ops, sinks, topK);
                                String what = ops.kernels().name() + " g=" + g + " lk=" + lk + " unit=" + unit + " topK=" + topK + " "
                                        + mask;
                                KvView[] explicit = new KvView[kvHeads];
                                for (int kh = 0; kh < kvHeads; kh++) {
                                    BitSet want = reference(k, views, mem, p, kh, sinks, topK, d);
                                    kernel.attend(mem, p, new float[p.outputLength()], null, null); // binds the memory
                                    assertEquals(want, kernel.selectedKeys(p, 0, kh), what + " head " + kh);
                                    explicit[kh] = only(k[kh], v[kh], d, lk, want);
                                }
                                float[] out = new float[p.outputLength()];
                                kernel.attend(mem, p, out, null, null);
                                AttentionProblem ref = new AttentionProblem(q, 0, 1, kvHeads * g, explicit, pos, p.scale(), 0f, mask);
                                float[] refOut = new float[p.outputLength()];
                                new NaiveAttention().attend(ref, refOut, null, null);
                                double err = Problems.relativeError(out, refOut, out.length);
                                assertTrue(err <= 1e-5, what + ": relative error " + err);
                                if (mask == AttentionMask.CAUSAL) {
                                    // a causal decode step reads the chosen rows in place by index (the fast path ran)
                                    assertTrue(kernel.indexedPages() > 0, what + ": no page read by index");
                                }
                                // with an observer the generic path (gathered keys) runs: the same output
                                float[] observed = new float[p.outputLength()];
                                kernel.attend(mem, p, observed, null, (row, qh, kh, page, probs, count) -> { });
                                err = Problems.relativeError(observed, refOut, out.length);
                                assertTrue(err <= 1e-5, what + " observed: relative error " + err);
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * The key-bound variant ({@link InfLlmAttention.Relevance#KEY_BOUND}): the kept keys equal the
     * naive reference of its rule (bounds recomputed from the valid keys) at awkward sizes, the
     * output equals the naive kernel over them, on both decode paths; a memory without bounds is
     * refused.
     */
    @Test
    void keyBoundVariantIsItsRuleAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(2126);
        for (TensorOps ops : List.of(Problems.panamaTwoThreads(), Problems.allOps().get(0))) {
            for (int g : new int[] {1, 3}) {
                for (int lk : new int[] {29, 300, 2051}) {
                    for (int unit : new int[] {1, 7, 64}) {
                        int kvHeads = 2;
                        int d = 24;
                        int sinks = 3;
                        int topK = 4;
                        float[][] k = new float[kvHeads][];
                        float[][] v = new float[kvHeads][];
                        DenseKvView[] views = new DenseKvView[kvHeads];
                        for (int h = 0; h < kvHeads; h++) {
                            k[h] = Problems.gaussian(r, lk * d, 1);
                            v[h] = Problems.gaussian(r, lk * d, 1);
                            views[h] = DenseKvView.of(k[h], v[h], d, DType.F32, PAGE);
                            for (int i = 5; i < lk - 1; i += 17) {
                                views[h].invalidate(i);
                            }
                        }
                        InfLlmMemory mem = memory(r, k, views, d, 4, sinks, unit, lk - 1 - Math.min(lk - 1, 20));
                        float[] q = Problems.gaussian(r, kvHeads * g * d, 1.5);
                        AttentionProblem p = new AttentionProblem(q, 0, 1, kvHeads * g, views, new long[] {lk - 1},
                                (float) (1 / Math.sqrt(d)), 0f, AttentionMask.CAUSAL);
                        InfLlmAttention kernel = new InfLlmAttention(ops, sinks, topK, InfLlmAttention.Relevance.KEY_BOUND);
                        String what = ops.kernels().name() + " g=" + g + " lk=" + lk + " unit=" + unit;
                        kernel.attend(mem, p, new float[p.outputLength()], null, null); // binds the memory
                        KvView[] explicit = new KvView[kvHeads];
                        for (int kh = 0; kh < kvHeads; kh++) {
                            BitSet want = reference(k, views, mem, p, kh, sinks, topK, d, boundScores(k, views, mem, p, kh, d));
                            assertEquals(want, kernel.selectedKeys(p, 0, kh), what + " head " + kh);
                            explicit[kh] = only(k[kh], v[kh], d, lk, want);
                        }
                        float[] out = new float[p.outputLength()];
                        kernel.attend(mem, p, out, null, null);
                        float[] refOut = new float[p.outputLength()];
                        new NaiveAttention().attend(new AttentionProblem(q, 0, 1, kvHeads * g, explicit, p.queryPositions(),
                                p.scale(), 0f, AttentionMask.CAUSAL), refOut, null, null);
                        double err = Problems.relativeError(out, refOut, out.length);
                        assertTrue(err <= 1e-5, what + ": relative error " + err);
                        float[] observed = new float[p.outputLength()];
                        kernel.attend(mem, p, observed, null, (row, qh, kh, page, probs, count) -> { });
                        err = Problems.relativeError(observed, refOut, out.length);
                        assertTrue(err <= 1e-5, what + " observed: relative error " + err);
                    }
                }
            }
        }
        // units added without bounds cannot be ranked by them
        int d = 8;
        KvView[] kv = Problems.views(new SplittableRandom(3), 1, 200, d, DType.F32, PAGE, 0);
        InfLlmMemory bare = new InfLlmMemory(1, 1, d);
        for (int u = 0; u < 10; u++) {
            bare.addUnit(0, 4 + 10L * u, 13 + 10L * u, new long[] {4 + 10L * u}, 1, new float[d], 0);
        }
        AttentionProblem p = AttentionProblem.causal(new float[d], 1, 1, kv);
        InfLlmAttention kernel = new InfLlmAttention(Problems.panamaOneThread(), 4, 2, InfLlmAttention.Relevance.KEY_BOUND);
        assertThrows(IllegalStateException.class, () -> kernel.attend(bare, p, new float[p.outputLength()], null, null));
    }

    @Test
    void retrievingEveryUnitIsExactAttention() {
        SplittableRandom r = new SplittableRandom(2125);
        TensorOps ops = Problems.panamaTwoThreads();
        for (int g : new int[] {1, 4}) {
            for (int lk : new int[] {1, 17, 513, 4099}) {
                int kvHeads = 2;
                int d = 32;
                float[][] keys = new float[kvHeads][];
                KvView[] kv = new KvView[kvHeads];
                for (int h = 0; h < kvHeads; h++) {
                    keys[h] = Problems.gaussian(r, lk * d, 1);
                    kv[h] = DenseKvView.of(keys[h], Problems.gaussian(r, lk * d, 1), d, DType.F32, PAGE);
                }
                float[] q = Problems.gaussian(r, kvHeads * g * d, 1);
                AttentionProblem p = AttentionProblem.causal(q, 1, kvHeads * g, kv);
                InfLlmMemory mem = memory(r, keys, kv, d, 4, Math.min(4, lk), 50, lk - 100);
                int units = mem.units(0);
                Problems.assertMatchesNaive(new InfLlmAttention(ops, 4, units).over(mem), p, 1e-5, "g=" + g + " lk=" + lk);
                // and with no unit closed yet (the window holds every token)
                Problems.assertMatchesNaive(new InfLlmAttention(ops, 4, 0).over(new InfLlmMemory(kvHeads, 4, d)), p, 1e-5,
                        "empty memory g=" + g + " lk=" + lk);
            }
        }
    }

    @Test
    void misuseIsReported() {
        TensorOps ops = Problems.panamaOneThread();
        KvView[] kv = Problems.views(new SplittableRandom(1), 2, 10, 8, DType.F32, PAGE, 0);
        AttentionProblem p = AttentionProblem.causal(new float[16], 1, 2, kv);
        float[] out = new float[p.outputLength()];
        assertThrows(IllegalStateException.class, () -> new InfLlmAttention(ops, 4, 2).attend(p, out, null, null));
        assertThrows(IllegalArgumentException.class, () -> new InfLlmAttention(ops, 4, 2).attend(new InfLlmMemory(3, 4, 8), p, out, null, null));
        assertThrows(IllegalArgumentException.class, () -> new InfLlmAttention(ops, -1, 2));
        InfLlmMemory mem = new InfLlmMemory(1, 2, 8);
        mem.addUnit(0, 4, 9, new long[] {5, 6}, 2, new float[8], 0);
        assertThrows(IllegalArgumentException.class, () -> mem.addUnit(0, 8, 12, new long[] {9}, 1, new float[8], 0), "overlapping unit");
    }

    /** The head's keys and values as a dense F32 view where only the keys in {@code want} are valid. */
    private static DenseKvView only(float[] k, float[] v, int d, int lk, BitSet want) {
        DenseKvView e = DenseKvView.of(k, v, d, DType.F32, PAGE);
        for (int i = 0; i < lk; i++) {
            if (!want.get(i)) {
                e.invalidate(i);
            }
        }
        return e;
    }
}
