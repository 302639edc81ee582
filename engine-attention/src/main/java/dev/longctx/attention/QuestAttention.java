package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.VectorKernels;
import java.util.Arrays;
import java.util.BitSet;

/**
 * Quest (Tang et al., 2024, "Quest: Query-Aware Sparsity for Efficient Long-Context LLM
 * Inference"): page-level top-k selection from per-page key bounds, then exact attention over the
 * selected pages.
 *
 * <p><b>Bound.</b> Each page keeps the per-channel minimum {@code m} and maximum {@code M} of its
 * keys ({@link KvView#keyBounds}). For a query q (pre-scaled by the problem's
 * scale) the page bound {@code U = sum_i max(q_i M_i, q_i m_i)} is at least {@code q.k} for every
 * key of the page; it is computed as {@code q+ . M + q- . m} with {@code q+ = max(q, 0)} and
 * {@code q- = min(q, 0)}, two vectorised dot products per head and page. The soft cap is monotone,
 * so ranking by the uncapped bound is the same.
 *
 * <p><b>GQA.</b> The g query heads of a KV head choose one page set, so each selected K/V page is
 * read once per group. A page's group score is {@code max_h (U_h(p) - LSE_h)}, where
 * {@code LSE_h} is the log-sum-exp of head h's bounds over the candidate pages: the bound as a
 * log-softmax over pages. Normalising per head removes differences of logit scale between heads
 * (a head with a larger query norm would otherwise win every page); taking the maximum keeps a page
 * that any single head needs (a retrieval head's needle is not outvoted by the others), which is
 * closest to Quest's per-head selection under a shared budget.
 *
 * <p><b>Budget.</b> {@code ceil(budget / pageSize)} pages per query row and KV head. Always kept
 * (and counted against it): the pages holding sink keys, the pages meeting the recent window, and
 * the last page the row can see (Quest keeps the last page: it holds the newest tokens). The
 * remaining pages go to the best group scores. Within selected pages only valid keys the mask
 * allows are attended. Pages whose keys were all evicted still compete (checking would cost a scan
 * of every slot); the cache should drop such pages.
 *
 * <p><b>Missing bounds.</b> When a view returns null from {@code keyBounds}, the bounds
 * of that page are computed from its keys on every call (dequantise, per-channel min/max of valid
 * slots). That keeps the kernel correct on any view but reads every key, so it then saves only the
 * V traffic and the exact pass; views that maintain bounds (the dense view, the paged cache) avoid
 * it.
 *
 * <p><b>Cost</b> per query row and KV head, with P pages of size S, head dim D and group size g:
 * O(P * D * g) for the bounds (reading 2 * P * D floats of metadata, about 4/S of the f16 keys),
 * O(P) for the selection, and O(budget * D * g) for the exact attention, reading only the
 * selected pages' K and V. Decode at 128K tokens with a 4K budget reads about 1/16 of what exact
 * attention reads.
 */
public final class QuestAttention extends SelectedAttention {

    /** Quest with the given budget on the given kernels and pool. */
    public QuestAttention(TensorOps ops, SelectedAttentionBudget budget) {
        super(ops, budget);
    }

    /** Quest with a budget of {@code budget} keys and the default sinks and window. */
    public QuestAttention(TensorOps ops, int budget) {
        this(ops, SelectedAttentionBudget.of(budget));
    }

    @Override
    public String name() {
        return "quest";
    }

    @Override
    KeySubsetView select(Workspace ws, AttentionProblem p, int row, int kh) {
        VectorKernels k = ops.kernels();
        KvView view = p.kv()[kh];
        int d = p.headDim();
        int g = p.groupSize();
        int ps = view.pageSize();
        int pages = view.pageCount();
        long qPos = p.queryPositions()[row];
        AttentionMask mask = p.mask();

        // [0, g*d): q+ of each head; [g*d, 2g*d): q- of each head.
        float[] q = ws.q = grow(ws.q, 2 * g * d);
        scaledQueries(p, row, kh, q);
        for (int i = 0; i < g * d; i++) {
            float x = q[i];
            q[i] = Math.max(x, 0f);
            q[g * d + i] = Math.min(x, 0f);
        }

        int[] cand = ws.index = grow(ws.index, pages);
        float[] ub = ws.bounds = grow(ws.bounds, g * pages);
        boolean[] keep = ws.flag = grow(ws.flag, pages);
        Arrays.fill(keep, 0, pages, false);
        long budgetPages = ((long) budget.budget() + ps - 1) / ps;
        PageKeyBounds kb = view.keyBounds();
        int nc = 0;
        int forced = 0;
        int last = -1;
        for (int pg = 0; pg < pages; pg++) {
            int n = view.pageLength(pg);
            if (n == 0) {
                continue;
            }
            long kLo = view.pageMinPosition(pg);
            long kHi = view.pageMaxPosition(pg);
            if (!mask.mayAttend(qPos, qPos, kLo, kHi)) {
                continue;
            }
            last = pg;
            if (budget.forcesAny(qPos, kLo, kHi)) {
                keep[pg] = true;
                forced++;
                continue;
            }
            cand[nc] = pg;
            if (budget.budget() < (long) pages * ps) {
                // Only a budget smaller than the view needs the bounds.
                bounds(ws, k, view, kb, pg, n, q, g, d, ub, pages, nc);
            }
            nc++;
        }
        if (last >= 0 && !keep[last]) {
            // The last visible page was the last candidate added; it is kept unconditionally.
            keep[last] = true;
            forced++;
            nc--;
        }
        long remaining = Math.max(0, budgetPages - forced);
        if (remaining >= nc) {
            for (int c = 0; c < nc; c++) {
                keep[cand[c]] = true;
            }
        } else {
            float[] score = ws.score = grow(ws.score, nc);
            float[] scratch = ws.scratch = grow(ws.scratch, nc);
            if (g == 1) {
                System.arraycopy(ub, 0, score, 0, nc); // one head: normalising changes no ranking
            } else {
                for (int j = 0; j < g; j++) {
                    float lse = logSumExp(k, ub, j * pages, nc, scratch);
                    for (int c = 0; c < nc; c++) {
                        float v = ub[j * pages + c] - lse;
                        score[c] = j == 0 ? v : Math.max(score[c], v);
                    }
                }
            }
            markTop(score, nc, (int) remaining, scratch, ws.chosen);
            for (int c = ws.chosen.nextSetBit(0); c >= 0; c = ws.chosen.nextSetBit(c + 1)) {
                keep[cand[c]] = true;
            }
        }

        BitSet keys = ws.keys;
        keys.clear();
        int[] sel = ws.pages = grow(ws.pages, pages);
        int ns = 0;
        for (int pg = 0; pg < pages; pg++) {
            if (!keep[pg]) {
                continue;
            }
            int n = view.pageLength(pg);
            int from = pg * ps;
            if (mask.attendsAll(qPos, qPos, view.pageMinPosition(pg), view.pageMaxPosition(pg)) && view.allValid(pg)) {
                keys.set(from, from + n);
            } else {
                for (int s = 0; s < n; s++) {
                    if (view.isValid(pg, s) && mask.allows(qPos, view.position(pg, s))) {
                        keys.set(from + s);
                    }
                }
            }
            int first = keys.nextSetBit(from);
            if (first >= 0 && first < from + n) {
                sel[ns++] = pg;
            }
        }
        return new SelectedKvView(view, sel, ns, keys);
    }

    /** Writes the g heads' bounds of page {@code pg} into {@code ub[j * stride + c]}. */
    private static void bounds(Workspace ws, VectorKernels k, KvView view, PageKeyBounds kb, int pg, int n, float[] q,
                               int g, int d, float[] ub, int stride, int c) {
        float[] mn;
        float[] mx;
        int off;
        if (kb != null) {
            mn = kb.min();
            mx = kb.max();
            off = pg * d;
        } else {
            if (!pageBounds(ws, k, view, pg, n, d)) {
                for (int j = 0; j < g; j++) {
                    ub[j * stride + c] = Float.NEGATIVE_INFINITY; // no valid key: nothing to attend
                }
                return;
            }
            mn = ws.min;
            mx = ws.max;
            off = 0;
        }
        for (int j = 0; j < g; j++) {
            ub[j * stride + c] = bound(k, q, j * d, g * d + j * d, mn, mx, off, d);
        }
    }

    /**
     * Quest's page bound {@code sum_i max(q_i max_i, q_i min_i)} from the split query:
     * {@code qPlus . max + qMinus . min}, where {@code q[posOff..]} holds {@code max(q, 0)} and
     * {@code q[negOff..]} holds {@code min(q, 0)}, and the page's bounds start at {@code min[off]}
     * and {@code max[off]}.
     */
    static float bound(VectorKernels k, float[] q, int posOff, int negOff, float[] min, float[] max, int off, int d) {
        return k.dot(q, posOff, max, off, d) + k.dot(q, negOff, min, off, d);
    }

    /** Per-channel min/max of the page's valid keys into ws.min/ws.max; false when none is valid. */
    private static boolean pageBounds(Workspace ws, VectorKernels k, KvView view, int pg, int n, int d) {
        float[] keys = ws.page = grow(ws.page, n * d);
        float[] mn = ws.min = grow(ws.min, d);
        float[] mx = ws.max = grow(ws.max, d);
        Arrays.fill(mn, 0, d, Float.POSITIVE_INFINITY);
        Arrays.fill(mx, 0, d, Float.NEGATIVE_INFINITY);
        k.dequantize(view.dtype(), view.keys(pg), 0, keys, 0, n * d);
        boolean any = false;
        for (int s = 0; s < n; s++) {
            if (!view.isValid(pg, s)) {
                continue;
            }
            any = true;
            for (int c = 0; c < d; c++) {
                mn[c] = Math.min(mn[c], keys[s * d + c]);
                mx[c] = Math.max(mx[c], keys[s * d + c]);
            }
        }
        return any;
    }

    /** log sum_c exp(a[off + c]) over n entries; 0 (no normalisation) when it is not finite. */
    private static float logSumExp(VectorKernels k, float[] a, int off, int n, float[] scratch) {
        System.arraycopy(a, off, scratch, 0, n);
        float m = k.max(scratch, 0, n);
        if (!Float.isFinite(m)) {
            return 0f;
        }
        float sum = k.expShiftSum(scratch, 0, n, m);
        float lse = m + (float) Math.log(sum);
        return Float.isFinite(lse) ? lse : 0f;
    }
}
