package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * {@link RecordingAttention}'s selection rule against a naive double-precision reference of it, and
 * {@link PersistentSelectionAttention} against the naive kernel on the equivalent explicit selection
 * (TidalDecode's and Recycled Attention's two halves).
 */
class PersistentSelectionTest {
    private static final int PAGE = 32;

    /** Keys and values as floats next to their views, with some slots evicted. */
    private record Heads(float[][] keys, float[][] values, DenseKvView[] views, int d) {
        static Heads random(SplittableRandom r, int kvHeads, int lk, int d, boolean evict) {
            float[][] k = new float[kvHeads][];
            float[][] v = new float[kvHeads][];
            DenseKvView[] views = new DenseKvView[kvHeads];
            for (int h = 0; h < kvHeads; h++) {
                k[h] = Problems.gaussian(r, lk * d, 1);
                v[h] = Problems.gaussian(r, lk * d, 1);
                views[h] = DenseKvView.of(k[h], v[h], d, DType.F32, PAGE);
                if (evict) {
                    for (int i = 3; i < lk - 1; i += 11) {
                        views[h].invalidate(i);
                    }
                }
            }
            return new Heads(k, v, views, d);
        }

        /** Fresh views where only {@code keep}'s positions of each head are valid. */
        KvView[] explicit(BitSet[] keep) {
            KvView[] out = new KvView[views.length];
            for (int h = 0; h < views.length; h++) {
                DenseKvView view = DenseKvView.of(keys[h], values[h], d, DType.F32, PAGE);
                for (int i = 0; i < keys[h].length / d; i++) {
                    if (!keep[h].get(i)) {
                        view.invalidate(i);
                    }
                }
                out[h] = view;
            }
            return out;
        }
    }

    /**
     * The rule, naively: the current token, then the {@code k - 1} visible keys with the largest sum
     * over the group of per-head softmax probabilities (double precision), ties to the older key.
     * Returns the scores too, to judge near-ties.
     */
    private static long[] reference(Heads heads, AttentionProblem p, int row, int kh, int k, double[] scoresOut) {
        KvView view = p.kv()[kh];
        int d = heads.d();
        int g = p.groupSize();
        long qPos = p.queryPositions()[row];
        int lk = heads.keys()[kh].length / d;
        List<Integer> visible = new ArrayList<>();
        for (int i = 0; i < lk; i++) {
            if (view.isValid(i / PAGE, i % PAGE) && p.mask().allows(qPos, i)) {
                visible.add(i);
            }
        }
        double[] score = new double[lk];
        for (int j = 0; j < g; j++) {
            int qi = p.queryIndex(row, kh * g + j);
            double[] logit = new double[visible.size()];
            double max = Double.NEGATIVE_INFINITY;
            for (int n = 0; n < visible.size(); n++) {
                int i = visible.get(n);
                double dot = 0;
                for (int c = 0; c < d; c++) {
                    dot += (double) p.queries()[qi + c] * p.scale() * heads.keys()[kh][i * d + c];
                }
                logit[n] = p.softCap() > 0 ? p.softCap() * Math.tanh(dot / p.softCap()) : dot;
                max = Math.max(max, logit[n]);
            }
            double sum = 0;
            for (double l : logit) {
                sum += Math.exp(l - max);
            }
            for (int n = 0; n < visible.size(); n++) {
                score[visible.get(n)] += Math.exp(logit[n] - max) / sum;
            }
        }
        System.arraycopy(score, 0, scoresOut, 0, lk);
        List<Integer> order = new ArrayList<>();
        boolean current = false;
        for (int i : visible) {
            if (i == qPos) {
                current = true;
            } else {
                order.add(i);
            }
        }
        order.sort((a, b) -> score[a] != score[b] ? Double.compare(score[b], score[a]) : Integer.compare(a, b));
        int take = Math.max(0, Math.min(order.size(), k - (current ? 1 : 0)));
        List<Integer> chosen = new ArrayList<>(order.subList(0, take));
        if (current) {
            chosen.add((int) qPos);
        }
        return chosen.stream().mapToLong(Integer::longValue).sorted().toArray();
    }

    @Test
    void recordedSelectionIsTheRuleAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(21);
        for (TensorOps ops : List.of(Problems.panamaTwoThreads(), Problems.allOps().get(0))) {
            for (int g : new int[] {1, 3}) {
                for (int lk : new int[] {1, 17, 100, 4099}) {
                    for (int d : new int[] {8, 64}) {
                        for (float cap : new float[] {0f, 5f}) {
                            int kvHeads = 2;
                            Heads heads = Heads.random(r, kvHeads, lk, d, true);
                            float[] q = Problems.gaussian(r, kvHeads * g * d, 1.5);
                            long[] pos = {lk - 1};
                            for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL,
                                    AttentionMask.slidingWindow(50, 3)}) {
                                AttentionProblem p = new AttentionProblem(q, 0, 1, kvHeads * g, heads.views(), pos,
                                        (float) (1 / Math.sqrt(d)), cap, mask);
                                for (int k : new int[] {1, 5, 63, 1000}) {
                                    PersistentSelection sel = new PersistentSelection(kvHeads);
                                    new RecordingAttention(ops, new NaiveAttention(), k).record(sel, p);
                                    assertEquals(lk - 1, sel.keepFrom());
                                    for (int kh = 0; kh < kvHeads; kh++) {
                                        double[] scores = new double[lk];
                                        long[] want = reference(heads, p, 0, kh, k, scores);
                                        long[] got = sel.positions(kh);
                                        String what = ops.kernels().name() + " g=" + g + " lk=" + lk + " d=" + d + " cap="
                                                + cap + " " + mask + " k=" + k + " head " + kh;
                                        assertSameUpToNearTies(want, got, scores, lk - 1, what);
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /**
     * The rule with forced keys, naively: every visible sink (position below {@code sinks}) and
     * recent key ({@code 0 <= qPos - pos < window}), then the visible others with the largest sum
     * over the group of per-head softmax probabilities (double precision, the softmax over every
     * visible key) up to {@code k} in all, ties to the older key. Scores go to {@code scoresOut}.
     */
    private static long[] referenceWithForced(Heads heads, AttentionProblem p, int kh, int k, int sinks, int window,
                                              double[] scoresOut) {
        KvView view = p.kv()[kh];
        int d = heads.d();
        int g = p.groupSize();
        long qPos = p.queryPositions()[0];
        int lk = heads.keys()[kh].length / d;
        List<Integer> visible = new ArrayList<>();
        for (int i = 0; i < lk; i++) {
            if (view.isValid(i / PAGE, i % PAGE) && p.mask().allows(qPos, i)) {
                visible.add(i);
            }
        }
        double[] score = new double[lk];
        for (int j = 0; j < g; j++) {
            int qi = p.queryIndex(0, kh * g + j);
            double[] logit = new double[visible.size()];
            double max = Double.NEGATIVE_INFINITY;
            for (int n = 0; n < visible.size(); n++) {
                double dot = 0;
                for (int c = 0; c < d; c++) {
                    dot += (double) p.queries()[qi + c] * p.scale() * heads.keys()[kh][visible.get(n) * d + c];
                }
                logit[n] = p.softCap() > 0 ? p.softCap() * Math.tanh(dot / p.softCap()) : dot;
                max = Math.max(max, logit[n]);
            }
            double sum = 0;
            for (double l : logit) {
                sum += Math.exp(l - max);
            }
            for (int n = 0; n < visible.size(); n++) {
                score[visible.get(n)] += Math.exp(logit[n] - max) / sum;
            }
        }
        System.arraycopy(score, 0, scoresOut, 0, lk);
        List<Integer> chosen = new ArrayList<>();
        List<Integer> others = new ArrayList<>();
        for (int i : visible) {
            if (i < sinks || (i <= qPos && qPos - i < window)) {
                chosen.add(i);
            } else {
                others.add(i);
            }
        }
        others.sort((a, b) -> score[a] != score[b] ? Double.compare(score[b], score[a]) : Integer.compare(a, b));
        chosen.addAll(others.subList(0, Math.max(0, Math.min(others.size(), k - chosen.size()))));
        return chosen.stream().mapToLong(Integer::longValue).sorted().toArray();
    }

    @Test
    void recordedSelectionWithSinksAndWindowIsItsRuleAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(24);
        TensorOps ops = Problems.panamaTwoThreads();
        for (int g : new int[] {1, 3}) {
            for (int lk : new int[] {1, 17, 100, 4099}) {
                int d = 16;
                int kvHeads = 2;
                Heads heads = Heads.random(r, kvHeads, lk, d, true);
                float[] q = Problems.gaussian(r, kvHeads * g * d, 1.5);
                long[] pos = {lk - 1};
                for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.slidingWindow(50, 3)}) {
                    AttentionProblem p = new AttentionProblem(q, 0, 1, kvHeads * g, heads.views(), pos, 0.25f, 0f, mask);
                    for (int k : new int[] {1, 7, 63, 136, 1000}) {
                        SelectedAttentionBudget b = RecordingAttention.withLocalWindow(k);
                        PersistentSelection sel = new PersistentSelection(kvHeads);
                        new RecordingAttention(ops, new NaiveAttention(), b).record(sel, p);
                        for (int kh = 0; kh < kvHeads; kh++) {
                            double[] scores = new double[lk];
                            long[] want = referenceWithForced(heads, p, kh, k, b.sinks(), b.window(), scores);
                            String what = "g=" + g + " lk=" + lk + " " + mask + " " + b + " head " + kh;
                            long[] got = sel.positions(kh);
                            assertEquals(want.length, got.length, what);
                            for (long w : want) {
                                boolean forced = w < b.sinks() || lk - 1 - w < b.window();
                                if (forced) {
                                    assertTrue(Arrays.binarySearch(got, w) >= 0, what + ": forced key " + w + " not recorded");
                                }
                            }
                            assertSameUpToNearTies(want, got, scores, lk - 1, what);
                        }
                    }
                }
            }
        }
    }

    /**
     * Issue 21's failure, reduced: a selection recorded from a query that looks far back, attended
     * by a head that looks at the previous token (the retrieval model's local heads, 1 to 15
     * positions back with probability 0.6-1.0). With the recent window recorded its output equals
     * exact attention; with the papers' rule (current token only) the previous token is lost.
     */
    @Test
    void aLocalHeadKeepsItsKeyThroughASelectionRecordedFarAway() {
        SplittableRandom r = new SplittableRandom(25);
        TensorOps ops = Problems.panamaTwoThreads();
        int lk = 1000;
        int d = 32;
        int kvHeads = 1;
        int k = 200;
        Heads heads = Heads.random(r, kvHeads, lk, d, false);
        long[] pos = {lk - 1};
        // the recording query: a sharp match of key 37 (far back)
        float[] far = new float[d];
        // the later head: a sharp match of the previous token, key lk - 2
        float[] local = new float[d];
        for (int c = 0; c < d; c++) {
            far[c] = 4 * heads.keys()[0][37 * d + c];
            local[c] = 4 * heads.keys()[0][(lk - 2) * d + c];
        }
        AttentionProblem record = new AttentionProblem(far, 0, 1, 1, heads.views(), pos, 0.25f, 0f, AttentionMask.CAUSAL);
        AttentionProblem later = new AttentionProblem(local, 0, 1, 1, heads.views(), pos, 0.25f, 0f, AttentionMask.CAUSAL);
        float[] exact = new float[d];
        new NaiveAttention().attend(later, exact, null, null);

        PersistentSelection windowed = new PersistentSelection(kvHeads);
        new RecordingAttention(ops, new NaiveAttention(), RecordingAttention.withLocalWindow(k)).record(windowed, record);
        assertTrue(windowed.keeps(0, 37) && windowed.keeps(0, lk - 2), "the far key and the previous token");
        float[] out = new float[d];
        new PersistentSelectionAttention(ops).attend(windowed, later, out, null, null);
        // the local head's logit for its key is about 32 (0.25 * 4 * |k|^2, d = 32), the others' about
        // 0 +- 6: the mass outside the window is of order 1e-5, and so is the error
        assertTrue(Problems.relativeError(out, exact, d) <= 1e-3, "windowed: " + Problems.relativeError(out, exact, d));

        PersistentSelection papers = new PersistentSelection(kvHeads);
        new RecordingAttention(ops, new NaiveAttention(), k).record(papers, record);
        float[] lost = new float[d];
        new PersistentSelectionAttention(ops).attend(papers, later, lost, null, null);
        assertTrue(!papers.keeps(0, lk - 2) && Problems.relativeError(lost, exact, d) > 0.3,
                "the papers' rule drops the previous token here: " + Problems.relativeError(lost, exact, d));
    }

    /**
     * Equal sets, or sets that differ only in keys whose reference scores tie (1e-5 relative) with the
     * weakest key the reference chose by score (the current token is kept whatever its score): float
     * and double scoring may order a near-tie differently.
     */
    private static void assertSameUpToNearTies(long[] want, long[] got, double[] scores, long current, String what) {
        assertEquals(want.length, got.length, what + ": size " + Arrays.toString(got));
        if (Arrays.equals(want, got)) {
            return;
        }
        double weakest = Double.POSITIVE_INFINITY;
        for (long w : want) {
            if (w == current) {
                continue; // kept whatever its score
            }
            weakest = Math.min(weakest, scores[(int) w]);
        }
        for (long x : got) {
            if (Arrays.binarySearch(want, x) < 0) {
                assertTrue(Math.abs(scores[(int) x] - weakest) <= 1e-5 * weakest,
                        what + ": selected key " + x + " (score " + scores[(int) x] + ") is not a near-tie of " + weakest
                                + "; only wanted " + Arrays.toString(Arrays.stream(want).filter(w -> Arrays.binarySearch(got, w) < 0).toArray())
                                + " only got " + Arrays.toString(Arrays.stream(got).filter(w -> Arrays.binarySearch(want, w) < 0).toArray())
);
            }
        }
    }

    @Test
    void attendingASelectionEqualsNaiveOverThoseKeysPlusTheNewOnes() {
        SplittableRandom r = new SplittableRandom(22);
        TensorOps ops = Problems.panamaTwoThreads();
        for (int g : new int[] {1, 4}) {
            for (int lk : new int[] {1, 33, 700, 4099}) {
                int d = 16;
                int kvHeads = 2;
                Heads heads = Heads.random(r, kvHeads, lk, d, true);
                float[] q = Problems.gaussian(r, kvHeads * g * d, 1);
                long[] pos = {lk - 1};
                PersistentSelection sel = new PersistentSelection(kvHeads);
                long keepFrom = Math.max(0, lk - 5);
                BitSet[] keep = new BitSet[kvHeads];
                for (int kh = 0; kh < kvHeads; kh++) {
                    BitSet chosen = new BitSet();
                    for (int i = 0; i < lk; i++) {
                        if (r.nextInt(7) == 0) {
                            chosen.set(i); // evicted ones too: the kernel must still skip them
                        }
                    }
                    sel.record(kh, DenseKvView.of(heads.keys()[kh], heads.values()[kh], d, DType.F32, PAGE), chosen);
                    keep[kh] = (BitSet) chosen.clone();
                    keep[kh].set((int) keepFrom, lk);
                    for (int i = 0; i < lk; i++) {
                        if (!heads.views()[kh].isValid(i / PAGE, i % PAGE)) {
                            keep[kh].clear(i);
                        }
                    }
                }
                sel.keepFrom(keepFrom);
                for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.slidingWindow(200, 4)}) {
                    AttentionProblem p = new AttentionProblem(q, 0, 1, kvHeads * g, heads.views(), pos, 0.25f, 0f, mask);
                    AttentionProblem ref = new AttentionProblem(q, 0, 1, kvHeads * g, heads.explicit(keep), pos, 0.25f, 0f, mask);
                    float[] out = new float[p.outputLength()];
                    float[] lse = new float[kvHeads * g];
                    new PersistentSelectionAttention(ops).attend(sel, p, out, lse, null);
                    float[] refOut = new float[p.outputLength()];
                    float[] refLse = new float[kvHeads * g];
                    new NaiveAttention().attend(ref, refOut, refLse, null);
                    double err = Problems.relativeError(out, refOut, out.length);
                    assertTrue(err <= 1e-5, "g=" + g + " lk=" + lk + " " + mask + ": relative error " + err);
                    for (int i = 0; i < lse.length; i++) {
                        boolean bothEmpty = lse[i] == Float.NEGATIVE_INFINITY && refLse[i] == Float.NEGATIVE_INFINITY;
                        assertTrue(bothEmpty || Math.abs(lse[i] - refLse[i]) <= 1e-4 * Math.max(1, Math.abs(refLse[i])),
                                "lse " + lse[i] + " vs " + refLse[i]);
                    }
                }
            }
        }
    }

    /**
     * Decode steps read the selection in place by index ({@link IndexedKvView}, split-K over the
     * selection): equal to the naive kernel over the explicit selection for every provider and
     * thread count, F32 / F16 / BF16 pages, group sizes 1-5, awkward lengths, selections scattered
     * with runs, evicted slots in them, and the fast path really ran (pages counted by the kernel).
     */
    @Test
    void decodeStepsReadTheSelectedRowsInPlaceAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(24);
        for (TensorOps ops : Problems.allOps()) {
            for (DType dtype : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                for (int g : new int[] {1, 3, 5}) {
                    for (int lk : new int[] {1, 65, 1000, 4099}) {
                        int d = dtype == DType.F32 ? 20 : 64;
                        int kvHeads = 2;
                        float[][] keys = new float[kvHeads][];
                        float[][] values = new float[kvHeads][];
                        KvView[] views = new KvView[kvHeads];
                        KvView[] explicit = new KvView[kvHeads];
                        PersistentSelection sel = new PersistentSelection(kvHeads);
                        long keepFrom = Math.max(0, lk - 7);
                        for (int kh = 0; kh < kvHeads; kh++) {
                            keys[kh] = Problems.gaussian(r, lk * d, 1);
                            values[kh] = Problems.gaussian(r, lk * d, 1);
                            DenseKvView view = DenseKvView.of(keys[kh], values[kh], d, dtype, PAGE);
                            BitSet chosen = new BitSet();
                            for (int i = 0; i < lk; i++) {
                                // scattered keys and runs of 9 consecutive ones
                                if (r.nextInt(9) == 0 || (i / 9) % 13 == 5) {
                                    chosen.set(i);
                                }
                            }
                            sel.record(kh, view, chosen);
                            for (int i = 5; i < lk - 1; i += 37) {
                                view.invalidate(i); // evicted after recording: skipped
                            }
                            BitSet keep = (BitSet) chosen.clone();
                            keep.set((int) keepFrom, lk);
                            DenseKvView ref = DenseKvView.of(keys[kh], values[kh], d, dtype, PAGE);
                            for (int i = 0; i < lk; i++) {
                                if (!keep.get(i) || !view.isValid(i / PAGE, i % PAGE)) {
                                    ref.invalidate(i);
                                }
                            }
                            views[kh] = view;
                            explicit[kh] = ref;
                        }
                        sel.keepFrom(keepFrom);
                        float[] q = Problems.gaussian(r, kvHeads * g * d, 1);
                        long[] pos = {lk - 1};
                        AttentionProblem p = new AttentionProblem(q, 0, 1, kvHeads * g, views, pos, 0.3f, 0f, AttentionMask.CAUSAL);
                        AttentionProblem refP = new AttentionProblem(q, 0, 1, kvHeads * g, explicit, pos, 0.3f, 0f,
                                AttentionMask.CAUSAL);
                        PersistentSelectionAttention kernel = new PersistentSelectionAttention(ops);
                        float[] out = new float[p.outputLength()];
                        float[] lse = new float[kvHeads * g];
                        kernel.attend(sel, p, out, lse, null);
                        float[] refOut = new float[p.outputLength()];
                        float[] refLse = new float[kvHeads * g];
                        new NaiveAttention().attend(refP, refOut, refLse, null);
                        String what = ops.kernels().name() + " " + ops.pool().threads() + " threads " + dtype + " g=" + g
                                + " lk=" + lk;
                        double err = Problems.relativeError(out, refOut, out.length);
                        assertTrue(err <= 1e-5, what + ": relative error " + err);
                        for (int i = 0; i < lse.length; i++) {
                            assertEquals(refLse[i], lse[i], 1e-4 * Math.max(1, Math.abs(refLse[i])), what + ": lse " + i);
                        }
                        assertTrue(kernel.indexedPages() > 0, what + ": the decode step did not read by index");
                    }
                }
            }
        }
    }

    /**
     * A decode step recorded through split-K takes its scores from the exact pass's own logits
     * ({@link SplitKDecodeAttention#attendCapturingLogits}, no second pass over the keys): the
     * recorded selection is, position for position, the one {@link RecordingAttention#record}
     * computes from its own pass, and the output is split-K's bit for bit. Every provider, 1 and 2
     * threads, F32 / F16 / BF16 pages, g 1, 2, 3, 5 and 6, caches of 17 (too small for split-K: the
     * second pass) to 4,099 keys, causal and sliding-window masks (partly visible pages through the
     * general path), evicted slots, the papers' rule and the one with sinks and a window, budgets
     * of 1 to more than the cache; the counter shows the fast path ran. A soft cap keeps the second
     * pass (see {@link SplitKDecodeAttention#attendCapturingLogits}), with the same selection.
     */
    @Test
    void recordingFromTheExactPassLogitsChoosesTheSameKeys() {
        SplittableRandom r = new SplittableRandom(25);
        for (TensorOps ops : Problems.allOps()) {
            for (DType dtype : new DType[] {DType.F32, DType.F16, DType.BF16}) {
                for (int g : new int[] {1, 2, 3, 5, 6}) {
                    for (int lk : new int[] {17, 257, 1000, 4099}) {
                        int d = dtype == DType.F32 ? 20 : 64;
                        int kvHeads = 2;
                        KvView[] views = new KvView[kvHeads];
                        for (int kh = 0; kh < kvHeads; kh++) {
                            DenseKvView view = DenseKvView.of(Problems.gaussian(r, lk * d, 1), Problems.gaussian(r, lk * d, 1), d,
                                    dtype, PAGE);
                            if (kh == 1) {
                                for (int i = 3; i < lk - 1; i += 11) {
                                    view.invalidate(i);
                                }
                            }
                            views[kh] = view;
                        }
                        float[] q = Problems.gaussian(r, kvHeads * g * d, 1.5);
                        long[] pos = {lk - 1};
                        for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.slidingWindow(300, 3)}) {
                            for (float cap : new float[] {0f, 5f}) {
                                AttentionProblem p = new AttentionProblem(q, 0, 1, kvHeads * g, views, pos,
                                        (float) (1 / Math.sqrt(d)), cap, mask);
                                float[] want = new float[p.outputLength()];
                                float[] wantLse = new float[kvHeads * g];
                                SplitKDecodeAttention splitK = new SplitKDecodeAttention(ops);
                                splitK.attend(p, want, wantLse, null);
                                for (int k : new int[] {1, 7, 100, 2 * lk}) {
                                    for (boolean window : new boolean[] {false, true}) {
                                        RecordingAttention rec = window
                                                ? new RecordingAttention(ops, splitK, RecordingAttention.withLocalWindow(k))
                                                : new RecordingAttention(ops, splitK, k);
                                        PersistentSelection fast = new PersistentSelection(kvHeads);
                                        PersistentSelection second = new PersistentSelection(kvHeads);
                                        float[] out = new float[p.outputLength()];
                                        float[] lse = new float[kvHeads * g];
                                        rec.attend(fast, p, out, lse, null);
                                        rec.record(second, p);
                                        String what = ops.kernels().name() + " " + ops.pool().threads() + " threads " + dtype
                                                + " g=" + g + " lk=" + lk + " " + mask + " cap=" + cap + " k=" + k + " window="
                                                + window;
                                        // Within rounding, not bit for bit: a soft cap's Math.tanh may change by an ulp
                                        // when the JIT compiles the tile between two calls.
                                        double err = Problems.relativeError(out, want, out.length);
                                        assertTrue(err <= 1e-6, what + ": output off by " + err);
                                        for (int i = 0; i < lse.length; i++) {
                                            assertEquals(wantLse[i], lse[i], 1e-6 * Math.max(1, Math.abs(wantLse[i])), what);
                                        }
                                        assertEquals(second.keepFrom(), fast.keepFrom(), what);
                                        for (int kh = 0; kh < kvHeads; kh++) {
                                            assertTrue(Arrays.equals(second.positions(kh), fast.positions(kh)),
                                                    what + " head " + kh + ": " + Arrays.toString(fast.positions(kh)) + " vs "
                                                            + Arrays.toString(second.positions(kh)));
                                        }
                                        // Split-K's decode tiles ran (two work units at least) without a soft cap.
                                        boolean fromLogits = cap == 0 && kvHeads * ((lk + PAGE - 1) / PAGE)
                                                >= 2 * SplitKDecodeAttention.MIN_UNIT_PAGES;
                                        assertEquals(fromLogits ? 1 : 0, rec.stepsFromLogits(), what + ": recorded from the logits");
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void aSelectionHoldingEveryTokenEqualsExactAttention() {
        SplittableRandom r = new SplittableRandom(23);
        TensorOps ops = Problems.panamaTwoThreads();
        for (int g : new int[] {1, 2, 8}) {
            for (int lk : new int[] {1, 17, 512, 4099}) {
                int kvHeads = 2;
                int d = 64;
                KvView[] kv = Problems.views(r, kvHeads, lk, d, DType.F32, PAGE, 4);
                float[] q = Problems.gaussian(r, kvHeads * g * d, 1);
                AttentionProblem p = AttentionProblem.causal(q, 1, kvHeads * g, kv);
                PersistentSelection sel = new PersistentSelection(kvHeads);
                RecordingAttention rec = new RecordingAttention(ops, new SplitKDecodeAttention(ops), lk);
                // the recording step itself is the exact kernel
                Problems.assertMatchesNaive(rec.over(sel), p, 1e-5, "recording g=" + g + " lk=" + lk);
                for (int kh = 0; kh < kvHeads; kh++) {
                    assertEquals(lk, sel.count(kh), "every key recorded");
                }
                // and attending the recorded selection, a later layer or step, is exact too
                Problems.assertMatchesNaive(new PersistentSelectionAttention(ops).over(sel), p, 1e-5,
                        "persistent g=" + g + " lk=" + lk);
            }
        }
    }

    @Test
    void misuseIsReported() {
        TensorOps ops = Problems.panamaOneThread();
        KvView[] kv = Problems.views(new SplittableRandom(1), 2, 10, 8, DType.F32, PAGE, 0);
        AttentionProblem p = AttentionProblem.causal(new float[16], 1, 2, kv);
        float[] out = new float[p.outputLength()];
        assertThrows(IllegalStateException.class, () -> new PersistentSelectionAttention(ops).attend(p, out, null, null));
        assertThrows(IllegalArgumentException.class,
                () -> new PersistentSelectionAttention(ops).attend(new PersistentSelection(3), p, out, null, null));
        assertThrows(IllegalArgumentException.class, () -> new RecordingAttention(ops, new NaiveAttention(), 0));
        assertThrows(IllegalArgumentException.class,
                () -> new RecordingAttention(ops, new NaiveAttention(), new SelectedAttentionBudget(8, 4, 0)));
        assertThrows(IllegalArgumentException.class, () -> RecordingAttention.withLocalWindow(0));
        assertThrows(IllegalArgumentException.class, () -> new PersistentSelection(0));
    }
}
