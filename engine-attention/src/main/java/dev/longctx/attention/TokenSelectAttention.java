package dev.longctx.attention;

import dev.longctx.core.select.TopK;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import java.util.BitSet;

/**
 * TokenSelect-style token-level selection (Wu et al., 2024, "TokenSelect: Efficient Long-Context
 * Inference and Length Extrapolation for LLMs via Dynamic Token-Level KV Cache Selection"): score
 * every key with the real logits, keep the top-k tokens per KV head, then run exact attention over
 * those tokens only.
 *
 * <p><b>Score.</b> For each query head h of the group, the logits {@code l_h = scale q_h.k}
 * (soft-capped like the attention itself) over every key the row may attend, then a softmax per
 * head; a key's score is the sum over the g heads of its probabilities ("soft voting": every head
 * gets one unit of vote, whatever its logit scale). The forced keys (sinks, recent window) take
 * part in the softmax, as in the reference code, but not in the top-k.
 *
 * <p><b>Budget.</b> Sinks and the recent window are always kept and counted; the remaining budget
 * goes to the best-scored keys (ties to the older key). The selected keys and values are gathered
 * into dense pages ({@code GatheredKvView}), so the exact pass reads k rows however scattered they
 * are over the cache's pages.
 *
 * <p><b>Cost</b> per query row and KV head, with Lk visible keys, head dim D and group size g:
 * O(Lk * D * g) for the scores, O(Lk * g) for the softmax and O(Lk) for the selection, then
 * O(k * D) copying and O(k * D * g) exact attention. <b>Scoring reads every key</b>: the kernel
 * saves the V traffic and the exact pass over unselected keys, not the K traffic. On a CPU the
 * scoring pass costs about as much as exact decode itself (it is the same q.k product), and the
 * softmax and selection come on top: measured about 2x slower than exact split-K decode at 128K
 * tokens (SelectedAttentionBench). It is a reference for the quality of token-level selection,
 * not a speed-up; the paper amortises the scoring with a selection cache (shipped switched off),
 * and {@link QuestAttention} reads only page metadata.
 */
public final class TokenSelectAttention extends SelectedAttention {

    /** Token-level selection with the given budget on the given kernels and pool. */
    public TokenSelectAttention(TensorOps ops, SelectedAttentionBudget budget) {
        super(ops, budget);
    }

    /**
     * Records into {@code sel} the keys row {@code row} selects through KV head {@code kvHead} (as
     * {@link #selectedKeys}, without gathering them), by position. With {@code logits} non-null
     * the row's logits are taken from there instead of computed:
     * {@code logits[j * pageCount * pageSize + key]} for query head {@code kvHead * g + j} and every
     * key of a page the mask does not exclude, as {@link SplitKDecodeAttention#attendCapturingLogits}
     * writes them (and overwritten here: the softmax runs in place where they need no compacting).
     * They are the floats this kernel's own pass computes, so the choice is the same, bit for bit,
     * and no key is read.
     */
    void recordInto(PersistentSelection sel, AttentionProblem p, int row, int kvHead, float[] logits) {
        Workspace ws = workspace();
        int n = chooseKeyList(ws, p, row, kvHead, logits);
        sel.record(kvHead, ws.positions, n);
    }

    /** Token-level selection with a budget of {@code budget} keys and the default sinks and window. */
    public TokenSelectAttention(TensorOps ops, int budget) {
        this(ops, SelectedAttentionBudget.of(budget));
    }

    @Override
    public String name() {
        return "tokenselect";
    }

    @Override
    KeySubsetView select(Workspace ws, AttentionProblem p, int row, int kh) {
        return ws.gathered.reset(p.kv()[kh], chooseKeys(ws, p, row, kh));
    }

    /**
     * The selection of {@link #select} as key indices {@code page * pageSize + slot}, without
     * gathering the keys: the workspace's set, valid until its next use.
     */
    BitSet chooseKeys(Workspace ws, AttentionProblem p, int row, int kh) {
        int n = chooseKeyList(ws, p, row, kh, null);
        BitSet keys = ws.keys;
        keys.clear();
        for (int i = 0; i < n; i++) {
            keys.set(ws.index[i]);
        }
        return keys;
    }

    /**
     * The selection of {@link #select} as an increasing list: key indices {@code page * pageSize + slot}
     * in {@code ws.index[0, n)} and their positions in {@code ws.positions[0, n)}; returns n. The
     * logits come from {@code given} when non-null (see {@link #recordInto}), else from a pass
     * over the keys.
     */
    private int chooseKeyList(Workspace ws, AttentionProblem p, int row, int kh, float[] given) {
        VectorKernels k = ops.kernels();
        KvView view = p.kv()[kh];
        int d = p.headDim();
        int g = p.groupSize();
        int ps = view.pageSize();
        int pages = view.pageCount();
        int slots = pages * ps;
        long qPos = p.queryPositions()[row];
        AttentionMask mask = p.mask();
        float cap = p.softCap();
        // A budget as large as the view keeps every visible key: skip the scores.
        boolean score = budget.budget() < view.length();

        float[] q = ws.q = grow(ws.q, g * d);
        scaledQueries(p, row, kh, q);
        // Logits of visible keys, compacted: head j's at [j * slots, j * slots + nc).
        float[] logits = ws.bounds = grow(ws.bounds, score ? g * slots : 0);
        float[] s = ws.page = grow(ws.page, g * ps);
        int[] cand = ws.candidates = grow(ws.candidates, slots);
        long[] candPos = ws.candidatePositions = grow(ws.candidatePositions, slots);
        // Per page, its first position when its positions run in slot order, else MIN_VALUE.
        long[] pageLo = ws.pageLo = grow(ws.pageLo, pages);
        boolean[] forced = ws.flag = grow(ws.flag, slots);
        int nc = 0;
        int nForced = 0;
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
            // Logits computed here land in s[j * n + slot] and are compacted into logits below; given
            // ones (the exact pass's, soft cap applied there) are compacted after the scan.
            boolean copy = score && given == null;
            if (copy) {
                k.matmulRows(view.dtype(), view.keys(pg), view.rowBytes(), d, 0, n, q, g, s, n);
                if (cap > 0) {
                    float inv = 1f / cap;
                    for (int i = 0; i < g * n; i++) {
                        s[i] = cap * (float) Math.tanh(s[i] * inv);
                    }
                }
            }
            boolean all = mask.attendsAll(qPos, qPos, kLo, kHi) && view.allValid(pg);
            boolean anyForced = budget.forcesAny(qPos, kLo, kHi);
            if (all && !anyForced) {
                // The common page: every slot visible, none forced; positions kLo..kHi in slot order
                // when they span exactly n (a cache's pages), else read slot by slot.
                boolean inOrder = kHi - kLo == n - 1;
                pageLo[pg] = inOrder ? kLo : Long.MIN_VALUE; // MIN_VALUE: positions in candPos
                for (int slot = 0; slot < n; slot++) {
                    cand[nc + slot] = pg * ps + slot;
                    forced[nc + slot] = false;
                }
                if (!inOrder) {
                    for (int slot = 0; slot < n; slot++) {
                        candPos[nc + slot] = view.position(pg, slot);
                    }
                }
                if (copy) {
                    for (int j = 0; j < g; j++) {
                        System.arraycopy(s, j * n, logits, j * slots + nc, n);
                    }
                }
                nc += n;
                continue;
            }
            pageLo[pg] = Long.MIN_VALUE;
            for (int slot = 0; slot < n; slot++) {
                long pos = view.position(pg, slot);
                if (!all && (!view.isValid(pg, slot) || !mask.allows(qPos, pos))) {
                    continue;
                }
                boolean f = anyForced && (budget.isSink(pos) || budget.isRecent(qPos, pos));
                cand[nc] = pg * ps + slot;
                candPos[nc] = pos;
                forced[nc] = f;
                nForced += f ? 1 : 0;
                if (copy) {
                    for (int j = 0; j < g; j++) {
                        logits[j * slots + nc] = s[j * n + slot];
                    }
                }
                nc++;
            }
        }
        if (score && given != null) {
            if (nc == 0 || cand[nc - 1] == nc - 1) {
                // Every key up to the last candidate is one (cand[c] = c): the given logits are
                // already compacted. Used in place (the softmax below overwrites them).
                logits = given;
            } else {
                for (int j = 0; j < g; j++) {
                    for (int c = 0; c < nc; c++) {
                        logits[j * slots + c] = given[j * slots + cand[c]];
                    }
                }
            }
        }

        int[] keys = ws.index = grow(ws.index, nc);
        long[] keyPos = ws.positions = grow(ws.positions, nc);
        int nk = 0;
        int remaining = Math.max(0, budget.budget() - nForced);
        if (!score || nc - nForced <= remaining) {
            System.arraycopy(cand, 0, keys, 0, nc);
            return withPositions(view, keys, nc, pageLo, candPos, null, keyPos);
        }
        float[] votes = ws.score = grow(ws.score, nc);
        java.util.Arrays.fill(votes, 0, nc, 0f);
        for (int j = 0; j < g; j++) {
            int off = j * slots;
            float m = k.max(logits, off, nc);
            float sum = k.expShiftSum(logits, off, nc, m);
            // Softmax per head, summed over the group; NaN (a NaN query) ranks as unbounded.
            k.axpy(1f / sum, logits, off, votes, 0, nc);
        }
        for (int c = 0; c < nc; c++) {
            if (forced[c]) {
                votes[c] = Float.NEGATIVE_INFINITY; // taken below, outside the top-k
            }
        }
        boolean[] top = ws.top = grow(ws.top, nc);
        TopK.markFlags(votes, nc, remaining, ws.radix = TopK.scratch(ws.radix, nc), top);
        int[] from = ws.chosenCandidates = grow(ws.chosenCandidates, nc);
        for (int c = 0; c < nc; c++) {
            // Written always, kept by the count: no branch on the choice.
            keys[nk] = cand[c];
            from[nk] = c;
            nk += forced[c] | top[c] ? 1 : 0;
        }
        return withPositions(view, keys, nk, pageLo, candPos, from, keyPos);
    }

    /**
     * Writes the positions of {@code keys[0, n)} into {@code out} and returns n: key
     * {@code page * ps + slot} of a page whose positions run in slot order from {@code pageLo[page]}
     * is at {@code pageLo[page] + slot}; otherwise ({@code pageLo} is {@link Long#MIN_VALUE}) at
     * {@code candPos[candidate[i]]} ({@code candPos[i]} when {@code candidate} is null), read during
     * the scan. No page's position table is read here.
     */
    private static int withPositions(KvView view, int[] keys, int n, long[] pageLo, long[] candPos, int[] candidate,
                                     long[] out) {
        int ps = view.pageSize();
        for (int i = 0; i < n; i++) {
            int pg = keys[i] / ps;
            long lo = pageLo[pg];
            out[i] = lo != Long.MIN_VALUE ? lo + (keys[i] - pg * ps) : candPos[candidate == null ? i : candidate[i]];
        }
        return n;
    }
}
