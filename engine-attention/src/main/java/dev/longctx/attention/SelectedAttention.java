package dev.longctx.attention;

import dev.longctx.core.select.TopK;
import dev.longctx.core.kernels.TensorOps;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Objects;

/**
 * Top-k selected attention: for each query row and KV head, first choose at most a budget of keys
 * (sinks and a recent window always, then the keys or pages a cheap score ranks highest), then run
 * exact attention (the {@link TiledAttention} inner loop, same mask, scale and soft cap) over the
 * chosen keys only. The output is exactly softmax attention restricted to the selection; it
 * approximates full attention as well as the selection captures the attention mass.
 *
 * <p><b>Selection granularity.</b> Every query row selects its own keys (one selection per row and
 * KV head, shared by the g query heads of the group, so each selected K/V row is read once per
 * group). In decode (Lq = 1) that is one selection per KV head and step, as in the papers; for a
 * block of rows (Lq > 1) the selection work is repeated per row. Only keys the row's mask allows
 * and the view holds valid are ever selected: the selection never crosses the mask.
 *
 * <p><b>Work.</b> One task per (query row, KV head), spread over the {@link TensorOps} pool; each
 * task writes only its own outputs, so results are bit-identical for any thread count. A subclass
 * may take its own path for decode without an observer ({@link QuestAttention} cuts its page scan
 * across the pool and runs the exact pass through {@link SplitKDecodeAttention}). The
 * observer receives, per (row, query head, page of the original view), the exact probabilities
 * over the selection: they sum to 1 and unselected keys report 0.
 *
 * <p><b>Cost</b> per query row and KV head: the subclass's selection, then O(k * D * g) for the
 * exact pass over k selected keys (head dim D, group size g). Extra memory per thread: buffers of
 * O(g * Lk) floats (the scores, and with an observer the scattered probabilities) and one tile.
 *
 * <p>Subclasses: {@link QuestAttention} (page-level, Tang et al., 2024) and
 * {@link TokenSelectAttention} (token-level, Wu et al., 2024).
 */
public abstract sealed class SelectedAttention implements AttentionKernel permits QuestAttention, TokenSelectAttention, InfLlmAttention,
        PersistentSelectionAttention {
    final TensorOps ops;
    final SelectedAttentionBudget budget;
    private final ThreadLocal<Workspace> workspaces;

    SelectedAttention(TensorOps ops, SelectedAttentionBudget budget) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.budget = Objects.requireNonNull(budget, "budget");
        this.workspaces = ThreadLocal.withInitial(() -> new Workspace(ops));
    }

    /** The budget, sinks and window this kernel selects with. */
    public SelectedAttentionBudget budget() {
        return budget;
    }

    @Override
    public final void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        int lq = p.queryRows();
        if (lq == 0) {
            return;
        }
        if (lq == 1 && observer == null && attendDecode(p, out, lse)) {
            return;
        }
        int kvHeads = p.kvHeads();
        ops.pool().parallelFor(lq * kvHeads, t -> {
            int row = t / kvHeads;
            int kh = t % kvHeads;
            Workspace ws = workspaces.get();
            KeySubsetView sel = select(ws, p, row, kh);
            exact(ws, p, row, kh, sel, out, lse, observer);
        });
    }

    /**
     * The keys query row {@code row} of {@code p} attends through KV head {@code kvHead}, as key
     * indices {@code page * pageSize + slot} of {@code p.kv()[kvHead]}: exactly the keys
     * {@link #attend} runs exact attention over. For tests, accuracy harnesses and policies that
     * want to know what was kept.
     */
    public final BitSet selectedKeys(AttentionProblem p, int row, int kvHead) {
        Objects.requireNonNull(p, "problem");
        if (row < 0 || row >= p.queryRows()) {
            throw new IllegalArgumentException(name() + ": row " + row + " outside [0, " + p.queryRows() + ")");
        }
        if (kvHead < 0 || kvHead >= p.kvHeads()) {
            throw new IllegalArgumentException(name() + ": kvHead " + kvHead + " outside [0, " + p.kvHeads() + ")");
        }
        KeySubsetView sel = select(workspaces.get(), p, row, kvHead);
        BitSet keys = new BitSet();
        for (int page = 0; page < sel.pageCount(); page++) {
            for (int slot = 0; slot < sel.pageLength(page); slot++) {
                if (sel.isValid(page, slot)) {
                    keys.set(sel.baseKey(page, slot));
                }
            }
        }
        return keys;
    }

    /**
     * A subclass's own path for decode (one query row, no observer); false (the default) runs the
     * generic one: a task per KV head, selection then exact attention.
     */
    boolean attendDecode(AttentionProblem p, float[] out, float[] lse) {
        return false;
    }

    /** This thread's buffers. */
    final Workspace workspace() {
        return workspaces.get();
    }

    /** The keys a decode step attends through one KV head, chosen with a thread's workspace. */
    @FunctionalInterface
    interface KeyChooser {
        /** The chosen key indices of {@code kvHead}'s view: {@code ws}'s set, valid until its next use. */
        BitSet choose(Workspace ws, int kvHead);
    }

    /**
     * A decode step's selection per KV head as {@link IndexedKvView}s of the caller's workspace
     * {@code ws} (the heads chosen in parallel on the pool, each task with its own thread's
     * workspace for the scratch of {@code chooser}), or null when a page of some head's selection
     * would not go through the fused step ({@link IndexedKvView#fusedFor}).
     */
    final KvView[] indexedViews(Workspace ws, AttentionProblem p, KeyChooser chooser) {
        return indexedViews(ws, p, (IndexedKvView v, KvView base, int kh) -> v.reset(base, chooser.choose(workspaces.get(), kh)));
    }

    /** The keys a decode step attends through one KV head, as a list: see {@link #indexedViewsOfLists}. */
    @FunctionalInterface
    interface KeyListChooser {
        /**
         * Writes the chosen key indices of {@code kvHead}'s view, strictly increasing, into
         * {@code ws.index} and their positions into {@code ws.positions} (both grown as needed),
         * and returns their count.
         */
        int choose(Workspace ws, int kvHead);
    }

    /**
     * {@link #indexedViews(Workspace, AttentionProblem, KeyChooser)} with each head's keys chosen as
     * an increasing list of key indices and positions ({@link IndexedKvView#reset(KvView, int[], long[], int)}): no set
     * of the view's size is built or scanned, so a step costs O(selected) and not O(cached keys).
     */
    final KvView[] indexedViewsOfLists(Workspace ws, AttentionProblem p, KeyListChooser chooser) {
        return indexedViews(ws, p, (IndexedKvView v, KvView base, int kh) -> {
            Workspace own = workspaces.get();
            int n = chooser.choose(own, kh);
            v.reset(base, own.index, own.positions, n);
        });
    }

    /** Refills one head's view on a pool thread. */
    @FunctionalInterface
    private interface Refill {
        void refill(IndexedKvView view, KvView base, int kvHead);
    }

    private KvView[] indexedViews(Workspace ws, AttentionProblem p, Refill refill) {
        int kvHeads = p.kvHeads();
        KvView[] views = ws.indexedViews(kvHeads);
        IndexedKvView[] indexed = ws.indexed;
        boolean[] fused = ws.fused = grow(ws.fused, kvHeads);
        long qPos = p.queryPositions()[0];
        ops.pool().parallelFor(kvHeads, kh -> {
            refill.refill(indexed[kh], p.kv()[kh], kh);
            fused[kh] = indexed[kh].fusedFor(p.mask(), qPos);
        });
        for (int kh = 0; kh < kvHeads; kh++) {
            if (!fused[kh]) {
                return null;
            }
            views[kh] = indexed[kh];
        }
        return views;
    }

    /**
     * Chooses the keys of one (row, KV head) and returns a view of them. The view may share the
     * workspace's buffers: it is valid until the next call with the same workspace.
     */
    /**
     * A kernel that runs {@code bind} (binding a subclass's per-sequence selection state) and then
     * this kernel's {@code attend}; for kernels bound to one state per layer of a sequence.
     */
    final AttentionKernel boundTo(Runnable bind) {
        return new BoundKernel(this, bind);
    }

    abstract KeySubsetView select(Workspace ws, AttentionProblem p, int row, int kvHead);

    /** Exact attention of row {@code row}'s g query heads over the selection, plus the observer. */
    private static void exact(Workspace ws, AttentionProblem p, int row, int kh, KeySubsetView sel, float[] out,
                              float[] lse, AttentionObserver observer) {
        OnlineSoftmaxTile tile = attendOver(ws.tile, p, kh, row, row + 1, sel, out, lse);
        if (observer != null) {
            observe(ws, p, row, kh, sel, tile, observer);
        }
    }

    /**
     * Exact attention of query rows {@code [r0, r1)} of KV head {@code kh} over {@code view} in place
     * of the head's own view, written into the caller's {@code out}/{@code lse} layout; returns
     * {@code tile}, which still holds the rows' state for an observer.
     */
    static OnlineSoftmaxTile attendOver(OnlineSoftmaxTile tile, AttentionProblem p, int kh, int r0, int r1, KvView view,
                                        float[] out, float[] lse) {
        // A KvView[] copy whatever the caller's array type (a DenseKvView[] clone could not hold the selection).
        KvView[] kv = Arrays.copyOf(p.kv(), p.kv().length, KvView[].class);
        kv[kh] = view;
        // The same problem with this head's view replaced: the tile writes into the caller's layout.
        AttentionProblem sub = new AttentionProblem(p.queries(), p.queryOffset(), p.queryRows(), p.queryHeads(), kv,
                p.queryPositions(), p.scale(), p.softCap(), p.mask());
        tile.reset(sub, kh, r0, r1);
        int pages = view.pageCount();
        for (int page = 0; page < pages; page++) {
            tile.accumulate(page, page + 1 < pages ? page + 1 : -1);
        }
        tile.finish();
        tile.write(out, lse);
        return tile;
    }

    /**
     * Reports the selection's probabilities in the original view's pages: scattered into a
     * [g][slots] buffer (unselected keys stay 0), then one call per (query head, original page).
     */
    private static void observe(Workspace ws, AttentionProblem p, int row, int kh, KeySubsetView sel,
                                OnlineSoftmaxTile tile, AttentionObserver observer) {
        KvView base = p.kv()[kh];
        int g = p.groupSize();
        int ps = base.pageSize();
        int slots = base.pageCount() * ps;
        float[] probs = ws.probs = grow(ws.probs, g * slots);
        Arrays.fill(probs, 0, g * slots, 0f);
        float[] rowLse = Arrays.copyOf(tile.lse(), g);
        for (int page = 0; page < sel.pageCount(); page++) {
            tile.observe(page, rowLse, (r, head, kvHead, pg, pr, count) -> {
                int off = (head - kh * g) * slots;
                for (int s = 0; s < count; s++) {
                    if (pr[s] != 0f) {
                        probs[off + sel.baseKey(pg, s)] = pr[s];
                    }
                }
            });
        }
        float[] pageProbs = ws.pageProbs = grow(ws.pageProbs, ps);
        for (int j = 0; j < g; j++) {
            for (int bp = 0; bp < base.pageCount(); bp++) {
                System.arraycopy(probs, j * slots + bp * ps, pageProbs, 0, ps);
                observer.observe(row, kh * g + j, kh, bp, pageProbs, base.pageLength(bp));
            }
        }
    }

    /** Scaled queries of the g heads of KV head {@code kh} for row {@code row}, into {@code dst[0 .. g*d)}. */
    static void scaledQueries(AttentionProblem p, int row, int kh, float[] dst) {
        int d = p.headDim();
        int g = p.groupSize();
        for (int j = 0; j < g; j++) {
            int qi = p.queryIndex(row, kh * g + j);
            for (int c = 0; c < d; c++) {
                dst[j * d + c] = p.queries()[qi + c] * p.scale();
            }
        }
    }

    static float[] grow(float[] a, int n) {
        return a.length >= n ? a : new float[Math.max(n, a.length * 2)];
    }

    static int[] grow(int[] a, int n) {
        return a.length >= n ? a : new int[Math.max(n, a.length * 2)];
    }

    static long[] grow(long[] a, int n) {
        return a.length >= n ? a : new long[Math.max(n, a.length * 2)];
    }

    static byte[] grow(byte[] a, int n) {
        return a.length >= n ? a : new byte[Math.max(n, a.length * 2)];
    }

    static boolean[] grow(boolean[] a, int n) {
        return a.length >= n ? a : new boolean[Math.max(n, a.length * 2)];
    }

    /** Per-thread buffers of one kernel instance; grown on demand, never shrunk. */
    static final class Workspace {
        final OnlineSoftmaxTile tile;
        final BitSet keys = new BitSet();
        final BitSet chosen = new BitSet();
        final GatheredKvView gathered = new GatheredKvView();
        /** Per KV head, a decode step's selection read in place ({@link PersistentSelectionAttention}). */
        IndexedKvView[] indexed = new IndexedKvView[0];
        /** The views of a decode step's sub-problem, one per KV head. */
        KvView[] views = new KvView[0];
        /** Per KV head, whether its {@link #indexed} view goes through the fused step. */
        boolean[] fused = new boolean[0];
        float[] q = new float[0];
        float[] bounds = new float[0];
        float[] score = new float[0];
        float[] scratch = new float[0];
        /** Top-k's scratch ({@link TopK#scratch}). */
        double[] rank = new double[0];
        /** The radix top-k's scratch ({@link TopK#scratch(int[], int)}) and its flags. */
        int[] radix = new int[0];
        boolean[] top = new boolean[0];
        /** Key indices and positions of the candidates of a token-level selection ({@link TokenSelectAttention}). */
        int[] candidates = new int[0];
        /** Of those, the chosen ones; and per page the first position of an in-order page ({@link TokenSelectAttention}). */
        int[] chosenCandidates = new int[0];
        long[] pageLo = new long[0];
        long[] candidatePositions = new long[0];
        float[] page = new float[0];
        float[] min = new float[0];
        float[] max = new float[0];
        float[] probs = new float[0];
        float[] pageProbs = new float[0];
        int[] index = new int[0];
        /** Positions of the keys listed in {@link #index} ({@link KeyListChooser}, {@link TokenSelectAttention}'s list). */
        long[] positions = new long[0];
        int[] pages = new int[0];
        boolean[] flag = new boolean[0];
        byte[] state = new byte[0];

        Workspace(TensorOps ops) {
            this.tile = new OnlineSoftmaxTile(ops.kernels());
        }

        /**
         * {@code indexed} grown to {@code kvHeads} views, and this thread's array of exactly
         * {@code kvHeads} views for one decode step's sub-problem (it holds the array without
         * copying it; the sub-problem lives only during the call).
         */
        KvView[] indexedViews(int kvHeads) {
            if (indexed.length < kvHeads) {
                int old = indexed.length;
                indexed = Arrays.copyOf(indexed, kvHeads);
                for (int h = old; h < kvHeads; h++) {
                    indexed[h] = new IndexedKvView();
                }
            }
            if (views.length != kvHeads) {
                views = new KvView[kvHeads];
            }
            return views;
        }
    }
}
