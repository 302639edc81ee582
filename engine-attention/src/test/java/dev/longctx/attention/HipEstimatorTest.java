package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HipEstimatorTest {

    /**
     * The naive reference of HiP's selection rule, written from its definition (see
     * {@link HipEstimator}'s class docs) without the fast path's arrays or memo: per (KV head, query
     * block) it lists the attendable pages, forces sink and diagonal, and runs the hierarchy on
     * lists of spans, scoring each half by reading its first page's first valid key from the view and
     * taking the max of a plain float dot product over the block's queries (the scalar kernel's sum
     * order). Sorting the children by (score desc, start asc) and taking k is the top-k rule.
     */
    static int[][][] naiveHip(AttentionProblem p, int topKTokens) {
        return naiveHierarchy(p, topKTokens, (pp, h, r0, r1, cand, s0, s1, d, g) -> score(pp, h, r0, r1, cand.get(s0), d, g));
    }

    /**
     * The naive reference of the SAMPLED variant ({@link HipEstimator.Representative#SAMPLED}),
     * written from its definition: the paper's hierarchy (as {@link #naiveHip}), but a half
     * {@code [s0, s1)} of the candidate list scores the max, NaN winning, over its pages at
     * {@code s0}, {@code s0 + (len - 1) / 2} and {@code s1 - 1} of each page's keys at valid-slot
     * indices {@code 0}, {@code (c - 1) / 2} and {@code c - 1}, each key scored as {@link #score}
     * does (max over the block's queries that may see it and the group's heads).
     */
    static int[][][] naiveHipSampled(AttentionProblem p, int topKTokens) {
        return naiveHierarchy(p, topKTokens, HipEstimatorTest::sampledHalfScore);
    }

    private static double sampledHalfScore(AttentionProblem p, int h, int r0, int r1, List<Integer> cand, int s0, int s1,
                                           int d, int g) {
        KvView v = p.kv()[h];
        double best = Double.NEGATIVE_INFINITY;
        for (int ci : new int[] {s0, s0 + (s1 - s0 - 1) / 2, s1 - 1}) {
            int page = cand.get(ci);
            List<Integer> valid = new ArrayList<>();
            for (int slot = 0; slot < v.pageLength(page); slot++) {
                if (v.isValid(page, slot)) {
                    valid.add(slot);
                }
            }
            int c = valid.size();
            for (int si : new int[] {0, (c - 1) / 2, c - 1}) {
                double sc = keyScore(p, h, r0, r1, page, valid.get(si));
                best = Double.isNaN(best) || Double.isNaN(sc) ? Double.NaN : Math.max(best, sc);
            }
        }
        return best;
    }

    /** {@link #score}'s rule for the key in {@code slot} of {@code page}. */
    private static double keyScore(AttentionProblem p, int h, int r0, int r1, int page, int slot) {
        return Problems.maxGroupDot(p, h, Problems.rowRange(r0, r1), page, slot);
    }

    /** Scores the half {@code [s0, s1)} of the candidate pages {@code cand} for one query block. */
    interface HalfScorer {
        double score(AttentionProblem p, int h, int r0, int r1, List<Integer> cand, int s0, int s1, int d, int g);
    }

    /**
     * The paper's hierarchy (as {@link #naiveHip}: forced sink and diagonal pages, k equal spans,
     * halving, top-k with ties to the lower start and NaN as +infinity) with the half scores of
     * {@code scorer}; every reference here is this hierarchy with its own half score.
     */
    static int[][][] naiveHierarchy(AttentionProblem p, int topKTokens, HalfScorer scorer) {
        int bq = BlockMask.defaultQueryBlockTokens(p.groupSize());
        int blocks = (p.queryRows() + bq - 1) / bq;
        int d = p.headDim();
        int g = p.groupSize();
        int[][][] kept = new int[p.kvHeads()][blocks][];
        for (int h = 0; h < p.kvHeads(); h++) {
            KvView v = p.kv()[h];
            int k = (topKTokens + v.pageSize() - 1) / v.pageSize();
            for (int b = 0; b < blocks; b++) {
                int r0 = b * bq;
                int r1 = Math.min(p.queryRows(), r0 + bq);
                long qLo = Long.MAX_VALUE;
                long qHi = Long.MIN_VALUE;
                for (int r = r0; r < r1; r++) {
                    qLo = Math.min(qLo, p.queryPositions()[r]);
                    qHi = Math.max(qHi, p.queryPositions()[r]);
                }
                List<Integer> attendable = new ArrayList<>();
                for (int page = 0; page < v.pageCount(); page++) {
                    if (firstValidSlot(v, page) >= 0
                            && p.mask().mayAttend(qLo, qHi, v.pageMinPosition(page), v.pageMaxPosition(page))) {
                        attendable.add(page);
                    }
                }
                java.util.TreeSet<Integer> out = new java.util.TreeSet<>();
                List<Integer> cand = new ArrayList<>();
                for (int i = 0; i < attendable.size(); i++) {
                    int page = attendable.get(i);
                    boolean forced = i == 0 || i == attendable.size() - 1 || v.pageMaxPosition(page) >= qLo;
                    (forced ? out : cand).add(page);
                }
                if (cand.size() <= k) {
                    out.addAll(cand);
                } else {
                    int n = cand.size();
                    List<int[]> spans = new ArrayList<>();
                    for (int j = 0; j < k; j++) {
                        spans.add(new int[] {(int) ((long) j * n / k), (int) ((long) (j + 1) * n / k)});
                    }
                    while (spans.stream().anyMatch(s -> s[1] - s[0] > 1)) {
                        List<double[]> children = new ArrayList<>(); // {start, end, score}
                        for (int[] s : spans) {
                            if (s[1] - s[0] > 1) {
                                int mid = s[0] + (s[1] - s[0] + 1) / 2;
                                children.add(new double[] {s[0], mid, scorer.score(p, h, r0, r1, cand, s[0], mid, d, g)});
                                children.add(new double[] {mid, s[1], scorer.score(p, h, r0, r1, cand, mid, s[1], d, g)});
                            } else if (s[1] - s[0] == 1) {
                                children.add(new double[] {s[0], s[1], scorer.score(p, h, r0, r1, cand, s[0], s[1], d, g)});
                            }
                        }
                        children.sort(Comparator.<double[]>comparingDouble(c -> Double.isNaN(c[2]) ? Double.POSITIVE_INFINITY : c[2])
                                .reversed().thenComparingDouble(c -> c[0]));
                        spans = new ArrayList<>();
                        for (int i = 0; i < Math.min(k, children.size()); i++) {
                            spans.add(new int[] {(int) children.get(i)[0], (int) children.get(i)[1]});
                        }
                    }
                    for (int[] s : spans) {
                        out.add(cand.get(s[0]));
                    }
                }
                kept[h][b] = out.stream().mapToInt(Integer::intValue).toArray();
            }
        }
        return kept;
    }

    /**
     * The MEAN variant's half score, from its definition: the mean of every valid key of the half's
     * pages (summed in double, divided by the count, rounded to float), dotted in float with each
     * query that may see the first valid key of the half's first page, the max over them and the
     * group's heads.
     */
    static double meanHalfScore(AttentionProblem p, int h, int r0, int r1, List<Integer> cand, int s0, int s1, int d, int g) {
        KvView v = p.kv()[h];
        double[] sum = new double[d];
        long count = 0;
        float[] key = new float[d];
        for (int ci = s0; ci < s1; ci++) {
            int page = cand.get(ci);
            for (int slot = 0; slot < v.pageLength(page); slot++) {
                if (v.isValid(page, slot)) {
                    Quantization.dequantize(v.dtype(), v.keys(page), slot * v.rowBytes(), key, 0, d);
                    for (int c = 0; c < d; c++) {
                        sum[c] += key[c];
                    }
                    count++;
                }
            }
        }
        float[] meanKey = new float[d];
        for (int c = 0; c < d; c++) {
            meanKey[c] = (float) (sum[c] / count);
        }
        int first = cand.get(s0);
        return Problems.maxGroupDot(p, h, Problems.rowRange(r0, r1), meanKey, v.position(first, firstValidSlot(v, first)));
    }

    /**
     * The BOUND variant's half score, from its definition: with {@code mn} / {@code mx} the
     * per-channel min / max of every valid key of the half's pages, the max over the queries that
     * may see the first valid key of the half's first page and the group's heads of
     * {@code sum_c max(q_c mn_c, q_c mx_c)} (a float sum in channel order).
     */
    static double boundHalfScore(AttentionProblem p, int h, int r0, int r1, List<Integer> cand, int s0, int s1, int d, int g) {
        KvView v = p.kv()[h];
        float[] mn = new float[d];
        float[] mx = new float[d];
        java.util.Arrays.fill(mn, Float.POSITIVE_INFINITY);
        java.util.Arrays.fill(mx, Float.NEGATIVE_INFINITY);
        float[] key = new float[d];
        for (int ci = s0; ci < s1; ci++) {
            int page = cand.get(ci);
            for (int slot = 0; slot < v.pageLength(page); slot++) {
                if (v.isValid(page, slot)) {
                    Quantization.dequantize(v.dtype(), v.keys(page), slot * v.rowBytes(), key, 0, d);
                    for (int c = 0; c < d; c++) {
                        mn[c] = Math.min(mn[c], key[c]);
                        mx[c] = Math.max(mx[c], key[c]);
                    }
                }
            }
        }
        int first = cand.get(s0);
        long pos = v.position(first, firstValidSlot(v, first));
        float best = Float.NEGATIVE_INFINITY;
        for (int r = r0; r < r1; r++) {
            if (!p.mask().allows(p.queryPositions()[r], pos)) {
                continue;
            }
            for (int j = 0; j < g; j++) {
                int qi = p.queryIndex(r, h * g + j);
                float s = 0f;
                for (int c = 0; c < d; c++) {
                    float q = p.queries()[qi + c];
                    s += Math.max(q * mn[c], q * mx[c]);
                }
                if (s > best || Float.isNaN(s)) {
                    best = s;
                }
            }
        }
        return best;
    }

    private static int firstValidSlot(KvView v, int page) {
        for (int s = 0; s < v.pageLength(page); s++) {
            if (v.isValid(page, s)) {
                return s;
            }
        }
        return -1;
    }

    private static double score(AttentionProblem p, int h, int r0, int r1, int page, int d, int g) {
        return keyScore(p, h, r0, r1, page, firstValidSlot(p.kv()[h], page));
    }

    /** Integer-valued data: every dot product is exact in f32, so any kernel's sum order agrees. */
    private static float[] smallIntegers(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = r.nextInt(-3, 4);
        }
        return a;
    }

    private static AttentionProblem problem(SplittableRandom r, int kvHeads, int g, int lk, int lq, int d, int ps,
                                            DType dtype, boolean integers) {
        KvView[] kv = new KvView[kvHeads];
        for (int h = 0; h < kvHeads; h++) {
            float[] k = integers ? smallIntegers(r, lk * d) : Problems.gaussian(r, lk * d, 1);
            float[] v = Problems.gaussian(r, lk * d, 1);
            kv[h] = DenseKvView.of(k, v, d, dtype, ps);
        }
        int qn = lq * kvHeads * g * d;
        float[] q = integers ? smallIntegers(r, qn) : Problems.gaussian(r, qn, 1);
        return AttentionProblem.causal(q, lq, kvHeads * g, kv);
    }

    private static void assertSameMask(int[][][] expected, BlockMask actual, String what) {
        for (int h = 0; h < expected.length; h++) {
            for (int b = 0; b < expected[h].length; b++) {
                assertArrayEquals(expected[h][b], actual.keptPages(h, b), what + ", KV head " + h + ", query block " + b);
            }
        }
    }

    /** (kvHeads, g, lk, lq, d, pageSize, k tokens): odd page counts, partial last pages, k not a power of two. */
    private static final int[][] AWKWARD_SHAPES = {
        {1, 1, 1000, 1000, 16, 7, 30},
        {2, 3, 777, 333, 32, 16, 64},
        {3, 2, 1531, 1531, 16, 13, 100},
        {1, 5, 2049, 97, 32, 32, 128},
        {2, 2, 613, 613, 16, 5, 11},
    };

    /** Whether two masks keep the same pages for every (KV head, query block). */
    private static boolean sameMask(BlockMask a, BlockMask b) {
        for (int h = 0; h < a.kvHeads(); h++) {
            for (int q = 0; q < a.queryBlocks(); q++) {
                if (!java.util.Arrays.equals(a.keptPages(h, q), b.keptPages(h, q))) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * With k holding every page the estimator keeps every attendable page (for the paper's rule, checked
     * against the A-shape mask of the whole context), and block-sparse attention over it equals tiled exact.
     */
    private static void assertExactWithEveryPage(SplittableRandom r, HipEstimator.Representative rep) {
        for (int[] s : new int[][] {{2, 2, 700, 700, 32, 16}, {1, 3, 515, 200, 16, 7}}) {
            AttentionProblem p = problem(r, s[0], s[1], s[2], s[3], s[4], s[5], DType.F32, false);
            TensorOps ops = Problems.panamaTwoThreads();
            HipEstimator all = new HipEstimator(s[2], rep);
            if (rep == HipEstimator.Representative.FIRST_KEY) {
                BlockMask m = all.estimate(p, ops);
                BlockMask causal = MInferenceEstimators.aShape(0, s[2]).estimate(p, ops); // every attendable page
                for (int h = 0; h < s[0]; h++) {
                    for (int b = 0; b < m.queryBlocks(); b++) {
                        assertArrayEquals(causal.keptPages(h, b), m.keptPages(h, b), "block " + b);
                    }
                }
            }
            float[] sparse = new float[p.outputLength()];
            float[] exact = new float[p.outputLength()];
            new BlockSparseAttention(ops, all).attend(p, sparse, null, null);
            new TiledAttention(ops).attend(p, exact, null, null);
            double err = Problems.relativeError(sparse, exact, exact.length);
            assertTrue(err <= 1e-6, rep + " hip with every page vs tiled: " + err);
        }
    }

    /**
     * Strong keys (10 in channel 0, against queries shifted by 3 there) at {@code slot} of pages 32..47 of 128
     * (16-token pages, d = 32): every query block after page 56 must keep at least {@code minKept} of them.
     */
    private static void assertKeepsPlantedRegion(SplittableRandom r, int slot, HipEstimator.Representative rep, int minKept) {
        int d = 32;
        int n = 2048;
        int ps = 16;
        float[] k = Problems.gaussian(r, n * d, 0.3);
        float[] q = Problems.gaussian(r, n * d, 0.3);
        for (int i = 0; i < n; i++) {
            q[i * d] += 3f;
        }
        for (int page = 32; page < 48; page++) {
            k[(page * ps + slot) * d] = 10f;
        }
        AttentionProblem p = AttentionProblem.causal(q, n, 1, DenseKvView.of(k, new float[n * d], d, DType.F32, ps));
        BlockMask m = new HipEstimator(4 * ps, rep).estimate(p, Problems.panamaTwoThreads());
        int checked = 0;
        for (int b = 0; b < m.queryBlocks(); b++) {
            if (m.queryBlockStart(b) > 56 * ps) {
                long inRegion = java.util.Arrays.stream(m.keptPages(0, b)).filter(pg -> pg >= 32 && pg < 48).count();
                assertTrue(inRegion >= minKept, "query block " + b + " kept " + java.util.Arrays.toString(m.keptPages(0, b)));
                checked++;
            }
        }
        assertTrue(checked > 10);
    }

    @Test
    void fastPathEqualsTheNaiveReferenceAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(9);
        boolean pruned = false;
        for (int[] s : AWKWARD_SHAPES) {
            for (boolean integers : new boolean[] {true, false}) {
                AttentionProblem p = problem(r, s[0], s[1], s[2], s[3], s[4], s[5], integers ? DType.F32 : DType.F16,
                        integers);
                // integer data: exact dot products, so Panama on two threads must agree exactly;
                // Gaussian data: the scalar kernels' sum order is the reference's
                TensorOps ops = integers ? Problems.panamaTwoThreads() : new TensorOps(KernelProvider.scalar(), Problems.TWO);
                BlockMask m = new HipEstimator(s[6]).estimate(p, ops);
                String what = java.util.Arrays.toString(s) + (integers ? " integers" : " gaussian F16");
                assertSameMask(naiveHip(p, s[6]), m, what);
                pruned |= m.density() < 0.5 * BlockMask.all(p).density() / 2;
                // at most k pages from the hierarchy plus the forced ones (sink + diagonal pages)
                int k = new HipEstimator(s[6]).topKPages(s[5]);
                int bq = m.queryBlockTokens();
                int diagonal = (bq + s[5] - 1) / s[5] + 2;
                for (int h = 0; h < s[0]; h++) {
                    for (int b = 0; b < m.queryBlocks(); b++) {
                        assertTrue(m.keptPages(h, b).length <= k + diagonal + 1, what + " block " + b);
                    }
                }
            }
        }
        assertTrue(pruned, "HiP pruned nothing on any shape");
    }

    @Test
    void sameMaskOnOneAndTwoThreads() {
        AttentionProblem p = problem(new SplittableRandom(3), 2, 2, 1500, 1500, 32, 16, DType.F32, false);
        for (TensorOps ops : List.of(new TensorOps(KernelProvider.scalar(), Problems.ONE),
                new TensorOps(KernelProvider.scalar(), Problems.TWO))) {
            assertSameMask(naiveHip(p, 64), new HipEstimator(64).estimate(p, ops), ops.toString());
        }
    }

    @Test
    void kernelWithHipEqualsTheMaskedNaiveAndReadsOnlyKeptPages() {
        SplittableRandom r = new SplittableRandom(11);
        AttentionProblem base = problem(r, 2, 2, 1200, 1200, 32, 16, DType.F32, false);
        KvView[] counting = new KvView[base.kvHeads()];
        for (int h = 0; h < counting.length; h++) {
            counting[h] = new BlockSparseTesting.CountingView(base.kv()[h]);
        }
        AttentionProblem p = new AttentionProblem(base.queries(), 0, base.queryRows(), base.queryHeads(), counting,
                base.queryPositions(), base.scale(), 0f, AttentionMask.CAUSAL);
        TensorOps ops = Problems.panamaTwoThreads();
        BlockMask mask = new HipEstimator(64).estimate(p, ops);
        for (KvView v : counting) { // the estimator reads each page's representative key once
            BlockSparseTesting.CountingView c = (BlockSparseTesting.CountingView) v;
            for (int page = 0; page < c.pageCount(); page++) {
                assertEquals(1, c.keyReads.get(page), "page " + page + " key reads while estimating");
                assertEquals(0, c.valueReads.get(page), "page " + page + " value reads while estimating");
            }
        }
        BlockSparseTesting.assertMatchesMaskedNaive(new BlockSparseAttention(ops, new HipEstimator(64)), p, mask, 2e-5,
                "hip");
        assertTrue(mask.density() < 0.5, "expected a sparse mask, got " + mask);
    }

    @Test
    void exactWhenTopKHoldsEveryPage() {
        assertExactWithEveryPage(new SplittableRandom(5), HipEstimator.Representative.FIRST_KEY);
    }

    @Test
    void findsAFarRegionOfStrongKeys() {
        // HiP assumes locality: pages near a strongly attended one are attended too, so a span's first
        // key speaks for the span. Plant strong first keys on pages 32..47 of 128.
        assertKeepsPlantedRegion(new SplittableRandom(21), 0, HipEstimator.Representative.FIRST_KEY, 1);
    }

    @Test
    void sampledFastPathEqualsItsNaiveReferenceAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(19);
        boolean differs = false;
        for (int[] s : AWKWARD_SHAPES) {
            for (boolean integers : new boolean[] {true, false}) {
                AttentionProblem p = problem(r, s[0], s[1], s[2], s[3], s[4], s[5], integers ? DType.F32 : DType.F16,
                        integers);
                TensorOps ops = integers ? Problems.panamaTwoThreads() : new TensorOps(KernelProvider.scalar(), Problems.TWO);
                HipEstimator sampled = new HipEstimator(s[6], HipEstimator.Representative.SAMPLED);
                BlockMask m = sampled.estimate(p, ops);
                String what = java.util.Arrays.toString(s) + (integers ? " integers" : " gaussian F16");
                assertSameMask(naiveHipSampled(p, s[6]), m, what);
                differs |= !sameMask(new HipEstimator(s[6]).estimate(p, ops), m);
            }
        }
        assertTrue(differs, "the sampled variant kept the paper's mask on every shape");
    }

    @Test
    void defaultIsThePapersFirstKeyRule() {
        assertEquals(HipEstimator.Representative.FIRST_KEY, new HipEstimator(64).representative());
        assertEquals("hip(k=64)", new HipEstimator(64).name());
        assertEquals("hip(k=64, sampled)", new HipEstimator(64, HipEstimator.Representative.SAMPLED).name());
        AttentionProblem p = problem(new SplittableRandom(4), 2, 2, 900, 900, 16, 16, DType.F32, true);
        assertSameMask(naiveHip(p, 96), new HipEstimator(96, HipEstimator.Representative.FIRST_KEY)
                .estimate(p, Problems.panamaTwoThreads()), "explicit FIRST_KEY");
        assertThrows(NullPointerException.class, () -> new HipEstimator(64, null));
    }

    @Test
    void sampledIsExactWhenTopKHoldsEveryPage() {
        assertExactWithEveryPage(new SplittableRandom(15), HipEstimator.Representative.SAMPLED);
    }

    @Test
    void sampledSeesStrongKeysInTheMiddleOfPages() {
        // strong keys in the middle slot of pages 32..47 only: the paper's first-key representative
        // cannot see them, the sampled one (first, middle, last key of a page) can
        assertKeepsPlantedRegion(new SplittableRandom(23), (16 - 1) / 2, HipEstimator.Representative.SAMPLED, 4);
    }

    @Test
    void meanFastPathEqualsItsNaiveReferenceAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(29);
        // Integer data: every key sum is exact in double, so prefix differences equal direct sums; the
        // scalar kernels' dot products are the reference's sum order.
        boolean differs = false;
        for (int[] s : AWKWARD_SHAPES) {
            for (DType dtype : new DType[] {DType.F32, DType.F16}) {
                AttentionProblem p = problem(r, s[0], s[1], s[2], s[3], s[4], s[5], dtype, true);
                TensorOps ops = new TensorOps(KernelProvider.scalar(), Problems.TWO);
                BlockMask m = new HipEstimator(s[6], HipEstimator.Representative.MEAN).estimate(p, ops);
                assertSameMask(naiveHierarchy(p, s[6], HipEstimatorTest::meanHalfScore), m,
                        java.util.Arrays.toString(s) + " " + dtype);
                differs |= !sameMask(new HipEstimator(s[6]).estimate(p, ops), m);
            }
        }
        assertTrue(differs, "the mean variant kept the paper's mask on every shape");
    }

    @Test
    void meanIsExactWhenTopKHoldsEveryPage() {
        assertExactWithEveryPage(new SplittableRandom(31), HipEstimator.Representative.MEAN);
    }

    @Test
    void boundFastPathEqualsItsNaiveReferenceAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(37);
        // integer data: the bound's sums are exact, so the split-query product equals the channel sum
        boolean differs = false;
        for (int[] s : AWKWARD_SHAPES) {
            for (DType dtype : new DType[] {DType.F32, DType.F16}) {
                AttentionProblem p = problem(r, s[0], s[1], s[2], s[3], s[4], s[5], dtype, true);
                TensorOps ops = Problems.panamaTwoThreads();
                BlockMask m = new HipEstimator(s[6], HipEstimator.Representative.BOUND).estimate(p, ops);
                assertSameMask(naiveHierarchy(p, s[6], HipEstimatorTest::boundHalfScore), m,
                        java.util.Arrays.toString(s) + " " + dtype);
                differs |= !sameMask(new HipEstimator(s[6]).estimate(p, ops), m);
            }
        }
        assertTrue(differs, "the bound variant kept the paper's mask on every shape");
    }

    @Test
    void boundIsExactWhenTopKHoldsEveryPage() {
        assertExactWithEveryPage(new SplittableRandom(41), HipEstimator.Representative.BOUND);
    }

    @Test
    void rejectsANonPositiveTopK() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new HipEstimator(0));
        assertTrue(e.getMessage().contains("top-k"), e.getMessage());
        assertEquals(512, new HipEstimator().topKTokens());
        assertEquals(8, new HipEstimator().topKPages(64));
    }
}
