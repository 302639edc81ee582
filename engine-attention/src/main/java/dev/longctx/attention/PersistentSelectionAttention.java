package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import java.util.BitSet;
import java.util.Objects;

/**
 * Exact attention over a selection made earlier: each KV head attends the keys whose positions its
 * {@link PersistentSelection} holds, plus every key at or after the selection's
 * {@link PersistentSelection#keepFrom()} (tokens that arrived since), within the problem's mask.
 * Decode steps (one query row, no observer) read the selected rows in place by index, split-K over
 * the selection ({@link IndexedKvView}); other calls gather the selected keys into dense pages and
 * attend them as {@link SelectedAttention} does. Either way the output is exactly softmax attention
 * restricted to those keys.
 *
 * <p>This is the sparse half of two decode methods: TidalDecode (Yang et al., 2024) attends the
 * positions its token-selection layer chose at the layers after it, and Recycled Attention (Xu et
 * al., 2024) attends the top keys its last full-attention step recorded at the steps between.
 *
 * <p><b>Cost</b> per query row and KV head: a scan of the page positions (pages holding no selected
 * or recent position are skipped after one binary search), then O(k * D * g) exact attention over
 * k kept keys (plus O(k * D) copying on the gathered path). It reads no key that it does not attend.
 *
 * <p>Threading: bind a selection per call with {@link #attend(PersistentSelection, AttentionProblem,
 * float[], float[], AttentionObserver)} or a kernel from {@link #over}; an instance serves one
 * sequence, one call at a time (the call's selection is held in a field the pool's tasks read).
 * The plain {@link #attend(AttentionProblem, float[], float[], AttentionObserver)} uses the last
 * bound selection.
 */
public final class PersistentSelectionAttention extends SelectedAttention {
    /** No budget applies: the selection decides. */
    private static final SelectedAttentionBudget UNBOUNDED = new SelectedAttentionBudget(Integer.MAX_VALUE, 0, 0);

    private final SplitKDecodeAttention exact;
    private volatile PersistentSelection selection;

    /** A kernel on the given kernels and pool. */
    public PersistentSelectionAttention(TensorOps ops) {
        super(ops, UNBOUNDED);
        this.exact = new SplitKDecodeAttention(ops);
    }

    @Override
    public String name() {
        return "persistent-selection";
    }

    /** Attends {@code sel}'s keys (see the class comment). */
    public void attend(PersistentSelection sel, AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        this.selection = Objects.requireNonNull(sel, "selection");
        attend(p, out, lse, observer);
    }

    /** A kernel attending {@code sel}'s keys through this instance (same threading rule). */
    public AttentionKernel over(PersistentSelection sel) {
        Objects.requireNonNull(sel, "selection");
        return boundTo(() -> this.selection = sel);
    }

    /** Pages this kernel's decode steps have read in place by index ({@link IndexedKvView}), over its life: tests assert the fast path ran. */
    long indexedPages() {
        return exact.indexedPages();
    }

    @Override
    KeySubsetView select(Workspace ws, AttentionProblem p, int row, int kh) {
        int n = chooseKeys(ws, p, row, kh);
        BitSet keys = ws.keys;
        keys.clear();
        for (int i = 0; i < n; i++) {
            keys.set(ws.index[i]);
        }
        return ws.gathered.reset(p.kv()[kh], keys);
    }

    /**
     * Decode without an observer: each KV head's keys chosen on the pool (one task per head), then
     * split-K over views that read the chosen rows in place by index ({@link IndexedKvView} through
     * {@link dev.longctx.core.kernels.spi.VectorKernels#decodeAttentionRows}), cut into work units
     * over the selection as the full cache's pages are. The keys are chosen as an increasing list
     * ({@link #indexedViewsOfLists}): the step's work outside the kernel is O(pages + selected), with
     * no set of the cache's size built and scanned. Where a page of the selection would need a
     * per-key mask or a soft cap applies (not the fused step), or the group is a prefill-sized tile,
     * false: the generic path gathers the keys.
     */
    @Override
    boolean attendDecode(AttentionProblem p, float[] out, float[] lse) {
        if (p.softCap() > 0 || p.groupSize() >= OnlineSoftmaxTile.PACKED_MIN_ROWS) {
            return false;
        }
        Workspace ws = workspace();
        KvView[] views = indexedViewsOfLists(ws, p, (w, kh) -> chooseKeys(w, p, 0, kh));
        if (views == null) {
            return false;
        }
        AttentionProblem sub = new AttentionProblem(p.queries(), p.queryOffset(), 1, p.queryHeads(), views,
                p.queryPositions(), p.scale(), p.softCap(), p.mask());
        exact.attend(sub, out, lse, null);
        return true;
    }

    /**
     * The keys row {@code row} attends through {@code kh}, as key indices of its view, strictly
     * increasing, written to {@code ws.index}; returns their count. Pages are visited in order; the
     * selection's cursor moves forward from page to page while their positions increase (a cache's
     * pages do) and is found by binary search otherwise, so a step costs O(pages + selected).
     */
    private int chooseKeys(Workspace ws, AttentionProblem p, int row, int kh) {
        PersistentSelection sel = selection;
        if (sel == null) {
            throw new IllegalStateException(name() + ": no selection bound (attend(selection, ...) or over(selection))");
        }
        if (sel.kvHeads() != p.kvHeads()) {
            throw new IllegalArgumentException(name() + ": the selection holds " + sel.kvHeads() + " KV heads, the problem "
                    + p.kvHeads());
        }
        KvView view = p.kv()[kh];
        int ps = view.pageSize();
        long qPos = p.queryPositions()[row];
        AttentionMask mask = p.mask();
        long keepFrom = sel.keepFrom();
        long[] chosen = sel.raw(kh);
        int count = sel.count(kh);
        int pages = view.pageCount();
        // At most every slot of the view; usually the selection plus the keys since keepFrom.
        int[] keys = ws.index = grow(ws.index, pages * ps);
        long[] at = ws.positions = grow(ws.positions, pages * ps);
        int nk = 0;
        int cursor = 0;
        long lastHi = Long.MIN_VALUE;
        for (int pg = 0; pg < pages; pg++) {
            int n = view.pageLength(pg);
            if (n == 0) {
                continue;
            }
            long lo = view.pageMinPosition(pg);
            long hi = view.pageMaxPosition(pg);
            if (!mask.mayAttend(qPos, qPos, lo, hi)) {
                continue;
            }
            int next;
            if (lo > lastHi) {
                // Positions moved forward: every selected position below lo lies before the cursor's.
                next = cursor;
                while (next < count && chosen[next] < lo) {
                    next++;
                }
            } else {
                next = sel.firstAtOrAfter(kh, lo);
            }
            cursor = next;
            lastHi = hi;
            if (hi < keepFrom && (next == count || chosen[next] > hi)) {
                continue; // nothing selected or recent on this page
            }
            int base = pg * ps;
            if (hi - lo == n - 1 && view.allValid(pg) && mask.attendsAll(qPos, qPos, lo, hi)) {
                // Every slot valid and visible, positions lo..hi in order: slot = position - lo, no per-slot reads.
                // Selected positions before keepFrom, then every slot from keepFrom on.
                long keptFrom = Math.max(lo, Math.min(keepFrom, hi + 1));
                for (; next < count && chosen[next] < keptFrom; next++) {
                    at[nk] = chosen[next];
                    keys[nk++] = base + (int) (chosen[next] - lo);
                }
                for (long pos = keptFrom; pos <= hi; pos++) {
                    at[nk] = pos;
                    keys[nk++] = base + (int) (pos - lo);
                }
                while (next < count && chosen[next] <= hi) {
                    next++; // already listed: at or after keepFrom
                }
                cursor = next;
                continue;
            }
            for (int slot = 0; slot < n; slot++) {
                if (!view.isValid(pg, slot)) {
                    continue;
                }
                long pos = view.position(pg, slot);
                if (!mask.allows(qPos, pos)) {
                    continue;
                }
                while (next < count && chosen[next] < pos) {
                    next++;
                }
                if (pos >= keepFrom || (next < count && chosen[next] == pos)) {
                    at[nk] = pos;
                    keys[nk++] = base + slot;
                }
            }
        }
        return nk;
    }
}
