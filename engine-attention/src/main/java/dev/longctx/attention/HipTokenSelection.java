package dev.longctx.attention;

import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.select.TopK;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Objects;

/**
 * HiP's hierarchical top-k key selection at token granularity (Lee et al., 2024, "A Training-Free
 * Sub-quadratic Cost Transformer Model Serving Framework with Hierarchically Pruned Attention",
 * arXiv 2406.09827): the keys {@link HipTokenAttention} attends per (KV head, query block). Unlike
 * {@link HipEstimator}, which works on whole KV pages for the block-sparse kernel, the unit here is
 * a key block of {@code b_k} tokens, as in the paper.
 *
 * <p><b>The rule, per KV head and query block</b> (query rows {@code [b * b_q, (b + 1) * b_q)}).
 * The <em>attendable</em> keys are the valid keys of the view that the problem's
 * {@link AttentionMask} lets at least one of the block's queries see, in view order. Forced, and
 * always kept: the first {@code sinkTokens} attendable keys (the sink) and every attendable key at
 * a position {@code >= qLo - localWindow}, where {@code qLo} is the block's first query position
 * (the diagonal and a local window before it). The rest are the <em>candidates</em>, in view order,
 * cut into key blocks of {@code b_k} consecutive candidates (the last may be shorter); let there be
 * {@code nb} blocks and {@code kb = ceil(k / b_k)}. When {@code nb <= kb} every candidate is kept.
 * Otherwise the blocks are cut into {@code kb} equal spans ({@code [j nb / kb, (j + 1) nb / kb)});
 * then, until every kept span is a single block, each span of two or more blocks is split in two
 * ({@code [lo, lo + ceil(len / 2))} and the rest; a one-block span stays as it is), each half is
 * scored by its <em>representative block</em>, and the {@code kb} best halves are kept
 * ({@link TopK}'s rule: ties to the lower index, NaN as +infinity). A block's score is the maximum
 * of the raw dot product {@code q . k} over its keys, the g query heads of the KV head and the
 * block's <em>scoring rows</em> that the mask lets see the key (scale and soft-capping are
 * increasing, so they change no ranking). The scoring rows are every {@code queryStride}-th row of
 * the block counted back from its last row (stride 1: all rows). The selection is the forced keys
 * plus every key of the surviving blocks: at most {@code kb * b_k} hierarchy keys per block.
 *
 * <p><b>Representative.</b> {@link Representative#FIRST}: a span is scored by its first key block.
 * This is what the authors' public implementation does (DeepAuto-AI/hip-attention, its v1.1
 * masking kernels score a branch by the {@code b_k} keys at the branch's first index; read, not
 * copied). {@link Representative#CENTER}: by its middle block ({@code lo + (len - 1) / 2}), which
 * is how secondary summaries describe the paper's representative token. The paper's own text
 * (its section on the hierarchical mask estimation) could not be read here: only its abstract was
 * available, so which of the two the paper prescribes is <b>not confirmed</b>; both are offered.
 *
 * <p><b>A diagnostic.</b> {@link #exhaustive()} scores every candidate block and keeps the
 * {@code kb} best (not HiP: quadratic); its error is what the hierarchy's search could reach at
 * the same k, block size and score.
 *
 * <p><b>Defaults and their source.</b> {@code k = 512}, {@code b_k = 2}, {@code b_q = 32}: the
 * configuration of the authors' reproduction commands (hip-attention README: {@code --k 512
 * --block_size_q 32 --block_size_k 2}), also the abstract-level description of the paper's
 * default; not re-checked against the paper's tables. Query stride 1 (the README's API example
 * uses {@code block_stride_q = 2} with {@code b_q = 64}; offered as a parameter). Sink and local
 * window: 64 tokens each, chosen here to match the keys {@link HipEstimator} forces at the
 * engine's default 64-token pages (its first page and the diagonal pages); the paper's own sink
 * and window sizes are not confirmed.
 *
 * <p><b>Cost.</b> Per query block, {@code log2(nb / kb)} rounds; a round scores at most
 * {@code 2 kb} representative blocks ({@code 2 kb b_k} keys) against {@code (b_q / stride) x g}
 * queries, and a first half keeps its parent's {@link Representative#FIRST} score (memoised). A
 * round's representative keys are copied (raw rows, the view's dtype) into one buffer and scored by
 * one outer-product kernel call against the packed scoring queries. That is
 * O((T / b_q) x k x log(T / k) x b_q x g x D) per KV head: O(T log T) for a prefill of T tokens.
 * Listing a block's attendable keys is O(T) per block (O(T^2 / b_q) integer work per head).
 *
 * <p>Deterministic (no randomness) and independent of the thread count. Immutable and
 * thread-safe; the per-thread buffers are {@link Workspace}s owned by the caller.
 */
public final class HipTokenSelection {
    /** How a span of key blocks is represented when it is scored. */
    public enum Representative {
        /** The span's first key block (the authors' public implementation). */
        FIRST,
        /** The span's middle key block, {@code lo + (len - 1) / 2} (as summaries describe the paper). */
        CENTER
    }

    /** Top-k keys per query block: 512 (the authors' reproduction commands; see the class docs). */
    public static final int PAPER_TOP_K = 512;
    /** Key block size {@code b_k}: 2 tokens (the authors' reproduction commands). */
    public static final int PAPER_BLOCK_K = 2;
    /** Query block size {@code b_q}: 32 rows (the authors' reproduction commands). */
    public static final int PAPER_BLOCK_Q = 32;
    /** Sink tokens kept for every block: 64, the first page {@link HipEstimator} forces at 64-token pages. */
    public static final int DEFAULT_SINK_TOKENS = 64;
    /** Local window before the diagonal: 64 tokens, at most what {@link HipEstimator}'s diagonal pages hold at 64-token pages. */
    public static final int DEFAULT_LOCAL_WINDOW = 64;

    private final int topK;
    private final int blockK;
    private final int blockQ;
    private final int queryStride;
    private final int sinkTokens;
    private final int localWindow;
    private final Representative representative;
    /** Not HiP: every block scored, the kb best kept (the hierarchy's ideal; a diagnostic). */
    private final boolean exhaustive;

    /**
     * A selection rule.
     *
     * @param topK hierarchy keys per query block ({@code k}), at least 1
     * @param blockK key block size {@code b_k}, at least 1
     * @param blockQ query block size {@code b_q}, at least 1
     * @param queryStride every how many rows of a block score ({@code b_sq}), in {@code [1, blockQ]}
     * @param sinkTokens first attendable keys always kept, at least 0
     * @param localWindow keys before the block's first query position always kept, at least 0
     * @param representative how a span is scored
     * @throws IllegalArgumentException naming the parameter when one is out of range
     */
    public HipTokenSelection(int topK, int blockK, int blockQ, int queryStride, int sinkTokens, int localWindow,
                             Representative representative) {
        require(topK >= 1, "top-k must be at least 1 token, got " + topK);
        require(blockK >= 1, "key block size b_k must be at least 1, got " + blockK);
        require(blockQ >= 1, "query block size b_q must be at least 1, got " + blockQ);
        require(queryStride >= 1 && queryStride <= blockQ,
                "query stride must be in [1, b_q = " + blockQ + "], got " + queryStride);
        require(sinkTokens >= 0, "sink tokens must be >= 0, got " + sinkTokens);
        require(localWindow >= 0, "local window must be >= 0, got " + localWindow);
        this.topK = topK;
        this.blockK = blockK;
        this.blockQ = blockQ;
        this.queryStride = queryStride;
        this.sinkTokens = sinkTokens;
        this.localWindow = localWindow;
        this.representative = Objects.requireNonNull(representative, "representative");
        this.exhaustive = false;
    }

    private HipTokenSelection(HipTokenSelection base, boolean exhaustive) {
        this.topK = base.topK;
        this.blockK = base.blockK;
        this.blockQ = base.blockQ;
        this.queryStride = base.queryStride;
        this.sinkTokens = base.sinkTokens;
        this.localWindow = base.localWindow;
        this.representative = base.representative;
        this.exhaustive = exhaustive;
    }

    /** The defaults of the class docs with {@code topK} keys per query block. */
    public static HipTokenSelection withTopK(int topK) {
        return new HipTokenSelection(topK, PAPER_BLOCK_K, PAPER_BLOCK_Q, 1, DEFAULT_SINK_TOKENS, DEFAULT_LOCAL_WINDOW,
                Representative.FIRST);
    }

    /** The defaults of the class docs: k = 512, b_k = 2, b_q = 32, stride 1, first-block representative. */
    public static HipTokenSelection paper() {
        return withTopK(PAPER_TOP_K);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("hip-token: " + message);
        }
    }

    /**
     * Not HiP, a diagnostic: the same candidates, blocks, block score and forced keys, but every
     * candidate block is scored and the {@code kb} best are kept (ties to the lower block, NaN as
     * +infinity), with no hierarchy. It is what the hierarchy approximates, at O(T) scoring work
     * per query block (O(T^2) per prefill), so it separates the error of the search from the error
     * of keeping k keys per block.
     */
    public HipTokenSelection exhaustive() {
        return new HipTokenSelection(this, true);
    }

    /** Whether this is the {@link #exhaustive()} diagnostic. */
    public boolean isExhaustive() {
        return exhaustive;
    }

    /** This rule with another representative. */
    public HipTokenSelection withRepresentative(Representative r) {
        HipTokenSelection out = new HipTokenSelection(topK, blockK, blockQ, queryStride, sinkTokens, localWindow, r);
        return exhaustive ? out.exhaustive() : out;
    }

    /** This rule with another query stride. */
    public HipTokenSelection withQueryStride(int stride) {
        HipTokenSelection out = new HipTokenSelection(topK, blockK, blockQ, stride, sinkTokens, localWindow, representative);
        return exhaustive ? out.exhaustive() : out;
    }

    /** Hierarchy keys per query block ({@code k}). */
    public int topK() {
        return topK;
    }

    /** Key block size {@code b_k}. */
    public int blockK() {
        return blockK;
    }

    /** Query block size {@code b_q}. */
    public int blockQ() {
        return blockQ;
    }

    /** Every how many rows of a block score ({@code b_sq}; 1: all). */
    public int queryStride() {
        return queryStride;
    }

    /** First attendable keys always kept. */
    public int sinkTokens() {
        return sinkTokens;
    }

    /** Keys before a block's first query position always kept (besides the block's own). */
    public int localWindow() {
        return localWindow;
    }

    /** How a span is scored. */
    public Representative representative() {
        return representative;
    }

    /** Key blocks the hierarchy keeps: {@code ceil(k / b_k)}. */
    public int topKBlocks() {
        return (int) (((long) topK + blockK - 1) / blockK);
    }

    /** Query blocks of a problem: {@code ceil(Lq / b_q)}. */
    public int queryBlocks(AttentionProblem p) {
        return (p.queryRows() + blockQ - 1) / blockQ;
    }

    /** A short name for logs and benchmarks. */
    public String name() {
        return "hip-token(k=" + topK + ", bk=" + blockK + ", bq=" + blockQ
                + (queryStride > 1 ? ", stride=" + queryStride : "")
                + (exhaustive ? ", exhaustive" : representative == Representative.CENTER ? ", center" : "") + ")";
    }

    @Override
    public String toString() {
        return name();
    }

    /**
     * The keys query block {@code block} of {@code p} attends through KV head {@code kvHead}, as key
     * indices {@code page * pageSize + slot} of {@code p.kv()[kvHead]}. For tests and harnesses; the
     * kernel runs the same code.
     *
     * @throws IllegalArgumentException when the head or block is out of range
     */
    public BitSet selectedKeys(AttentionProblem p, VectorKernels kernels, int kvHead, int block) {
        Objects.requireNonNull(p, "problem");
        Objects.requireNonNull(kernels, "kernels");
        if (kvHead < 0 || kvHead >= p.kvHeads()) {
            throw new IllegalArgumentException(name() + ": kvHead " + kvHead + " outside [0, " + p.kvHeads() + ")");
        }
        if (block < 0 || block >= queryBlocks(p)) {
            throw new IllegalArgumentException(name() + ": query block " + block + " outside [0, " + queryBlocks(p) + ")");
        }
        BitSet out = new BitSet();
        select(new Workspace(), kernels, p, new HeadKeys(p.kv()[kvHead]), kvHead, block, out);
        return out;
    }

    /** The valid keys of one KV head's view, in view order, with their page ranges. */
    static final class HeadKeys {
        final KvView view;
        /** Global valid-key index -> page, slot, position. */
        final int[] page;
        final int[] slot;
        final long[] pos;
        /** Valid keys of page p are {@code [pageStart[p], pageStart[p + 1])}. */
        final int[] pageStart;

        HeadKeys(KvView view) {
            this.view = view;
            int pages = view.pageCount();
            pageStart = new int[pages + 1];
            int n = 0;
            for (int p = 0; p < pages; p++) {
                pageStart[p] = n;
                if (view.allValid(p)) {
                    n += view.pageLength(p);
                } else {
                    for (int s = 0; s < view.pageLength(p); s++) {
                        n += view.isValid(p, s) ? 1 : 0;
                    }
                }
            }
            pageStart[pages] = n;
            page = new int[n];
            slot = new int[n];
            pos = new long[n];
            int i = 0;
            for (int p = 0; p < pages; p++) {
                for (int s = 0; s < view.pageLength(p); s++) {
                    if (view.isValid(p, s)) {
                        page[i] = p;
                        slot[i] = s;
                        pos[i] = view.position(p, s);
                        i++;
                    }
                }
            }
        }
    }

    /** Per-thread buffers of the selection; grown on demand. Not thread-safe. */
    static final class Workspace {
        int[] att = new int[0];
        int[] cand = new int[0];
        double[] memo = new double[0];
        boolean[] known = new boolean[0];
        int[] lo = new int[0];
        int[] hi = new int[0];
        int[] cLo = new int[0];
        int[] cHi = new int[0];
        double[] score = new double[0];
        double[] rank = new double[0];
        BitSet chosen = new BitSet();
        int[] rows = new int[0];
        float[] qPacked = new float[0];
        float[] s = new float[0];
        /** Scoring rows of the current block and the packed queries' token stride. */
        int scoringRows;
        int tokenStride;
        int[] reps = new int[0];
        int[] pending = new int[0];
        int[] keyOf = new int[0];
        /** The gathered keys of one round's representative blocks. */
        MemorySegment gather;
    }

    /** Adds the keys block {@code b} of head {@code kh} attends to {@code out} (key indices of the view). */
    void select(Workspace ws, VectorKernels k, AttentionProblem p, HeadKeys keys, int kh, int b, BitSet out) {
        int r0 = b * blockQ;
        int r1 = Math.min(p.queryRows(), r0 + blockQ);
        long qLo = Long.MAX_VALUE;
        long qHi = Long.MIN_VALUE;
        for (int r = r0; r < r1; r++) {
            qLo = Math.min(qLo, p.queryPositions()[r]);
            qHi = Math.max(qHi, p.queryPositions()[r]);
        }
        KvView view = keys.view;
        AttentionMask mask = p.mask();
        int ps = view.pageSize();
        // the attendable keys, page by page (a page the mask excludes for the whole block is skipped)
        int n = keys.pos.length;
        int[] att = ws.att = grow(ws.att, n);
        int na = 0;
        for (int pg = 0; pg < view.pageCount(); pg++) {
            int from = keys.pageStart[pg];
            int to = keys.pageStart[pg + 1];
            if (from == to || !mask.mayAttend(qLo, qHi, keys.pos[from], keys.pos[to - 1])) {
                continue;
            }
            boolean all = mask.attendsAll(qLo, qHi, keys.pos[from], keys.pos[to - 1]);
            for (int i = from; i < to; i++) {
                if (all || mask.mayAttend(qLo, qHi, keys.pos[i], keys.pos[i])) {
                    att[na++] = i;
                }
            }
        }
        int[] cand = ws.cand = grow(ws.cand, na);
        int m = 0;
        long local = qLo - localWindow;
        for (int j = 0; j < na; j++) {
            int i = att[j];
            if (j < sinkTokens || keys.pos[i] >= local) {
                out.set(keys.page[i] * ps + keys.slot[i]);
            } else {
                cand[m++] = i;
            }
        }
        int nb = (m + blockK - 1) / blockK;
        int kb = topKBlocks();
        if (nb <= kb) {
            for (int j = 0; j < m; j++) {
                out.set(keys.page[cand[j]] * ps + keys.slot[cand[j]]);
            }
            return;
        }
        packQueries(ws, p, kh, r0, r1);
        ws.memo = growD(ws.memo, nb);
        ws.known = growB(ws.known, nb);
        Arrays.fill(ws.known, 0, nb, false);
        int cands = m;
        long lo = qLo;
        long hi = qHi;
        BlockScores scorer = (blocks, count) -> scoreBlocks(ws, k, p, keys, blocks, count, cands, lo, hi, blockK);
        for (int block : exhaustive ? everyBlockTopK(ws, nb, kb, scorer) : hierarchy(ws, nb, kb, scorer)) {
            int end = Math.min(m, (block + 1) * blockK);
            for (int j = block * blockK; j < end; j++) {
                out.set(keys.page[cand[j]] * ps + keys.slot[cand[j]]);
            }
        }
    }

    /** Scores blocks for {@link #hierarchy}: fills {@code memo} and {@code known} for {@code blocks[0 .. count)}. */
    @FunctionalInterface
    interface BlockScores {
        void score(int[] blocks, int count);
    }

    /** The {@link #exhaustive()} diagnostic: every block scored (2 kb at a time), the kb best kept, increasing. */
    private static int[] everyBlockTopK(Workspace ws, int nb, int kb, BlockScores scores) {
        int[] pending = ws.pending = grow(ws.pending, 2 * kb);
        for (int from = 0; from < nb; from += 2 * kb) {
            int count = Math.min(2 * kb, nb - from);
            for (int i = 0; i < count; i++) {
                pending[i] = from + i;
            }
            scores.score(pending, count);
        }
        ws.rank = TopK.scratch(ws.rank, nb);
        ws.chosen.clear();
        TopK.mark(ws.memo, nb, kb, ws.rank, ws.chosen);
        return ws.chosen.stream().toArray();
    }

    /** The hierarchy over key blocks {@code [0, nb)}: the kept single blocks, in increasing order. */
    int[] hierarchy(Workspace ws, int nb, int kb, BlockScores scores) {
        int[] lo = ws.lo = grow(ws.lo, kb);
        int[] hi = ws.hi = grow(ws.hi, kb);
        HipSpans.initial(nb, kb, lo, hi);
        int spans = kb;
        int[] cLo = ws.cLo = grow(ws.cLo, 2 * kb);
        int[] cHi = ws.cHi = grow(ws.cHi, 2 * kb);
        double[] score = ws.score = growD(ws.score, 2 * kb);
        while (true) {
            int c = HipSpans.halve(lo, hi, spans, cLo, cHi);
            if (c < 0) {
                int[] out = Arrays.copyOf(lo, spans);
                Arrays.sort(out);
                return out;
            }
            int[] reps = ws.reps = grow(ws.reps, c);
            int[] pending = ws.pending = grow(ws.pending, c);
            int np = 0;
            for (int i = 0; i < c; i++) {
                int rep = representative == Representative.FIRST ? cLo[i] : cLo[i] + (cHi[i] - cLo[i] - 1) / 2;
                reps[i] = rep;
                if (!ws.known[rep]) { // a first half's FIRST representative is its parent's: scored already
                    pending[np++] = rep;
                }
            }
            scores.score(pending, np);
            for (int i = 0; i < c; i++) {
                score[i] = ws.memo[reps[i]];
            }
            // children are in increasing block order, so index ties go to the lower span
            ws.rank = TopK.scratch(ws.rank, c);
            ws.chosen.clear();
            TopK.mark(score, c, kb, ws.rank, ws.chosen);
            spans = 0;
            for (int i = ws.chosen.nextSetBit(0); i >= 0 && i < c; i = ws.chosen.nextSetBit(i + 1)) {
                lo[spans] = cLo[i];
                hi[spans++] = cHi[i];
            }
        }
    }

    /**
     * The scoring rows of rows {@code [r0, r1)} x the g heads of {@code kh}, packed for the
     * outer-product kernel (token {@code t} = scoring row {@code t / g}, head {@code t % g}).
     */
    private void packQueries(Workspace ws, AttentionProblem p, int kh, int r0, int r1) {
        int g = p.groupSize();
        int d = p.headDim();
        int count = 0;
        ws.rows = grow(ws.rows, blockQ);
        for (int r = r1 - 1; r >= r0; r -= queryStride) {
            ws.rows[count++] = r;
        }
        int tokens = count * g;
        int bt = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;
        int stride = (tokens + bt - 1) / bt * bt;
        float[] qp = ws.qPacked = grow(ws.qPacked, stride * d);
        Arrays.fill(qp, 0, stride * d, 0f);
        for (int i = 0; i < count; i++) {
            for (int j = 0; j < g; j++) {
                int t = i * g + j;
                int qi = p.queryIndex(ws.rows[i], kh * g + j);
                int base = (t / bt) * bt * d + t % bt;
                for (int c = 0; c < d; c++) {
                    qp[base + c * bt] = p.queries()[qi + c];
                }
            }
        }
        ws.scoringRows = count;
        ws.tokenStride = stride;
    }

    /**
     * Scores key blocks: the keys of all of them gathered (raw rows, the view's dtype) into one
     * buffer and multiplied with the packed scoring queries in one kernel call; a block's score is
     * the max over its keys, the tokens (scoring row x head) and, where the mask does not let the
     * whole query block see a key, only the rows it allows. NaN propagates (max), so TopK ranks it
     * as +infinity.
     */
    private static void scoreBlocks(Workspace ws, VectorKernels k, AttentionProblem p, HeadKeys keys, int[] blocks,
                                    int count, int m, long qLo, long qHi, int blockK) {
        if (count == 0) {
            return;
        }
        KvView view = keys.view;
        long rowBytes = view.rowBytes();
        int maxKeys = count * blockK;
        if (ws.gather == null || ws.gather.byteSize() < maxKeys * rowBytes) {
            // Off-heap, as the cache's pages: the Vector API intrinsifies 16-bit loads only from native
            // segments. An automatic arena frees it with the workspace.
            ws.gather = Arena.ofAuto().allocate(Math.max(maxKeys * rowBytes, 2 * (ws.gather == null ? 0 : ws.gather.byteSize())), 64);
        }
        int[] keyOf = ws.keyOf = grow(ws.keyOf, maxKeys);
        int n = 0;
        for (int b = 0; b < count; b++) {
            int end = Math.min(m, (blocks[b] + 1) * blockK);
            for (int j = blocks[b] * blockK; j < end; j++) {
                int i = ws.cand[j];
                MemorySegment.copy(view.keys(keys.page[i]), keys.slot[i] * rowBytes, ws.gather, n * rowBytes, rowBytes);
                keyOf[n++] = i;
            }
        }
        int stride = ws.tokenStride;
        int g = p.groupSize();
        int tokens = ws.scoringRows * g;
        ws.s = grow(ws.s, n * stride);
        k.matmulRowsTransposedT(view.dtype(), ws.gather, rowBytes, p.headDim(), 0, n, ws.qPacked, stride, tokens, ws.s,
                stride);
        AttentionMask mask = p.mask();
        int key = 0;
        for (int b = 0; b < count; b++) {
            int end = Math.min(m, (blocks[b] + 1) * blockK);
            float best = Float.NEGATIVE_INFINITY;
            for (int j = blocks[b] * blockK; j < end; j++, key++) {
                long kPos = keys.pos[keyOf[key]];
                int off = key * stride;
                if (mask.attendsAll(qLo, qHi, kPos, kPos)) {
                    best = Math.max(best, k.max(ws.s, off, tokens));
                } else {
                    for (int t = 0; t < tokens; t++) {
                        if (mask.allows(p.queryPositions()[ws.rows[t / g]], kPos)) {
                            best = Math.max(best, ws.s[off + t]);
                        }
                    }
                }
            }
            ws.memo[blocks[b]] = best;
            ws.known[blocks[b]] = true;
        }
    }

    static int[] grow(int[] a, int n) {
        return a.length >= n ? a : new int[Math.max(n, a.length * 2)];
    }

    static float[] grow(float[] a, int n) {
        return a.length >= n ? a : new float[Math.max(n, a.length * 2)];
    }

    static double[] growD(double[] a, int n) {
        return a.length >= n ? a : new double[Math.max(n, a.length * 2)];
    }

    static boolean[] growB(boolean[] a, int n) {
        return a.length >= n ? a : new boolean[Math.max(n, a.length * 2)];
    }
}
