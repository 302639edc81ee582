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
        return ws.gathered.reset(p.kv()[kh], chooseKeys(ws, p, row, kh));
    }

    /**
     * Decode without an observer: each KV head's keys chosen on the caller's thread, then split-K
     * over views that read the chosen rows in place by index ({@link IndexedKvView} through
     * {@link dev.longctx.core.kernels.spi.VectorKernels#decodeAttentionRows}), cut into work units
     * over the selection as the full cache's pages are. Where a page of the selection would need a
     * per-key mask or a soft cap applies (not the fused step), or the group is a prefill-sized tile,
     * false: the generic path gathers the keys.
     */
    @Override
    boolean attendDecode(AttentionProblem p, float[] out, float[] lse) {
        if (p.softCap() > 0 || p.groupSize() >= OnlineSoftmaxTile.PACKED_MIN_ROWS) {
            return false;
        }
        Workspace ws = workspace();
        KvView[] views = indexedViews(ws, p, (w, kh) -> chooseKeys(w, p, 0, kh));
        if (views == null) {
            return false;
        }
        AttentionProblem sub = new AttentionProblem(p.queries(), p.queryOffset(), 1, p.queryHeads(), views,
                p.queryPositions(), p.scale(), p.softCap(), p.mask());
        exact.attend(sub, out, lse, null);
        return true;
    }

    /** The keys row {@code row} attends through {@code kh}, as key indices of its view: the workspace's set. */
    private BitSet chooseKeys(Workspace ws, AttentionProblem p, int row, int kh) {
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
        BitSet keys = ws.keys;
        keys.clear();
        for (int pg = 0; pg < view.pageCount(); pg++) {
            int n = view.pageLength(pg);
            if (n == 0) {
                continue;
            }
            long lo = view.pageMinPosition(pg);
            long hi = view.pageMaxPosition(pg);
            if (!mask.mayAttend(qPos, qPos, lo, hi)) {
                continue;
            }
            int next = sel.firstAtOrAfter(kh, lo);
            if (hi < keepFrom && (next == count || chosen[next] > hi)) {
                continue; // nothing selected or recent on this page
            }
            if (hi - lo == n - 1 && view.allValid(pg) && mask.attendsAll(qPos, qPos, lo, hi)) {
                // Every slot valid and visible, positions lo..hi in order: slot = position - lo, no per-slot reads.
                int base = pg * ps;
                if (keepFrom <= hi) {
                    int from = (int) Math.max(0, keepFrom - lo);
                    keys.set(base + from, base + n);
                }
                for (; next < count && chosen[next] <= hi; next++) {
                    keys.set(base + (int) (chosen[next] - lo));
                }
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
                    keys.set(pg * ps + slot);
                }
            }
        }
        return keys;
    }
}
