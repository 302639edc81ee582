package dev.longctx.attention;

import dev.longctx.core.select.TopK;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import java.util.Arrays;
import java.util.BitSet;
import java.util.concurrent.atomic.AtomicIntegerArray;

/**
 * Quest (Tang et al., 2024, "Quest: Query-Aware Sparsity for Efficient Long-Context LLM
 * Inference"): page-level top-k selection from per-page key bounds, then exact attention over the
 * selected pages.
 *
 * <p><b>Bound.</b> Each page keeps the per-channel minimum {@code m} and maximum {@code M} of its
 * keys ({@link KvView#keyBounds}). For a query q (pre-scaled by the problem's scale) the page
 * bound {@code U = sum_i max(q_i M_i, q_i m_i)} is at least {@code q.k} for every key of the page;
 * it is computed as {@code q+ . M + q- . m} with {@code q+ = max(q, 0)} and {@code q- = min(q, 0)},
 * one paired dot product per head and page ({@link VectorKernels#pairedDots}, a run of pages per
 * call). Views that keep the bounds packed ({@link PageKeyBounds#isPacked}: bfloat16 rounded
 * outward, as the dense view and the paged cache do) are scanned from those, half the bytes
 * ({@link VectorKernels#pairedDotsBf16}); the bound stays a bound, at most one bfloat16 step per
 * channel looser. The soft cap is monotone, so ranking by the uncapped bound is the same.
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
 * O(P * D * g) for the bounds (reading 2 * P * D bounds: about 2/S of the f16 keys when packed,
 * 4/S in F32),
 * O(P) for the selection, and O(budget * D * g) for the exact attention, reading only the
 * selected pages' K and V. Decode at 128K tokens with a 4K budget reads about 1/16 of what exact
 * attention reads.
 */
public final class QuestAttention extends SelectedAttention {
    /** Pages per scan task of the decode path: ~16 us of bounds per task, 1K tasks at 1M tokens x 16 heads. */
    static final int SCAN_CHUNK = 256;

    private final SplitKDecodeAttention exact;
    /**
     * The decode path's buffers, one workspace per KV head, of the thread that calls
     * {@link #attend}: a head's query, scan and selection live there from the scan to the exact
     * pass (no allocation per step).
     */
    private final ThreadLocal<Workspace[]> headBuffers = ThreadLocal.withInitial(() -> new Workspace[0]);

    /** Quest with the given budget on the given kernels and pool. */
    public QuestAttention(TensorOps ops, SelectedAttentionBudget budget) {
        super(ops, budget);
        this.exact = new SplitKDecodeAttention(ops);
    }

    /** Quest with a budget of {@code budget} keys and the default sinks and window. */
    public QuestAttention(TensorOps ops, int budget) {
        this(ops, SelectedAttentionBudget.of(budget));
    }

    @Override
    public String name() {
        return "quest";
    }

    /** Page states of a scan: masked out or empty, always kept, or ranked by its bound. */
    private static final byte SKIP = 0;
    private static final byte FORCED = 1;
    private static final byte CANDIDATE = 2;

    @Override
    KeySubsetView select(Workspace ws, AttentionProblem p, int row, int kh) {
        int pages = prepare(ws, p, row, kh);
        scan(ws, p, row, kh, ws.q, 0, pages, ws.state, ws.bounds, pages);
        return choose(ws, p, row, kh, pages);
    }

    /**
     * Sizes {@code w}'s query, scan and selection buffers for (row, KV head) and writes the split
     * query; returns the head's page count.
     */
    private static int prepare(Workspace w, AttentionProblem p, int row, int kh) {
        int pages = p.kv()[kh].pageCount();
        int g = p.groupSize();
        w.q = grow(w.q, 2 * g * p.headDim());
        splitQuery(p, row, kh, w.q);
        w.state = grow(w.state, pages);
        w.bounds = grow(w.bounds, g * pages);
        w.pages = grow(w.pages, pages);
        return pages;
    }

    /**
     * Decode (one query row, no observer) with the page scan of every KV head cut into equal
     * chunks across the pool, each head's selection made as soon as its chunks are scanned, then
     * exact attention over all the
     * selections through {@link SplitKDecodeAttention}: with 3 KV heads on 2 threads a task per
     * head left one thread idle a third of the time, and the scan is most of Quest's work at long
     * context. Same selection as {@link #select} (same ranking), exact pass merged in a fixed
     * order, so results do not depend on the thread count.
     */
    @Override
    boolean attendDecode(AttentionProblem p, float[] out, float[] lse) {
        int hkv = p.kvHeads();
        boolean covers = true;
        for (KvView view : p.kv()) {
            covers &= budget.budget() >= (long) view.pageCount() * view.pageSize();
        }
        if (covers) {
            // The budget holds every key: the selection is every valid key the mask allows, which
            // is what exact attention over the views attends (no scan, no indirection).
            exact.attend(p, out, lse, null);
            return true;
        }
        Workspace[] grown = headBuffers.get();
        if (grown.length < hkv) {
            int old = grown.length;
            grown = Arrays.copyOf(grown, hkv);
            for (int h = old; h < hkv; h++) {
                grown[h] = new Workspace(ops);
            }
            headBuffers.set(grown);
        }
        Workspace[] heads = grown; // effectively final for the tasks below
        int[] pages = new int[hkv];
        for (int h = 0; h < hkv; h++) {
            pages[h] = prepare(heads[h], p, 0, h);
        }
        // Chunks of SCAN_CHUNK pages; the cut depends on the problem only.
        int[] first = new int[hkv + 1];
        for (int h = 0; h < hkv; h++) {
            first[h + 1] = first[h] + (pages[h] + SCAN_CHUNK - 1) / SCAN_CHUNK;
        }
        KvView[] selected = new KvView[hkv];
        // Chunks of each head still to scan: the task that finishes a head's last chunk chooses its
        // pages (the counter's read-modify-writes order every chunk's writes before the choice),
        // so choices overlap other heads' scans instead of waiting for them all.
        AtomicIntegerArray unscanned = new AtomicIntegerArray(hkv);
        for (int h = 0; h < hkv; h++) {
            unscanned.set(h, first[h + 1] - first[h]);
            if (pages[h] == 0) {
                selected[h] = choose(heads[h], p, 0, h, 0);
            }
        }
        ops.pool().parallelFor(first[hkv], t -> {
            int h = 0;
            while (t >= first[h + 1]) {
                h++;
            }
            int from = (t - first[h]) * SCAN_CHUNK;
            // This thread's workspace for scratch; the head's buffers for the results.
            Workspace w = heads[h];
            scan(workspace(), p, 0, h, w.q, from, Math.min(pages[h], from + SCAN_CHUNK), w.state, w.bounds, pages[h]);
            if (unscanned.decrementAndGet(h) == 0) {
                selected[h] = choose(w, p, 0, h, pages[h]);
            }
        });
        AttentionProblem sub = new AttentionProblem(p.queries(), p.queryOffset(), 1, p.queryHeads(), selected,
                p.queryPositions(), p.scale(), p.softCap(), p.mask());
        exact.attend(sub, out, lse, null);
        return true;
    }

    /** Row {@code row}'s g scaled queries of KV head {@code kh} split as [q+ of each head][q- of each head]. */
    private static void splitQuery(AttentionProblem p, int row, int kh, float[] q) {
        int gd = p.groupSize() * p.headDim();
        scaledQueries(p, row, kh, q);
        for (int i = 0; i < gd; i++) {
            float x = q[i];
            q[i] = Math.max(x, 0f);
            q[gd + i] = Math.min(x, 0f);
        }
    }

    /**
     * Classifies pages {@code [from, to)} of (row, KV head) into {@code state[pg]} and writes the
     * g heads' bounds of each candidate into {@code ub[j * stride + pg]}.
     */
    private void scan(Workspace ws, AttentionProblem p, int row, int kh, float[] q, int from, int to, byte[] state,
                      float[] ub, int stride) {
        VectorKernels k = ops.kernels();
        KvView view = p.kv()[kh];
        int d = p.headDim();
        int g = p.groupSize();
        int ps = view.pageSize();
        long qPos = p.queryPositions()[row];
        AttentionMask mask = p.mask();
        PageKeyBounds kb = view.keyBounds();
        // Only a budget smaller than the view needs the bounds.
        boolean rank = budget.budget() < (long) view.pageCount() * ps;
        if (rank && kb != null) {
            // Every page's bounds in one pass over the contiguous arrays; those of pages that turn
            // out skipped or forced below are never read.
            if (kb.isPacked()) {
                k.pairedDotsBf16(q, 0, q, g * d, g, d, kb.packedMax(), kb.packedMin(), from, to, ub, stride);
            } else {
                k.pairedDots(q, 0, q, g * d, g, d, kb.max(), kb.min(), from, to, ub, stride);
            }
        }
        for (int pg = from; pg < to; pg++) {
            int n = view.pageLength(pg);
            if (n == 0 || !mask.mayAttend(qPos, qPos, view.pageMinPosition(pg), view.pageMaxPosition(pg))) {
                state[pg] = SKIP;
            } else if (budget.forcesAny(qPos, view.pageMinPosition(pg), view.pageMaxPosition(pg))) {
                state[pg] = FORCED;
            } else {
                state[pg] = CANDIDATE;
                if (rank && kb == null) {
                    bounds(ws, k, view, pg, n, q, g, d, ub, stride, pg);
                }
            }
        }
    }

    /**
     * Chooses the pages of (row, KV head) from a finished scan in {@code ws.state} and
     * {@code ws.bounds}: the forced pages, the last visible
     * page, and the best-ranked candidates up to the budget; returns a view of their valid, allowed
     * keys, built in {@code ws.pages} (selected page indices) and {@code ws.keys} (selected key
     * indices), which the view then shares.
     */
    private KeySubsetView choose(Workspace ws, AttentionProblem p, int row, int kh, int pages) {
        byte[] state = ws.state;
        float[] ub = ws.bounds;
        VectorKernels k = ops.kernels();
        KvView view = p.kv()[kh];
        int g = p.groupSize();
        int ps = view.pageSize();
        long qPos = p.queryPositions()[row];
        AttentionMask mask = p.mask();
        int[] cand = ws.index = grow(ws.index, pages);
        boolean[] keep = ws.flag = grow(ws.flag, pages);
        Arrays.fill(keep, 0, pages, false);
        long budgetPages = ((long) budget.budget() + ps - 1) / ps;
        int nc = 0;
        int forced = 0;
        int last = -1;
        for (int pg = 0; pg < pages; pg++) {
            if (state[pg] == SKIP) {
                continue;
            }
            last = pg;
            if (state[pg] == FORCED) {
                keep[pg] = true;
                forced++;
            } else {
                cand[nc++] = pg;
            }
        }
        if (last >= 0 && !keep[last]) {
            // The last visible page was the last candidate; it is kept unconditionally.
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
            for (int j = 0; j < g; j++) {
                for (int c = 0; c < nc; c++) {
                    scratch[c] = ub[j * pages + cand[c]];
                }
                // One head: normalising changes no ranking.
                float lse = g == 1 ? 0f : logSumExp(k, scratch, nc);
                for (int c = 0; c < nc; c++) {
                    float v = ub[j * pages + cand[c]] - lse;
                    score[c] = j == 0 ? v : Math.max(score[c], v);
                }
            }
            TopK.mark(score, nc, (int) remaining, ws.rank = TopK.scratch(ws.rank, nc), ws.chosen);
            for (int c = ws.chosen.nextSetBit(0); c >= 0; c = ws.chosen.nextSetBit(c + 1)) {
                keep[cand[c]] = true;
            }
        }

        BitSet keys = ws.keys;
        keys.clear();
        int[] sel = ws.pages;
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
            int firstKey = keys.nextSetBit(from);
            if (firstKey >= 0 && firstKey < from + n) {
                sel[ns++] = pg;
            }
        }
        return new SelectedKvView(view, sel, ns, keys);
    }

    /** Writes the g heads' bounds of page {@code pg}, computed from its keys, into {@code ub[j * stride + c]}. */
    private static void bounds(Workspace ws, VectorKernels k, KvView view, int pg, int n, float[] q, int g, int d,
                               float[] ub, int stride, int c) {
        if (!pageBounds(ws, k, view, pg, n, d)) {
            for (int j = 0; j < g; j++) {
                ub[j * stride + c] = Float.NEGATIVE_INFINITY; // no valid key: nothing to attend
            }
            return;
        }
        for (int j = 0; j < g; j++) {
            ub[j * stride + c] = bound(k, q, j * d, g * d + j * d, ws.min, ws.max, 0, d);
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

    /** log sum_c exp(a[c]) over n entries (overwrites a); 0 (no normalisation) when it is not finite. */
    private static float logSumExp(VectorKernels k, float[] a, int n) {
        float m = k.max(a, 0, n);
        if (!Float.isFinite(m)) {
            return 0f;
        }
        float sum = k.expShiftSum(a, 0, n, m);
        float lse = m + (float) Math.log(sum);
        return Float.isFinite(lse) ? lse : 0f;
    }
}
