package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.HipTokenSelection.Representative;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HipTokenAttentionTest {

    /**
     * The naive reference of the token-level selection, written from {@link HipTokenSelection}'s
     * class docs without the fast path's index arrays, page skipping, kernels or memo: every slot of
     * the view is checked one by one, the hierarchy runs on lists of spans, each half's
     * representative block is scored by reading its keys from the view and taking the max of a
     * plain float dot product (the scalar kernels' sum order) over the scoring rows and heads, and
     * sorting the children by (score desc, start asc) and taking kb is the top-k rule.
     */
    static BitSet naiveSelection(AttentionProblem p, HipTokenSelection sel, int h, int b) {
        KvView v = p.kv()[h];
        int ps = v.pageSize();
        int r0 = b * sel.blockQ();
        int r1 = Math.min(p.queryRows(), r0 + sel.blockQ());
        long qLo = Long.MAX_VALUE;
        long qHi = Long.MIN_VALUE;
        for (int r = r0; r < r1; r++) {
            qLo = Math.min(qLo, p.queryPositions()[r]);
            qHi = Math.max(qHi, p.queryPositions()[r]);
        }
        List<Integer> attendable = new ArrayList<>(); // key indices page * ps + slot
        for (int page = 0; page < v.pageCount(); page++) {
            for (int s = 0; s < v.pageLength(page); s++) {
                long pos = v.position(page, s);
                if (v.isValid(page, s) && p.mask().mayAttend(qLo, qHi, pos, pos)) {
                    attendable.add(page * ps + s);
                }
            }
        }
        BitSet out = new BitSet();
        List<Integer> cand = new ArrayList<>();
        for (int i = 0; i < attendable.size(); i++) {
            int key = attendable.get(i);
            if (i < sel.sinkTokens() || v.position(key / ps, key % ps) >= qLo - sel.localWindow()) {
                out.set(key);
            } else {
                cand.add(key);
            }
        }
        int bk = sel.blockK();
        int nb = (cand.size() + bk - 1) / bk;
        int kb = (sel.topK() + bk - 1) / bk;
        List<Integer> keptBlocks = new ArrayList<>();
        if (nb <= kb) {
            for (int j = 0; j < nb; j++) {
                keptBlocks.add(j);
            }
        } else if (sel.isExhaustive()) {
            List<Integer> rows = new ArrayList<>();
            for (int r = r1 - 1; r >= r0; r -= sel.queryStride()) {
                rows.add(r);
            }
            List<double[]> blocks = new ArrayList<>(); // {index, score}
            for (int j = 0; j < nb; j++) {
                blocks.add(new double[] {j, blockScore(p, h, rows, cand.subList(j * bk, Math.min(cand.size(), (j + 1) * bk)))});
            }
            blocks.sort(Comparator.<double[]>comparingDouble(c -> Double.isNaN(c[1]) ? Double.POSITIVE_INFINITY : c[1])
                    .reversed().thenComparingDouble(c -> c[0]));
            for (int i = 0; i < kb; i++) {
                keptBlocks.add((int) blocks.get(i)[0]);
            }
        } else {
            List<Integer> rows = new ArrayList<>();
            for (int r = r1 - 1; r >= r0; r -= sel.queryStride()) {
                rows.add(r);
            }
            List<int[]> spans = new ArrayList<>();
            for (int j = 0; j < kb; j++) {
                spans.add(new int[] {(int) ((long) j * nb / kb), (int) ((long) (j + 1) * nb / kb)});
            }
            while (spans.stream().anyMatch(s -> s[1] - s[0] > 1)) {
                List<double[]> children = new ArrayList<>(); // {start, end, score}
                for (int[] s : spans) {
                    int len = s[1] - s[0];
                    if (len > 1) {
                        int mid = s[0] + (len + 1) / 2;
                        children.add(new double[] {s[0], mid, 0});
                        children.add(new double[] {mid, s[1], 0});
                    } else if (len == 1) {
                        children.add(new double[] {s[0], s[1], 0});
                    }
                }
                for (double[] c : children) {
                    int lo = (int) c[0];
                    int hi = (int) c[1];
                    int rep = sel.representative() == Representative.FIRST ? lo : lo + (hi - lo - 1) / 2;
                    c[2] = blockScore(p, h, rows, cand.subList(rep * bk, Math.min(cand.size(), (rep + 1) * bk)));
                }
                children.sort(Comparator.<double[]>comparingDouble(c -> Double.isNaN(c[2]) ? Double.POSITIVE_INFINITY : c[2])
                        .reversed().thenComparingDouble(c -> c[0]));
                spans = new ArrayList<>();
                for (int i = 0; i < Math.min(kb, children.size()); i++) {
                    spans.add(new int[] {(int) children.get(i)[0], (int) children.get(i)[1]});
                }
            }
            for (int[] s : spans) {
                keptBlocks.add(s[0]);
            }
        }
        for (int j : keptBlocks) {
            for (int i = j * bk; i < Math.min(cand.size(), (j + 1) * bk); i++) {
                out.set(cand.get(i));
            }
        }
        return out;
    }

    private static double blockScore(AttentionProblem p, int h, List<Integer> rows, List<Integer> blockKeys) {
        int ps = p.kv()[h].pageSize();
        int[] r = rows.stream().mapToInt(Integer::intValue).toArray();
        float best = Float.NEGATIVE_INFINITY;
        for (int kIdx : blockKeys) {
            float s = Problems.maxGroupDot(p, h, r, kIdx / ps, kIdx % ps);
            if (s > best || Float.isNaN(s)) {
                best = s;
            }
        }
        return best;
    }

    /** The reference attention: {@link NaiveAttention} per query block over exactly the naive selection. */
    static void naiveOverSelection(AttentionProblem p, HipTokenSelection sel, float[] out, float[] lse,
                                   AttentionObserver observer) {
        int d = p.headDim();
        for (int b = 0; b < sel.queryBlocks(p); b++) {
            int i0 = b * sel.blockQ();
            int i1 = Math.min(p.queryRows(), i0 + sel.blockQ());
            KvView[] views = new KvView[p.kvHeads()];
            for (int h = 0; h < views.length; h++) {
                views[h] = keySetView(p.kv()[h], naiveSelection(p, sel, h, b));
            }
            AttentionProblem sub = new AttentionProblem(p.queries(), p.queryIndex(i0, 0), i1 - i0, p.queryHeads(), views,
                    Arrays.copyOfRange(p.queryPositions(), i0, i1), p.scale(), p.softCap(), p.mask());
            float[] o = new float[sub.outputLength()];
            float[] l = new float[(i1 - i0) * p.queryHeads()];
            AttentionObserver shifted = observer == null ? null
                    : (row, head, kvHead, page, probs, count) -> observer.observe(row + i0, head, kvHead, page, probs, count);
            new NaiveAttention().attend(sub, o, l, shifted);
            System.arraycopy(o, 0, out, i0 * p.queryHeads() * d, o.length);
            System.arraycopy(l, 0, lse, i0 * p.queryHeads(), l.length);
        }
    }

    private static float[] smallIntegers(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextInt(-3, 4);
        }
        return a;
    }

    private static AttentionProblem problem(SplittableRandom r, int kvHeads, int g, int lk, int lq, int d, int ps,
                                            DType dtype, boolean integers, int holes) {
        KvView[] kv = new KvView[kvHeads];
        for (int h = 0; h < kvHeads; h++) {
            float[] k = integers ? smallIntegers(r, lk * d) : Problems.gaussian(r, lk * d, 1);
            float[] v = Problems.gaussian(r, lk * d, 1);
            KvView dense = DenseKvView.of(k, v, d, dtype, ps);
            kv[h] = holes > 0 ? holesView(dense, holes, h) : dense;
        }
        float[] q = integers ? smallIntegers(r, lq * kvHeads * g * d) : Problems.gaussian(r, lq * kvHeads * g * d, 1);
        return new AttentionProblem(q, 0, lq, kvHeads * g, kv, lastPositions(kv[0], lq),
                (float) (1 / Math.sqrt(d)), 0f, AttentionMask.CAUSAL);
    }

    /** The last {@code rows} positions of the view (valid or not), as AttentionProblem.causal aligns them. */
    private static long[] lastPositions(KvView view, int rows) {
        return AttentionProblem.lastPositions(view, rows);
    }

    // (kvHeads, g, lk, lq, d, pageSize, k, bk, bq, stride, sink, window, holes period)
    private static final int[][] SHAPES = {
        {1, 1, 1000, 1000, 16, 7, 60, 2, 32, 1, 5, 9, 0},
        {2, 3, 777, 333, 32, 16, 64, 3, 17, 2, 0, 0, 0},
        {3, 2, 1531, 1531, 16, 13, 100, 2, 32, 1, 13, 40, 5},
        {1, 5, 2049, 97, 32, 32, 128, 1, 20, 3, 64, 64, 0},
        {2, 4, 613, 613, 16, 5, 11, 4, 9, 1, 1, 3, 7},
        {1, 2, 300, 300, 16, 64, 40, 2, 32, 1, 64, 64, 0},
    };

    private static HipTokenSelection selection(int[] s, Representative rep) {
        return new HipTokenSelection(s[6], s[7], s[8], s[9], s[10], s[11], rep);
    }

    @Test
    void selectionEqualsTheNaiveReferenceAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(9);
        boolean pruned = false;
        for (int[] s : SHAPES) {
            for (boolean integers : new boolean[] {true, false}) {
                for (int variant = 0; variant < 3; variant++) {
                    Representative rep = variant == 1 ? Representative.CENTER : Representative.FIRST;
                    AttentionProblem p = problem(r, s[0], s[1], s[2], s[3], s[4], s[5], integers ? DType.F32 : DType.F16,
                            integers, s[12]);
                    // integer data: exact dot products, so Panama must agree exactly; Gaussian data: the
                    // scalar kernels' sum order is the reference's
                    TensorOps ops = integers ? Problems.panamaTwoThreads() : new TensorOps(KernelProvider.scalar(), Problems.TWO);
                    HipTokenSelection sel = variant == 2 ? selection(s, rep).exhaustive() : selection(s, rep);
                    String what = Arrays.toString(s) + (integers ? " integers " : " gaussian F16 ") + sel.name();
                    for (int h = 0; h < s[0]; h++) {
                        for (int b = 0; b < sel.queryBlocks(p); b++) {
                            BitSet expected = naiveSelection(p, sel, h, b);
                            BitSet actual = sel.selectedKeys(p, ops.kernels(), h, b);
                            assertEquals(expected, actual, what + ", KV head " + h + ", query block " + b);
                            // at most kb blocks of b_k keys beyond the forced ones
                            int forcedMax = s[10] + s[11] + s[8];
                            assertTrue(actual.cardinality() <= sel.topKBlocks() * s[7] + forcedMax, what + " block " + b);
                        }
                    }
                    int last = sel.queryBlocks(p) - 1;
                    BitSet lastSel = sel.selectedKeys(p, ops.kernels(), 0, last);
                    pruned |= lastSel.cardinality() < p.kv()[0].length() / 2;
                }
            }
        }
        assertTrue(pruned, "the hierarchy pruned nothing on any shape");
    }

    @Test
    void kernelEqualsNaiveOverExactlyTheSelectedKeys() {
        SplittableRandom r = new SplittableRandom(11);
        for (int[] s : SHAPES) {
            for (Representative rep : Representative.values()) {
                // integer keys and queries: the fast and naive selections are the same sets on any kernels
                AttentionProblem p = problem(r, s[0], s[1], s[2], s[3], s[4], s[5], DType.F32, true, s[12]);
                HipTokenSelection sel = selection(s, rep);
                float[] ref = new float[p.outputLength()];
                float[] refLse = new float[p.queryRows() * p.queryHeads()];
                naiveOverSelection(p, sel, ref, refLse, null);
                for (TensorOps ops : Problems.allOps()) {
                    float[] out = new float[p.outputLength()];
                    float[] lse = new float[refLse.length];
                    new HipTokenAttention(ops, sel).attend(p, out, lse, null);
                    String what = Arrays.toString(s) + " " + rep + " " + ops;
                    double err = Problems.relativeError(out, ref, out.length);
                    assertTrue(err <= 2e-5, what + ": relative error " + err);
                    for (int i = 0; i < lse.length; i++) {
                        boolean bothEmpty = lse[i] == Float.NEGATIVE_INFINITY && refLse[i] == Float.NEGATIVE_INFINITY;
                        assertTrue(bothEmpty || Math.abs(lse[i] - refLse[i]) <= 1e-4 * Math.max(1, Math.abs(refLse[i])),
                                what + ": lse[" + i + "] " + lse[i] + " vs " + refLse[i]);
                    }
                }
            }
        }
    }

    @Test
    void fastPathRanAndReadsOnlyPagesHoldingSelectedKeys() {
        SplittableRandom r = new SplittableRandom(13);
        AttentionProblem base = problem(r, 2, 2, 1200, 1200, 32, 16, DType.F32, false, 0);
        KvView[] counting = new KvView[base.kvHeads()];
        for (int h = 0; h < counting.length; h++) {
            counting[h] = new BlockSparseTesting.CountingView(base.kv()[h]);
        }
        AttentionProblem p = new AttentionProblem(base.queries(), 0, base.queryRows(), base.queryHeads(), counting,
                base.queryPositions(), base.scale(), 0f, AttentionMask.CAUSAL);
        TensorOps ops = Problems.panamaTwoThreads();
        HipTokenSelection sel = HipTokenSelection.withTopK(64);
        BitSet[] any = {new BitSet(), new BitSet()};
        for (int h = 0; h < 2; h++) {
            for (int b = 0; b < sel.queryBlocks(p); b++) {
                BitSet keys = sel.selectedKeys(p, ops.kernels(), h, b);
                for (int key = keys.nextSetBit(0); key >= 0; key = keys.nextSetBit(key + 1)) {
                    any[h].set(key / 16);
                }
            }
            BlockSparseTesting.CountingView c = (BlockSparseTesting.CountingView) counting[h];
            c.keyReads.set(0, 0); // reset: selectedKeys read keys; values are only read by the kernel
            for (int page = 0; page < c.pageCount(); page++) {
                c.keyReads.set(page, 0);
                c.valueReads.set(page, 0);
            }
        }
        float[] out = new float[p.outputLength()];
        new HipTokenAttention(ops, sel).attend(p, out, null, null);
        for (int h = 0; h < 2; h++) {
            BlockSparseTesting.CountingView c = (BlockSparseTesting.CountingView) counting[h];
            for (int page = 0; page < c.pageCount(); page++) {
                if (!any[h].get(page)) {
                    assertEquals(0, c.valueReads.get(page), "head " + h + " page " + page + " holds no selected key");
                }
            }
        }
        // the selection really dropped keys: the output differs from exact attention
        float[] exact = new float[p.outputLength()];
        new TiledAttention(ops).attend(p, exact, null, null);
        double err = Problems.relativeError(out, exact, exact.length);
        assertTrue(err > 1e-4, "expected an approximation, got relative error " + err);
        assertTrue(sel.selectedKeys(p, ops.kernels(), 0, sel.queryBlocks(p) - 1).cardinality() < 400);
    }

    @Test
    void equalsTiledExactWhenTopKHoldsEveryKey() {
        SplittableRandom r = new SplittableRandom(5);
        for (int[] s : new int[][] {{2, 2, 700, 700, 32, 16}, {1, 3, 515, 200, 16, 7}, {1, 5, 333, 333, 16, 64}}) {
            AttentionProblem p = problem(r, s[0], s[1], s[2], s[3], s[4], s[5], DType.F32, false, 0);
            TensorOps ops = Problems.panamaTwoThreads();
            HipTokenSelection all = new HipTokenSelection(s[2], 2, 32, 1, 0, 0, Representative.FIRST);
            float[] sparse = new float[p.outputLength()];
            float[] exact = new float[p.outputLength()];
            new HipTokenAttention(ops, all).attend(p, sparse, null, null);
            new TiledAttention(ops).attend(p, exact, null, null);
            double err = Problems.relativeError(sparse, exact, exact.length);
            assertTrue(err <= 1e-6, "hip-token with every key vs tiled: " + err);
        }
    }

    @Test
    void sameOutputOnOneAndTwoThreads() {
        AttentionProblem p = problem(new SplittableRandom(3), 2, 2, 1500, 1500, 32, 16, DType.F32, false, 0);
        Problems.assertSameAcrossThreads(ops -> new HipTokenAttention(ops, HipTokenSelection.withTopK(64)), p);
    }

    @Test
    void observerReportsTheSelectionsProbabilities() {
        SplittableRandom r = new SplittableRandom(17);
        AttentionProblem p = problem(r, 2, 2, 300, 100, 16, 7, DType.F32, true, 0);
        HipTokenSelection sel = new HipTokenSelection(20, 2, 16, 1, 3, 5, Representative.FIRST);
        Map<String, float[]> fast = new HashMap<>();
        Map<String, float[]> ref = new HashMap<>();
        float[] out = new float[p.outputLength()];
        new HipTokenAttention(Problems.panamaTwoThreads(), sel).attend(p, out, null, (row, head, kvHead, page, probs, count) -> {
            synchronized (fast) {
                fast.put(row + "/" + head + "/" + page, Arrays.copyOf(probs, count));
            }
        });
        naiveOverSelection(p, sel, new float[p.outputLength()], new float[p.queryRows() * p.queryHeads()],
                (row, head, kvHead, page, probs, count) -> {
                    if (count > 0) {
                        ref.put(row + "/" + head + "/" + page, Arrays.copyOf(probs, count));
                    }
                });
        assertEquals(ref.keySet(), fast.keySet());
        for (Map.Entry<String, float[]> e : ref.entrySet()) {
            float[] a = fast.get(e.getKey());
            for (int i = 0; i < a.length; i++) {
                assertEquals(e.getValue()[i], a[i], 1e-5, e.getKey() + " slot " + i);
            }
        }
    }

    @Test
    void rejectsBadParameters() {
        Representative f = Representative.FIRST;
        for (Runnable bad : List.<Runnable>of(
                () -> new HipTokenSelection(0, 2, 32, 1, 64, 64, f),
                () -> new HipTokenSelection(512, 0, 32, 1, 64, 64, f),
                () -> new HipTokenSelection(512, 2, 0, 1, 64, 64, f),
                () -> new HipTokenSelection(512, 2, 32, 0, 64, 64, f),
                () -> new HipTokenSelection(512, 2, 32, 33, 64, 64, f),
                () -> new HipTokenSelection(512, 2, 32, 1, -1, 64, f),
                () -> new HipTokenSelection(512, 2, 32, 1, 64, -1, f))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, bad::run);
            assertTrue(e.getMessage().startsWith("hip-token: "), e.getMessage());
        }
        assertThrows(NullPointerException.class, () -> new HipTokenSelection(512, 2, 32, 1, 64, 64, null));
        AttentionProblem p = problem(new SplittableRandom(1), 1, 1, 100, 100, 16, 16, DType.F32, false, 0);
        HipTokenSelection sel = HipTokenSelection.paper();
        VectorKernelsHolder.check(sel, p);
        assertEquals(512, sel.topK());
        assertEquals(2, sel.blockK());
        assertEquals(32, sel.blockQ());
        assertEquals(256, sel.topKBlocks());
    }

    /** Out-of-range heads and blocks name what and where. */
    private static final class VectorKernelsHolder {
        static void check(HipTokenSelection sel, AttentionProblem p) {
            var k = KernelProvider.scalar();
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> sel.selectedKeys(p, k, 1, 0));
            assertTrue(e.getMessage().contains("kvHead 1"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> sel.selectedKeys(p, k, 0, 4));
            assertTrue(e.getMessage().contains("query block 4"), e.getMessage());
        }
    }

    /** {@code v} with the slots outside the key set {@code keep} invalid. */
    static KvView keySetView(KvView v, BitSet keep) {
        return new BlockSparseTesting.FilteredView(v, (page, slot) -> keep.get(page * v.pageSize() + slot));
    }

    /** {@code v} with every {@code period}-th slot (from {@code phase}) evicted: an awkward view with holes. */
    static KvView holesView(KvView v, int period, int phase) {
        return new BlockSparseTesting.FilteredView(v, (page, slot) -> (page * v.pageSize() + slot) % period != phase);
    }
}
