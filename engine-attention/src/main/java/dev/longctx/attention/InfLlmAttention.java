package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.select.TopK;
import java.util.BitSet;
import java.util.Objects;

/**
 * InfLLM's decode-step attention (Xiao et al., 2024, "InfLLM: Training-Free Long-Context
 * Extrapolation for LLMs with an Efficient Context Memory"), over a cache that keeps every token:
 * each query row attends, per KV head,
 * <ul>
 *   <li>the attention sinks: positions below {@code sinks} (the paper's initial tokens),</li>
 *   <li>the local tokens: every position after {@link InfLlmMemory#coveredTo} (the local window
 *       plus the few tokens waiting to fill the next unit),</li>
 *   <li>the {@code topK} memory units of {@link InfLlmMemory} with the highest relevance
 *       {@code sim(q, B) = sum_j sum_{r in reps(B)} q_j . k_r} (the paper's Eq. for unit retrieval
 *       with one query token; per KV head of a grouped-query model the g query heads' scaled
 *       dot products are summed, no soft cap), computed as {@code sum_j q_j . (sum_r k_r)} with the
 *       memory's summed keys, ties to the older unit,</li>
 * </ul>
 * within the problem's mask, and runs exact softmax attention over those keys (decode steps read
 * them in place through split-K, other calls gather them as {@link SelectedAttention} does). With
 * at most {@code topK} units the selection is every visible key, so the output is exact attention.
 *
 * <p>Positions: keys keep their original positions (their keys were rotated when cached); the
 * paper instead gives every memory token the same distance to the current token. See
 * {@code Strategy.InfLlm} for why.
 *
 * <p><b>Cost</b> per query row and KV head: {@code units * g} dot products for the relevance (no
 * key read from the pages; the first version located and read every representative's key each
 * step, one kernel call per key), a top-k over the units, then a scan of the page positions and
 * O(k * D * g) exact attention over the k attended keys.
 *
 * <p>Threading: bind a memory per call with {@link #attend(InfLlmMemory, AttentionProblem, float[],
 * float[], AttentionObserver)} or a kernel from {@link #over}; an instance serves one sequence, one
 * call at a time (the bound memory sits in a field the pool's tasks read).
 */
public final class InfLlmAttention extends SelectedAttention {
    private static final SelectedAttentionBudget UNBOUNDED = new SelectedAttentionBudget(Integer.MAX_VALUE, 0, 0);

    /** How a memory unit's relevance to the query is scored. */
    public enum Relevance {
        /** The paper's: {@code sum_j q_j . sum_{r in reps(B)} k_r} over the unit's representative tokens. */
        REPRESENTATIVES,
        /**
         * Not the paper's (a variant, issue 21): Quest's upper bound of the unit's best key,
         * {@code sum_j sum_c max(q_jc * max_c, q_jc * min_c)} with the per-channel minimum and maximum
         * of the unit's keys ({@link InfLlmMemory#addUnit(int, long, long, long[], int, float[], int, float[], float[], int)}).
         * On the retrieval model the paper's representatives are filler tokens and the needle's unit
         * ranks anywhere, while its best key ranks first (docs/strategies.md, run S14-P).
         */
        KEY_BOUND
    }

    private final int sinks;
    private final int topK;
    private final Relevance relevance;
    private final SplitKDecodeAttention exact;
    private volatile InfLlmMemory memory;

    /**
     * @param sinks initial positions always attended
     * @param topK memory units retrieved per query row and KV head
     */
    public InfLlmAttention(TensorOps ops, int sinks, int topK) {
        this(ops, sinks, topK, Relevance.REPRESENTATIVES);
    }

    /**
     * @param sinks initial positions always attended
     * @param topK memory units retrieved per query row and KV head
     * @param relevance how units are ranked ({@link Relevance#REPRESENTATIVES}: the paper's)
     */
    public InfLlmAttention(TensorOps ops, int sinks, int topK, Relevance relevance) {
        super(ops, UNBOUNDED);
        this.relevance = Objects.requireNonNull(relevance, "relevance");
        if (sinks < 0 || topK < 0) {
            throw new IllegalArgumentException("infllm: sinks and topK must be >= 0, got " + sinks + ", " + topK);
        }
        this.sinks = sinks;
        this.topK = topK;
        this.exact = new SplitKDecodeAttention(ops);
    }

    @Override
    public String name() {
        return "infllm";
    }

    /** Attends with {@code mem}'s units (see the class comment). */
    public void attend(InfLlmMemory mem, AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        this.memory = Objects.requireNonNull(mem, "memory");
        attend(p, out, lse, observer);
    }

    /** A kernel attending with {@code mem} through this instance (same threading rule). */
    public AttentionKernel over(InfLlmMemory mem) {
        Objects.requireNonNull(mem, "memory");
        return boundTo(() -> this.memory = mem);
    }

    /**
     * The units query row {@code row} retrieves through {@code kvHead} under {@code mem}, as a set
     * of unit indices (for tests and harnesses).
     */
    public BitSet retrievedUnits(InfLlmMemory mem, AttentionProblem p, int row, int kvHead) {
        BitSet chosen = new BitSet();
        retrieve(workspace(), mem, p, row, kvHead, chosen);
        return chosen;
    }

    @Override
    KeySubsetView select(Workspace ws, AttentionProblem p, int row, int kh) {
        return ws.gathered.reset(p.kv()[kh], chooseKeys(ws, p, row, kh));
    }

    /**
     * Decode without an observer: each KV head's keys chosen on the caller's thread, then split-K
     * over views that read the chosen keys in place: {@link IndexedKvView}s (exactly the chosen
     * rows, runs of consecutive slots decoded in one call, every page through the fused step), or,
     * where a page of the selection would need a per-key mask or a soft cap applies,
     * {@link SelectedKvView}s (the pages holding a chosen key, the others' slots invalid, as
     * {@link QuestAttention} reads). Gathering instead copied every chosen key and value and ran
     * one task per KV head.
     */
    @Override
    boolean attendDecode(AttentionProblem p, float[] out, float[] lse) {
        Workspace ws = workspace();
        KvView[] selected = indexedDecodeViews(ws, p);
        if (selected == null) {
            selected = new KvView[p.kvHeads()];
            for (int kh = 0; kh < selected.length; kh++) {
                selected[kh] = SelectedKvView.of(p.kv()[kh], chooseKeys(ws, p, 0, kh));
            }
        }
        AttentionProblem sub = new AttentionProblem(p.queries(), p.queryOffset(), 1, p.queryHeads(), selected,
                p.queryPositions(), p.scale(), p.softCap(), p.mask());
        exact.attend(sub, out, lse, null);
        return true;
    }

    /**
     * The chosen keys of every KV head as {@link IndexedKvView}s (only the chosen rows read, through
     * the fused step), or null where that step cannot take them all (a soft cap, a prefill-sized
     * group, or a page of the selection that would need a per-key mask).
     */
    private KvView[] indexedDecodeViews(Workspace ws, AttentionProblem p) {
        if (p.softCap() > 0 || p.groupSize() >= OnlineSoftmaxTile.PACKED_MIN_ROWS) {
            return null;
        }
        return indexedViews(ws, p, (w, kh) -> chooseKeys(w, p, 0, kh));
    }

    /** Pages this kernel's decode steps have read in place by index ({@link IndexedKvView}), over its life: tests assert the fast path ran. */
    long indexedPages() {
        return exact.indexedPages();
    }

    /** The keys row {@code row} attends through {@code kh}, as key indices of its view: the workspace's set. */
    private BitSet chooseKeys(Workspace ws, AttentionProblem p, int row, int kh) {
        InfLlmMemory mem = memory;
        if (mem == null) {
            throw new IllegalStateException(name() + ": no memory bound (attend(memory, ...) or over(memory))");
        }
        if (mem.kvHeads() != p.kvHeads()) {
            throw new IllegalArgumentException(name() + ": the memory holds " + mem.kvHeads() + " KV heads, the problem " + p.kvHeads());
        }
        BitSet chosen = ws.chosen;
        retrieve(ws, mem, p, row, kh, chosen);
        KvView view = p.kv()[kh];
        int ps = view.pageSize();
        long qPos = p.queryPositions()[row];
        AttentionMask mask = p.mask();
        long local = mem.coveredTo(kh) + 1;
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
            int base = pg * ps;
            if (hi - lo == n - 1 && view.allValid(pg) && mask.attendsAll(qPos, qPos, lo, hi)) {
                // positions lo..hi in order: slot = position - lo, the kept ranges set directly
                setRange(keys, base, lo, hi, 0, sinks - 1L);
                setRange(keys, base, lo, hi, local, hi);
                if (lo < local) {
                    int u = Math.max(0, firstUnitEndingAtOrAfter(mem, kh, lo));
                    for (; u < mem.units(kh) && mem.first(kh, u) <= hi; u++) {
                        if (chosen.get(u)) {
                            setRange(keys, base, lo, hi, mem.first(kh, u), mem.last(kh, u));
                        }
                    }
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
                if (pos < sinks || pos >= local) {
                    keys.set(base + slot);
                } else {
                    int u = mem.unitOf(kh, pos);
                    if (u >= 0 && chosen.get(u)) {
                        keys.set(base + slot);
                    }
                }
            }
        }
        return keys;
    }

    private static void setRange(BitSet keys, int base, long lo, long hi, long from, long to) {
        long a = Math.max(lo, from);
        long b = Math.min(hi, to);
        if (a <= b) {
            keys.set(base + (int) (a - lo), base + (int) (b - lo) + 1);
        }
    }

    private static int firstUnitEndingAtOrAfter(InfLlmMemory mem, int kh, long position) {
        int lo = 0;
        int hi = mem.units(kh);
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (mem.last(kh, mid) < position) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** Marks in {@code chosen} the top-k units by relevance (all of them when there are at most k). */
    private void retrieve(Workspace ws, InfLlmMemory mem, AttentionProblem p, int row, int kh, BitSet chosen) {
        int units = mem.units(kh);
        if (units <= topK) {
            chosen.clear();
            chosen.set(0, units);
            return;
        }
        VectorKernels k = ops.kernels();
        int d = p.headDim();
        if (mem.headDim() != d) {
            throw new IllegalArgumentException(name() + ": the memory holds keys of " + mem.headDim() + " elements, the problem " + d);
        }
        int g = p.groupSize();
        float[] q = ws.q = grow(ws.q, g * d);
        scaledQueries(p, row, kh, q);
        float[] score = ws.score = grow(ws.score, units);
        if (relevance == Relevance.KEY_BOUND) {
            float[] min = mem.keyMins(kh);
            float[] max = mem.keyMaxs(kh);
            for (int u = 0; u < units; u++) {
                if (Float.isNaN(min[u * d])) {
                    throw new IllegalStateException(name() + ": unit " + u + " of KV head " + kh
                            + " has no key bounds; the key-bound relevance needs them (InfLlmMemory.addUnit with bounds)");
                }
            }
            // max(q_c min_c, q_c max_c) = max(q_c, 0) max_c + min(q_c, 0) min_c: Quest's paired dot
            // products, every unit and query head in one call.
            float[] pos = ws.min = grow(ws.min, g * d);
            float[] neg = ws.max = grow(ws.max, g * d);
            for (int i = 0; i < g * d; i++) {
                pos[i] = Math.max(q[i], 0f);
                neg[i] = Math.min(q[i], 0f);
            }
            float[] ub = ws.bounds = grow(ws.bounds, g * units);
            k.pairedDots(pos, 0, neg, 0, g, d, max, min, 0, units, ub, units);
            for (int u = 0; u < units; u++) {
                float s = 0;
                for (int j = 0; j < g; j++) {
                    s += ub[j * units + u];
                }
                score[u] = s;
            }
        } else {
            float[] sums = mem.keySums(kh);
            for (int u = 0; u < units; u++) {
                float s = 0;
                for (int j = 0; j < g; j++) {
                    s += k.dot(q, j * d, sums, u * d, d);
                }
                score[u] = s;
            }
        }
        TopK.mark(score, units, topK, ws.rank = TopK.scratch(ws.rank, units), chosen);
    }
}
