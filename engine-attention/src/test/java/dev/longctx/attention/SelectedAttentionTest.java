package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

/** QuestAttention and TokenSelectAttention against the naive reference on explicit selections. */
class SelectedAttentionTest {
    private static final int PAGE = 32;

    /** Both kernels with the given budget on the given ops. */
    private static List<SelectedAttention> kernels(TensorOps ops, SelectedAttentionBudget b) {
        return List.of(new QuestAttention(ops, b), new TokenSelectAttention(ops, b));
    }

    /** Float keys and values of every KV head, kept next to the views built from them. */
    private record Heads(float[][] keys, float[][] values, KvView[] views, int d, DType dtype) {
        static Heads random(SplittableRandom r, int kvHeads, int lk, int d, DType dtype, int sinks) {
            float[][] k = new float[kvHeads][];
            float[][] v = new float[kvHeads][];
            KvView[] views = new KvView[kvHeads];
            for (int h = 0; h < kvHeads; h++) {
                k[h] = Problems.gaussian(r, lk * d, 1);
                v[h] = Problems.gaussian(r, lk * d, 1);
                for (int i = 0; i < Math.min(sinks, lk); i++) {
                    k[h][i * d] += 4f; // attention sinks, as in Problems.views
                }
                views[h] = DenseKvView.of(k[h], v[h], d, dtype, PAGE);
            }
            return new Heads(k, v, views, d, dtype);
        }

        /** The views with only the selected keys of each head valid (the explicit selection). */
        KvView[] explicit(BitSet[] selected) {
            KvView[] out = new KvView[views.length];
            for (int h = 0; h < views.length; h++) {
                DenseKvView view = DenseKvView.of(keys[h], values[h], d, dtype, PAGE);
                int n = keys[h].length / d;
                for (int i = 0; i < n; i++) {
                    if (!selected[h].get(i)) {
                        view.invalidate(i);
                    }
                }
                out[h] = view;
            }
            return out;
        }
    }

    /** The same problem restricted to query row {@code row}, over other views. */
    private static AttentionProblem rowProblem(AttentionProblem p, int row, KvView[] kv) {
        return new AttentionProblem(p.queries(), p.queryIndex(row, 0), 1, p.queryHeads(), kv,
                new long[] {p.queryPositions()[row]}, p.scale(), p.softCap(), p.mask());
    }

    private static void assertClose(float[] out, float[] lse, float[] refOut, float[] refLse, double tol, String what) {
        double err = Problems.relativeError(out, refOut, refOut.length);
        assertTrue(err <= tol, what + ": relative error " + err + " > " + tol);
        for (int i = 0; i < refLse.length; i++) {
            boolean bothEmpty = lse[i] == Float.NEGATIVE_INFINITY && refLse[i] == Float.NEGATIVE_INFINITY;
            assertTrue(bothEmpty || Math.abs(lse[i] - refLse[i]) <= 1e-4 * Math.max(1, Math.abs(refLse[i])),
                    what + ": lse[" + i + "] " + lse[i] + " vs " + refLse[i]);
        }
    }

    @Test
    void budgetCoveringEveryKeyEqualsNaiveAcrossShapesProvidersAndThreads() {
        SplittableRandom r = new SplittableRandom(11);
        for (int g : new int[] {1, 2, 4, 8}) {
            for (int lk : new int[] {1, 17, 512, 4099}) {
                for (int d : new int[] {8, 16, 64, 128}) {
                    int kvHeads = 2;
                    KvView[] kv = Problems.views(r, kvHeads, lk, d, DType.F32, PAGE, 4);
                    float[] q = Problems.gaussian(r, kvHeads * g * d, 1);
                    AttentionProblem p = AttentionProblem.causal(q, 1, kvHeads * g, kv);
                    float[] refOut = new float[p.outputLength()];
                    float[] refLse = new float[kvHeads * g];
                    new NaiveAttention().attend(p, refOut, refLse, null);
                    for (TensorOps ops : Problems.allOps()) {
                        for (SelectedAttention kernel : kernels(ops, SelectedAttentionBudget.of(lk))) {
                            float[] out = new float[p.outputLength()];
                            float[] lse = new float[kvHeads * g];
                            kernel.attend(p, out, lse, null);
                            assertClose(out, lse, refOut, refLse, 1e-5, kernel.name() + " " + ops.kernels().name() + "/"
                                    + ops.pool().threads() + "t " + p);
                        }
                    }
                }
            }
        }
    }

    @Test
    void budgetCoveringEveryKeyEqualsNaiveForBlocksMasksSoftCapEvictionsAndMissingBounds() {
        SplittableRandom r = new SplittableRandom(12);
        TensorOps ops = Problems.panamaTwoThreads();
        for (DType t : new DType[] {DType.F32, DType.F16}) {
            KvView[] kv = Problems.views(r, 2, 700, 32, t, PAGE, 4);
            for (int i = 10; i < 200; i += 7) {
                ((DenseKvView) kv[1]).invalidate(i);
            }
            KvView[] noBounds = {new NoBoundsView(kv[0]), new NoBoundsView(kv[1])};
            float[] q = Problems.gaussian(r, 40 * 4 * 32, 2);
            long[] pos = AttentionProblem.lastPositions(kv[0], 40);
            for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.NONE,
                    AttentionMask.slidingWindow(64, 4), AttentionMask.slidingWindow(100, 0)}) {
                for (float cap : new float[] {0f, 5f}) {
                    for (KvView[] views : new KvView[][] {kv, noBounds}) {
                        AttentionProblem p = new AttentionProblem(q, 0, 40, 4, views, pos, 0.2f, cap, mask);
                        for (SelectedAttention kernel : kernels(ops, new SelectedAttentionBudget(700, 4, 64))) {
                            Problems.assertMatchesNaive(kernel, p, 1e-5, kernel.name() + " " + t);
                        }
                    }
                }
            }
        }
    }

    @Test
    void smallBudgetEqualsNaiveOnTheEquivalentExplicitSelection() {
        SplittableRandom r = new SplittableRandom(13);
        TensorOps ops = Problems.panamaTwoThreads();
        int lk = 4099;
        int d = 64;
        int lq = 3;
        for (int g : new int[] {1, 4}) {
            Heads heads = Heads.random(r, 2, lk, d, DType.F32, 4);
            float[] q = Problems.gaussian(r, lq * 2 * g * d, 1);
            long[] pos = AttentionProblem.lastPositions(heads.views()[0], lq);
            for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.slidingWindow(1500, 4)}) {
                AttentionProblem p = new AttentionProblem(q, 0, lq, 2 * g, heads.views(), pos,
                        (float) (1 / Math.sqrt(d)), 0f, mask);
                for (int budget : new int[] {1, 100, 1000}) {
                    SelectedAttentionBudget b = new SelectedAttentionBudget(budget, 4, 40);
                    for (SelectedAttention kernel : kernels(ops, b)) {
                        String what = kernel.name() + " g=" + g + " budget=" + budget + " " + mask;
                        float[] out = new float[p.outputLength()];
                        float[] lse = new float[lq * 2 * g];
                        kernel.attend(p, out, lse, null);
                        for (int row = 0; row < lq; row++) {
                            BitSet[] sel = new BitSet[2];
                            for (int kh = 0; kh < 2; kh++) {
                                sel[kh] = kernel.selectedKeys(p, row, kh);
                                checkSelection(kernel, heads.views()[kh], sel[kh], pos[row], mask, b, what);
                            }
                            AttentionProblem one = rowProblem(p, row, heads.explicit(sel));
                            float[] refOut = new float[one.outputLength()];
                            float[] refLse = new float[2 * g];
                            new NaiveAttention().attend(one, refOut, refLse, null);
                            int n = 2 * g * d;
                            assertClose(Arrays.copyOfRange(out, row * n, row * n + n),
                                    Arrays.copyOfRange(lse, row * 2 * g, row * 2 * g + 2 * g), refOut, refLse, 1e-5,
                                    what + " row " + row);
                        }
                    }
                }
            }
        }
    }

    /** Selection invariants: inside the mask, forced keys present, size within the budget. */
    private static void checkSelection(SelectedAttention kernel, KvView view, BitSet sel, long qPos, AttentionMask mask,
                                       SelectedAttentionBudget b, String what) {
        int ps = view.pageSize();
        int visible = 0;
        int forced = 0;
        long lastVisible = -1;
        for (int key = 0; key < view.pageCount() * ps; key++) {
            int pg = key / ps;
            int s = key % ps;
            boolean ok = s < view.pageLength(pg) && view.isValid(pg, s) && mask.allows(qPos, view.position(pg, s));
            if (!ok) {
                assertFalse(sel.get(key), what + ": selected key " + key + " is masked or invalid");
                continue;
            }
            visible++;
            lastVisible = key;
            long kPos = view.position(pg, s);
            if (b.isSink(kPos) || b.isRecent(qPos, kPos)) {
                forced++;
                assertTrue(sel.get(key), what + ": sink/recent key " + key + " not selected");
            }
        }
        if (kernel instanceof TokenSelectAttention) {
            assertEquals(Math.max(forced, Math.min(b.budget(), visible)), sel.cardinality(), what + ": selection size");
        } else {
            assertTrue(sel.get((int) lastVisible), what + ": last visible key (last page) not selected");
            long lastPage = lastVisible / ps;
            BitSet pages = new BitSet();
            sel.stream().forEach(k -> pages.set(k / ps));
            int forcedPages = (int) sel.stream().filter(k -> {
                long p = view.position(k / ps, k % ps);
                return b.isSink(p) || b.isRecent(qPos, p) || k / ps == lastPage;
            }).map(k -> k / ps).distinct().count();
            long budgetPages = (b.budget() + ps - 1) / ps;
            assertTrue(pages.cardinality() <= Math.max(forcedPages, budgetPages), what + ": " + pages.cardinality()
                    + " pages over the budget of " + budgetPages);
        }
        assertTrue(sel.cardinality() < visible || b.budget() >= visible, what + ": nothing was left out");
    }

    @Test
    void observerReportsTheSelectionsProbabilitiesAndZeroElsewhere() {
        SplittableRandom r = new SplittableRandom(14);
        int d = 16;
        int lq = 2;
        int g = 2;
        Heads heads = Heads.random(r, 2, 300, d, DType.F32, 4);
        float[] q = Problems.gaussian(r, lq * 2 * g * d, 1);
        AttentionProblem p = AttentionProblem.causal(q, lq, 2 * g, heads.views());
        int slots = heads.views()[0].pageCount() * PAGE;
        for (SelectedAttention kernel : kernels(Problems.panamaTwoThreads(), new SelectedAttentionBudget(70, 4, 16))) {
            float[][] seen = new float[lq * 2 * g][slots];
            int[] calls = new int[1];
            kernel.attend(p, new float[p.outputLength()], null, (row, head, kvHead, page, probs, count) -> {
                assertEquals(head / g, kvHead);
                synchronized (calls) {
                    System.arraycopy(probs, 0, seen[row * 2 * g + head], page * PAGE, count);
                    calls[0]++;
                }
            });
            assertEquals(lq * 2 * g * heads.views()[0].pageCount(), calls[0], kernel.name() + ": observer calls");
            for (int row = 0; row < lq; row++) {
                BitSet[] sel = {kernel.selectedKeys(p, row, 0), kernel.selectedKeys(p, row, 1)};
                float[][] ref = new float[2 * g][slots];
                new NaiveAttention().attend(rowProblem(p, row, heads.explicit(sel)), new float[2 * g * d], null,
                        (rr, head, kvHead, page, probs, count) -> System.arraycopy(probs, 0, ref[head], page * PAGE, count));
                for (int h = 0; h < 2 * g; h++) {
                    float[] got = seen[row * 2 * g + h];
                    double sum = 0;
                    for (int key = 0; key < slots; key++) {
                        sum += got[key];
                        if (!sel[h / g].get(key)) {
                            assertEquals(0f, got[key], kernel.name() + ": unselected key " + key + " got mass");
                        }
                        assertEquals(ref[h][key], got[key], 1e-6, kernel.name() + " row " + row + " head " + h + " key " + key);
                    }
                    assertEquals(1.0, sum, 1e-5, kernel.name() + " row " + row + " head " + h);
                }
            }
        }
    }

    @Test
    void questBoundIsAtLeastEveryKeysLogitInThePage() {
        SplittableRandom r = new SplittableRandom(15);
        for (VectorKernels k : List.of(KernelProvider.scalar(), KernelProvider.panama())) {
            for (int trial = 0; trial < 300; trial++) {
                int d = new int[] {8, 16, 64, 128}[trial % 4];
                int n = 1 + r.nextInt(64);
                DType t = trial % 3 == 0 ? DType.F16 : DType.F32;
                float[] keys = Problems.gaussian(r, n * d, 1 + r.nextInt(5));
                DenseKvView view = DenseKvView.of(keys, new float[n * d], d, t, 64);
                float[] q = Problems.gaussian(r, d, 3);
                float[] split = new float[2 * d];
                for (int c = 0; c < d; c++) {
                    split[c] = Math.max(q[c], 0f);
                    split[d + c] = Math.min(q[c], 0f);
                }
                float u = QuestAttention.bound(k, split, 0, d, view.keyMin(0), view.keyMax(0), 0, d);
                float[] row = new float[d];
                double trueMax = Double.NEGATIVE_INFINITY;
                double slack = 0;
                for (int s = 0; s < n; s++) {
                    // The stored (rounded) keys are what the kernels read and what the bounds cover.
                    Quantization.dequantize(t, view.keys(0), s * view.rowBytes(), row, 0, d);
                    double dot = 0;
                    double abs = 0;
                    for (int c = 0; c < d; c++) {
                        dot += (double) q[c] * row[c];
                        abs += Math.abs((double) q[c] * row[c]);
                    }
                    trueMax = Math.max(trueMax, dot);
                    slack = Math.max(slack, abs * 1e-6); // f32 rounding of the two dot products
                }
                assertTrue(u >= trueMax - slack, k.name() + " trial " + trial + ": bound " + u + " < max " + trueMax);
            }
        }
    }

    /**
     * The planted needle: 65,536 random keys, four sinks that draw attention (a large component
     * along the query direction, as attention sinks do in real LLMs) and one key aligned with the
     * query at a random position outside the recent window, with a distinctive value. With a budget
     * of 1/32 of the keys, Quest and token-level top-k find the needle in every trial: their output
     * is the exact output. Sink + window attention with the same number of keys (window = budget)
     * cannot see it and returns the sinks' and the window's values instead. That is the trade-off:
     * sink + window is free of any selection work and reads a fixed, contiguous set of keys, but a
     * fact that left the window is gone; query-aware selection pays O(pages * D) (Quest) or
     * O(Lk * D) (TokenSelect) per step to find it again.
     *
     * <p>Only the retrieving head (head 0) is compared; the other three query heads of the group
     * have random queries whose attention is spread over all 64K keys, which no 2K-key selection
     * reproduces to 1e-3. They are there so that the group's combined selection must keep a page
     * only one head needs.
     */
    @Test
    void plantedNeedleIsFoundByQuestAndTokenSelectButNotBySinkPlusWindow() {
        int lk = 65_536;
        int d = 64;
        int g = 4;
        int page = 64;
        int budget = lk / 32;
        int sinks = 4;
        TensorOps ops = Problems.panamaTwoThreads();
        SelectedAttentionBudget b = new SelectedAttentionBudget(budget, sinks, SelectedAttentionBudget.DEFAULT_WINDOW);
        QuestAttention quest = new QuestAttention(ops, b);
        TokenSelectAttention tokens = new TokenSelectAttention(ops, b);
        AttentionKernel exact = new TiledAttention(ops);
        AttentionKernel window = new TiledAttention(ops);
        float[] keys = new float[lk * d];
        float[] values = new float[lk * d];
        for (int trial = 0; trial < 100; trial++) {
            SplittableRandom r = new SplittableRandom(1000 + trial);
            uniform(r.nextLong(), keys);
            uniform(r.nextLong(), values);
            float[] u = Problems.gaussian(r, d, 1);
            double norm = Math.sqrt(dot(u, u));
            for (int c = 0; c < d; c++) {
                u[c] /= (float) norm;
            }
            // scale = 1/8 for D = 64, so a query of norm 8 along u gives logit u.k: about N(0, 1) for
            // random keys, 22 for the sinks (far above the 64K random keys together), 30 for the needle.
            float[] q = Problems.gaussian(r, g * d, 1);
            for (int c = 0; c < d; c++) {
                q[c] = 8 * u[c];
            }
            for (int s = 0; s < sinks; s++) {
                for (int c = 0; c < d; c++) {
                    keys[s * d + c] += 22 * u[c];
                }
            }
            int needle = sinks + r.nextInt(lk - budget - sinks); // outside the window and the sinks
            for (int c = 0; c < d; c++) {
                keys[needle * d + c] = 30 * u[c];
                values[needle * d + c] = (c % 2 == 0 ? 10f : -10f);
            }
            DType t = trial % 2 == 0 ? DType.F32 : DType.F16;
            KvView view = DenseKvView.of(keys, values, d, t, page);
            AttentionProblem p = AttentionProblem.causal(q, 1, g, view);
            float[] ref = new float[p.outputLength()];
            exact.attend(p, ref, null, null);
            if (trial == 0) {
                float[] naive = new float[p.outputLength()];
                new NaiveAttention().attend(p, naive, null, null);
                assertTrue(Problems.relativeError(ref, naive, ref.length) <= 1e-5, "tiled vs naive at 64K");
            }
            // The exact output is mostly the needle's value: the test is about finding it.
            assertTrue(maxAbsDiff(ref, Arrays.copyOfRange(values, needle * d, needle * d + d), d) < 1,
                    "trial " + trial + ": exact output " + ref[0] + ", " + ref[1] + " is not mostly the needle's value");
            for (SelectedAttention kernel : List.of(quest, tokens)) {
                float[] out = new float[p.outputLength()];
                kernel.attend(p, out, null, null);
                double diff = maxAbsDiff(out, ref, d);
                assertTrue(diff <= 1e-3, kernel.name() + " trial " + trial + " (" + t + ", needle at " + needle
                        + "): head 0 differs from exact by " + diff);
                if (kernel == quest) {
                    // Cheap for Quest; TokenSelect's output check above already needs the needle.
                    assertTrue(quest.selectedKeys(p, 0, 0).get(needle), "quest trial " + trial + ": needle not selected");
                }
            }
            AttentionProblem windowed = new AttentionProblem(q, 0, 1, g, new KvView[] {view}, p.queryPositions(),
                    p.scale(), 0f, AttentionMask.slidingWindow(budget, sinks));
            float[] out = new float[p.outputLength()];
            window.attend(windowed, out, null, null);
            double diff = maxAbsDiff(out, ref, d);
            assertTrue(diff > 1, "trial " + trial + ": sink + window should miss the needle, differs by only " + diff);
        }
    }

    private static double dot(float[] a, float[] b) {
        double s = 0;
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            s += (double) a[i] * b[i];
        }
        return s;
    }

    private static double maxAbsDiff(float[] a, float[] b, int n) {
        double m = 0;
        for (int i = 0; i < n; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }

    /** Uniform floats of unit variance from xorshift64*: an order of magnitude cheaper than Gaussians. */
    private static void uniform(long seed, float[] a) {
        int n = a.length;
        long x = seed | 1;
        float sqrt3 = (float) Math.sqrt(3);
        for (int i = 0; i < n; i++) {
            x ^= x >>> 12;
            x ^= x << 25;
            x ^= x >>> 27;
            long bits = x * 0x2545F4914F6CDD1DL;
            float unit = (bits >>> 40) * 0x1.0p-24f; // [0, 1)
            a[i] = (2 * unit - 1) * sqrt3;
        }
    }

    @Test
    void oneAndTwoThreadsAreBitIdenticalAndEmptyBlocksAreNoOps() {
        SplittableRandom r = new SplittableRandom(16);
        KvView[] kv = Problems.views(r, 2, 1000, 64, DType.F16, PAGE, 4);
        float[] q = Problems.gaussian(r, 5 * 8 * 64, 1);
        AttentionProblem p = AttentionProblem.causal(q, 5, 8, kv);
        var ops = Problems.allOps();
        for (BiFunction<TensorOps, Integer, SelectedAttention> make : List.<BiFunction<TensorOps, Integer, SelectedAttention>>of(
                QuestAttention::new, TokenSelectAttention::new)) {
            Problems.assertSameAcrossThreads(o -> make.apply(o, 200), p);
            AttentionProblem empty = new AttentionProblem(q, 0, 0, 8, kv, new long[0], 0.125f, 0f, AttentionMask.CAUSAL);
            make.apply(ops.get(3), 200).attend(empty, new float[0], null, null);
        }
    }

    @Test
    void quickselectRanksLikeASortWithTiesAndNaN() {
        SplittableRandom r = new SplittableRandom(17);
        for (int trial = 0; trial < 500; trial++) {
            int n = 1 + r.nextInt(200);
            float[] s = new float[n];
            for (int i = 0; i < n; i++) {
                s[i] = r.nextInt(4) == 0 ? 0f : r.nextInt(20); // many ties
                if (r.nextInt(50) == 0) {
                    s[i] = Float.NaN;
                }
            }
            int k = r.nextInt(n + 2);
            BitSet chosen = new BitSet();
            dev.longctx.core.select.TopK.mark(s, n, k, new double[2 * n], chosen);
            assertEquals(Math.min(k, n), chosen.cardinality());
            // Every chosen score ranks at least as high as every unchosen one (NaN as +infinity).
            float minChosen = Float.POSITIVE_INFINITY;
            float maxOther = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                float v = Float.isNaN(s[i]) ? Float.POSITIVE_INFINITY : s[i];
                if (chosen.get(i)) {
                    minChosen = Math.min(minChosen, v);
                } else {
                    maxOther = Math.max(maxOther, v);
                }
            }
            assertTrue(minChosen >= maxOther, "trial " + trial);
        }
    }

    @Test
    void badArgumentsNameTheArgument() {
        TensorOps ops = Problems.panamaTwoThreads();
        assertMessage(() -> new SelectedAttentionBudget(0, 4, 64), "budget");
        assertMessage(() -> new SelectedAttentionBudget(-3, 4, 64), "budget");
        assertMessage(() -> new SelectedAttentionBudget(10, -1, 64), "sinks");
        assertMessage(() -> new SelectedAttentionBudget(10, 4, -1), "window");
        assertMessage(() -> new QuestAttention(ops, 0), "budget");
        assertMessage(() -> new TokenSelectAttention(ops, -1), "budget");
        assertThrows(NullPointerException.class, () -> new QuestAttention(null, 10));
        assertThrows(NullPointerException.class, () -> new TokenSelectAttention(ops, null));
        SplittableRandom r = new SplittableRandom(18);
        KvView[] kv = Problems.views(r, 1, 50, 16, DType.F32, PAGE, 0);
        AttentionProblem p = AttentionProblem.causal(Problems.gaussian(r, 32, 1), 1, 2, kv);
        for (SelectedAttention kernel : kernels(ops, SelectedAttentionBudget.of(8))) {
            assertMessage(() -> kernel.selectedKeys(p, 1, 0), "row");
            assertMessage(() -> kernel.selectedKeys(p, 0, 1), "kvHead");
            assertMessage(() -> kernel.attend(p, new float[3], null, null), "out");
        }
        assertMessage(() -> SelectedKvView.of(kv[0], BitSet.valueOf(new long[] {0, 0, 1})), "outside");
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String word) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(word), "message '" + e.getMessage() + "' should name " + word);
    }

    /** A view that does not maintain Quest's key bounds. */
    private record NoBoundsView(KvView base) implements KvView {
        @Override
        public int headDim() {
            return base.headDim();
        }

        @Override
        public DType dtype() {
            return base.dtype();
        }

        @Override
        public int pageSize() {
            return base.pageSize();
        }

        @Override
        public int pageCount() {
            return base.pageCount();
        }

        @Override
        public int pageLength(int page) {
            return base.pageLength(page);
        }

        @Override
        public MemorySegment keys(int page) {
            return base.keys(page);
        }

        @Override
        public MemorySegment values(int page) {
            return base.values(page);
        }

        @Override
        public long position(int page, int slot) {
            return base.position(page, slot);
        }

        @Override
        public boolean isValid(int page, int slot) {
            return base.isValid(page, slot);
        }
    }
}
