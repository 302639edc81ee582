package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import java.util.Arrays;

/**
 * The online pattern estimators of MInference 1.0 (Jiang et al., 2024, "MInference 1.0:
 * Accelerating Pre-filling for Long-Context LLMs via Dynamic Sparse Attention"; reference code
 * microsoft/MInference {@code minference/modules/minference_forward.py}), each turning a problem's
 * queries and keys into a {@link BlockMask} for {@link BlockSparseAttention}:
 * <ul>
 *   <li>{@link #aShape}: sink pages plus the most recent pages (StreamingLLM's pattern at block
 *       granularity); no scoring, O(Hkv x queryBlocks x pages).</li>
 *   <li>{@link #verticalSlash}: the softmax of the last 64 queries against every key picks key
 *       columns ("vertical") and diagonals ("slash"); O(g x 64 x Lk x D) per KV head.</li>
 *   <li>{@link #topKBlocks}: mean-pooled query blocks against mean-pooled key pages, top-k pages per
 *       query block; O((Lq x g + Lk) x D + queryBlocks x pages x D) per KV head.</li>
 * </ul>
 *
 * <p><b>Granularity.</b> MInference picks a pattern per attention head; here a KV head's g query
 * heads are rows of one tile and share one pattern, so scores are summed over the group (for the
 * vertical-slash estimate that is the sum of the g heads' softmax mass; for the pooled top-k score,
 * summing g per-head dot products equals one dot product with the group's summed pooled query).
 * Blocks are (Bq query tokens) x (one KV page) rather than MInference's 64 x 64.
 *
 * <p><b>Which blocks are candidates.</b> Every estimator only keeps pages that the problem's
 * {@link AttentionMask} lets at least one query of the block attend ({@link AttentionMask#mayAttend}),
 * and only pages with used slots, so a mask's density measures real work. "Diagonal" and "local"
 * pages are found by position: pages whose keys lie at the query block's own positions, or the
 * last pages the block may attend.
 *
 * <p>All estimators are deterministic (ties broken towards the lower index) and give the same mask
 * for any thread count: work is split by KV head and by query block only.
 */
public final class MInferenceEstimators {
    /** MInference estimates vertical-slash patterns from the last 64 queries ({@code q[-64:]}). */
    public static final int LAST_QUERIES = 64;
    /** First keys always kept as vertical columns (MInference: {@code qk[..., :30] = inf}). */
    public static final int SINK_KEYS = 30;
    /** Diagonals nearest the main one always kept as slashes (MInference: the last 100). */
    public static final int LOCAL_DIAGONALS = 100;
    /** Context length MInference's published budgets refer to (128K). */
    static final int REFERENCE_KEYS = 131_072;
    /** Vertical columns of MInference's largest Llama-3.1-8B vertical-slash budget at 128K. */
    static final int REFERENCE_VERTICAL = 1000;
    /** Slash lines of the same budget. */
    static final int REFERENCE_SLASH = 6096;
    /** A-shape sink tokens (MInference's {@code n_init}). */
    static final int ASHAPE_SINK_TOKENS = 128;
    /** A-shape local tokens (MInference's {@code n_local}); sink + local = 4096. */
    static final int ASHAPE_LOCAL_TOKENS = 3968;
    /**
     * Default top-k fraction: MInference keeps the top 100 key blocks of 64 tokens, i.e.
     * 100 x 64 / 131072 = 4.9% of the key blocks of a 128K context.
     */
    static final double DEFAULT_TOPK_FRACTION = 100.0 * 64 / REFERENCE_KEYS;
    /**
     * Longest span of query-minus-key position offsets the vertical-slash estimator accepts: its
     * diagonal scores are an array indexed by offset (16M doubles = 128 MiB). Positions of one
     * sequence span its context length, far below this.
     */
    static final long MAX_OFFSET_SPAN = 1L << 24;

    private MInferenceEstimators() {
    }

    // ---------------------------------------------------------------- A-shape

    /**
     * A-shape with MInference's defaults: sinks = the pages holding the first 128 tokens, local = the
     * pages holding the last 3968 tokens before each query block ({@code ceil(tokens / pageSize)}
     * pages each, with the view's page size).
     */
    public static BlockMaskEstimator aShape() {
        return new AShape(ASHAPE_SINK_TOKENS, ASHAPE_LOCAL_TOKENS, true);
    }

    /**
     * A-shape (StreamingLLM's sink + window at block level, MInference's "A-shape" head): for every
     * query block keep pages {@code 0..sinkPages-1} and the last {@code localPages} pages the block
     * may attend (under causality: the page holding the block's last query and the pages before
     * it). Cost O(Hkv x queryBlocks x pages), no key is read.
     *
     * @param sinkPages leading pages always kept ({@code >= 0})
     * @param localPages most recent attendable pages kept ({@code >= 1}, so that every query sees
     *     at least its own page)
     */
    public static BlockMaskEstimator aShape(int sinkPages, int localPages) {
        if (sinkPages < 0 || localPages < 1) {
            throw new IllegalArgumentException("a-shape: need sinkPages >= 0 and localPages >= 1, got sinkPages="
                    + sinkPages + " localPages=" + localPages);
        }
        return new AShape(sinkPages, localPages, false);
    }

    private record AShape(int sink, int local, boolean inTokens) implements BlockMaskEstimator {
        @Override
        public String name() {
            return inTokens ? "a-shape(" + sink + "+" + local + " tokens)" : "a-shape(" + sink + "+" + local + " pages)";
        }

        @Override
        public BlockMask estimate(AttentionProblem p, TensorOps ops) {
            BlockMask.Builder out = BlockMask.builder(p);
            Geometry geo = new Geometry(p, out.queryBlockTokens());
            int ps = p.kv()[0].pageSize();
            int sinkPages = inTokens ? ceilDiv(sink, ps) : sink;
            int localPages = inTokens ? Math.max(1, ceilDiv(local, ps)) : local;
            int blocks = geo.queryBlocks;
            ops.pool().parallelFor(p.kvHeads() * blocks, t -> {
                int h = t / blocks;
                int b = t % blocks;
                Pages pg = geo.pages[h];
                int seen = 0;
                // Walk back from the last page the block may reach: the first localPages attendable
                // pages met are the local ones.
                for (int i = geo.lastCandidate(b, pg); i >= 0 && seen < localPages; i--) {
                    if (geo.mayAttend(b, pg, i)) {
                        out.keep(h, b, pg.page[i]);
                        seen++;
                    }
                }
                for (int i = 0; i < pg.count && pg.page[i] < sinkPages; i++) {
                    if (geo.mayAttend(b, pg, i)) {
                        out.keep(h, b, pg.page[i]);
                    }
                }
            });
            return out.build();
        }
    }

    // ---------------------------------------------------------------- vertical-slash

    /**
     * Vertical-slash with budgets scaled to the problem: MInference's (1000 vertical, 6096 slash) at
     * 128K keys, scaled linearly with the view's key count and at least MInference's floors (30, 50);
     * 30 sink keys and 100 local diagonals forced in besides. At 32K keys that is (250, 1524).
     */
    public static BlockMaskEstimator verticalSlash() {
        return new VerticalSlash(-1, -1, SINK_KEYS, LOCAL_DIAGONALS);
    }

    /** Vertical-slash with fixed budgets and MInference's 30 sink keys and 100 local diagonals. */
    public static BlockMaskEstimator verticalSlash(int vertical, int slash) {
        return verticalSlash(vertical, slash, SINK_KEYS, LOCAL_DIAGONALS);
    }

    /**
     * Vertical-slash (MInference's most common head pattern). Per KV head, the last
     * {@code min(64, Lq)} query rows (times the g query heads) are scored against every key they may
     * attend under the problem's mask (causal in prefill), softmax per row, and the probabilities
     * are summed over those rows: by key ("vertical" columns) and by position offset
     * {@code qPos - kPos} ("slash" diagonals). The first {@code sinkKeys} keys and the diagonals
     * {@code 0..localDiagonals-1} are forced in, and the {@code vertical} columns and {@code slash}
     * diagonals with the highest sums are added (keys or diagonals with no mass are never picked).
     * Unlike MInference, whose budgets count the forced ones, the budgets here come on top of them,
     * so that a small scaled budget still picks columns and diagonals from the scores. A page is
     * then kept for a query block
     * when it holds a kept column the block may attend, or when a kept diagonal passes through it
     * (some key position in {@code [qLo - delta, qHi - delta]} lies in the page's range).
     *
     * <p>Cost per KV head: two passes of {@code g x 64 x Lk x D} multiply-adds (maximum and sum,
     * then probabilities; no {@code 64 x Lk} matrix is kept), O(Lk) memory, plus
     * O(queryBlocks x (vertical pages + slash runs x log pages)) to build the mask.
     *
     * @param vertical columns kept per KV head besides the forced sinks
     * @param slash diagonals kept per KV head besides the forced local ones
     * @param sinkKeys leading keys forced in
     * @param localDiagonals diagonals nearest the main one forced in
     */
    public static BlockMaskEstimator verticalSlash(int vertical, int slash, int sinkKeys, int localDiagonals) {
        if (vertical < 0 || slash < 0 || sinkKeys < 0 || localDiagonals < 0) {
            throw new IllegalArgumentException("vertical-slash: budgets must be >= 0, got vertical=" + vertical
                    + " slash=" + slash + " sinkKeys=" + sinkKeys + " localDiagonals=" + localDiagonals);
        }
        return new VerticalSlash(vertical, slash, sinkKeys, localDiagonals);
    }

    /** Budgets scaled from MInference's 128K budget to {@code keys} keys, with MInference's floors. */
    static int scaledVertical(int keys) {
        return Math.max(SINK_KEYS, (int) Math.round((double) REFERENCE_VERTICAL * keys / REFERENCE_KEYS));
    }

    /** See {@link #scaledVertical}; MInference's floor for slashes is 50. */
    static int scaledSlash(int keys) {
        final int minSlash = 50; // MInference: slash_size = max(slash_size, 50)
        return Math.max(minSlash, (int) Math.round((double) REFERENCE_SLASH * keys / REFERENCE_KEYS));
    }

    private record VerticalSlash(int vertical, int slash, int sinkKeys, int localDiagonals)
            implements BlockMaskEstimator {
        @Override
        public String name() {
            return vertical < 0 ? "vertical-slash" : "vertical-slash(" + vertical + "," + slash + ")";
        }

        @Override
        public BlockMask estimate(AttentionProblem p, TensorOps ops) {
            BlockMask.Builder out = BlockMask.builder(p);
            Geometry geo = new Geometry(p, out.queryBlockTokens());
            int heads = p.kvHeads();
            int[][] columns = new int[heads][];
            long[][] diagonals = new long[heads][];
            if (p.queryRows() > 0) {
                ops.pool().parallelFor(heads, h -> {
                    int keys = p.kv()[h].length();
                    int v = vertical < 0 ? scaledVertical(keys) : vertical;
                    int s = slash < 0 ? scaledSlash(keys) : slash;
                    scoreHead(p, ops.kernels(), h, v, s, columns, diagonals);
                });
            }
            int blocks = geo.queryBlocks;
            ops.pool().parallelFor(heads * blocks, t -> {
                int h = t / blocks;
                int b = t % blocks;
                keepVertical(p, geo, h, b, columns[h], out);
                keepSlash(geo, h, b, diagonals[h], out);
            });
            return out.build();
        }

        /**
         * Scores one KV head and stores its kept key indices ({@code page * pageSize + slot},
         * increasing) and kept diagonal offsets (increasing).
         */
        private void scoreHead(AttentionProblem p, VectorKernels k, int h, int v, int s, int[][] columns,
                               long[][] diagonals) {
            KvView view = p.kv()[h];
            int d = p.headDim();
            int g = p.groupSize();
            int ps = view.pageSize();
            int lq = p.queryRows();
            int w = Math.min(LAST_QUERIES, lq);
            int first = lq - w;
            int rows = w * g;
            float[] q = new float[rows * d];
            long qLo = Long.MAX_VALUE;
            long qHi = Long.MIN_VALUE;
            for (int t = 0; t < w; t++) {
                long pos = p.queryPositions()[first + t];
                qLo = Math.min(qLo, pos);
                qHi = Math.max(qHi, pos);
                for (int j = 0; j < g; j++) {
                    // Pre-scaled as in the tiled kernel, so S = Q K^T are the logits.
                    int r = t * g + j;
                    System.arraycopy(p.queries(), p.queryIndex(first + t, h * g + j), q, r * d, d);
                    k.scale(q, r * d, d, p.scale());
                }
            }
            Pages pages = new Pages(view);
            double[] colSum = new double[view.pageCount() * ps];
            if (pages.count == 0) {
                columns[h] = new int[0];
                diagonals[h] = new long[0];
                return;
            }
            long minOff = qLo - pages.hi[pages.count - 1];
            long span = qHi - pages.lo[0] - minOff + 1;
            if (span > MAX_OFFSET_SPAN) {
                throw new IllegalArgumentException("vertical-slash: query and key positions span " + span
                        + " offsets, more than " + MAX_OFFSET_SPAN + " (positions of one sequence are expected)");
            }
            double[] diagSum = new double[(int) span];
            float[] sc = new float[rows * ps];
            long[] kpos = new long[ps];
            float[] m = new float[rows];
            float[] l = new float[rows];
            Arrays.fill(m, Float.NEGATIVE_INFINITY);
            // Pass 1: per-row maximum and sum (online, as in the tile), so pass 2 can normalise.
            for (int i = 0; i < pages.count; i++) {
                int page = pages.page[i];
                int n = view.pageLength(page);
                if (!p.mask().mayAttend(qLo, qHi, pages.lo[i], pages.hi[i])) {
                    continue;
                }
                logits(p, k, view, page, n, q, rows, first, sc, kpos);
                for (int r = 0; r < rows; r++) {
                    float mx = k.max(sc, r * n, n);
                    if (mx == Float.NEGATIVE_INFINITY) {
                        continue;
                    }
                    float mNew = Math.max(m[r], mx);
                    float corr = m[r] == Float.NEGATIVE_INFINITY ? 0f : (float) Math.exp(m[r] - mNew);
                    l[r] = l[r] * corr + k.expShiftSum(sc, r * n, n, mNew);
                    m[r] = mNew;
                }
            }
            float[] lse = new float[rows];
            for (int r = 0; r < rows; r++) {
                lse[r] = l[r] == 0f ? Float.NEGATIVE_INFINITY : m[r] + (float) Math.log(l[r]);
            }
            // Pass 2: probabilities, summed by key and by offset.
            for (int i = 0; i < pages.count; i++) {
                int page = pages.page[i];
                int n = view.pageLength(page);
                if (!p.mask().mayAttend(qLo, qHi, pages.lo[i], pages.hi[i])) {
                    continue;
                }
                logits(p, k, view, page, n, q, rows, first, sc, kpos);
                for (int r = 0; r < rows; r++) {
                    if (lse[r] == Float.NEGATIVE_INFINITY) {
                        continue;
                    }
                    long qPos = p.queryPositions()[first + r / g];
                    k.expShiftSum(sc, r * n, n, lse[r]);
                    for (int slot = 0; slot < n; slot++) {
                        float prob = sc[r * n + slot];
                        if (prob != 0f) {
                            colSum[page * ps + slot] += prob;
                            diagSum[(int) (qPos - kpos[slot] - minOff)] += prob;
                        }
                    }
                }
            }
            // Forced in on top of the budgets: the first sinkKeys used keys and the diagonals
            // 0..localDiagonals-1 (scored +infinity so the top-k takes them first).
            int forcedColumns = 0;
            for (int i = 0; i < pages.count && forcedColumns < sinkKeys; i++) {
                int page = pages.page[i];
                for (int slot = 0; slot < view.pageLength(page) && forcedColumns < sinkKeys; slot++) {
                    colSum[page * ps + slot] = Double.POSITIVE_INFINITY;
                    forcedColumns++;
                }
            }
            int forcedDiagonals = 0;
            for (long delta = 0; delta < localDiagonals; delta++) {
                long idx = delta - minOff;
                if (idx >= 0 && idx < span) {
                    diagSum[(int) idx] = Double.POSITIVE_INFINITY;
                    forcedDiagonals++;
                }
            }
            columns[h] = topK(colSum, v + forcedColumns);
            int[] diag = topK(diagSum, s + forcedDiagonals);
            long[] offsets = new long[diag.length];
            for (int i = 0; i < diag.length; i++) {
                offsets[i] = diag[i] + minOff;
            }
            diagonals[h] = offsets;
        }

        /** Keeps the pages holding kept columns that some query of block b may attend. */
        private static void keepVertical(AttentionProblem p, Geometry geo, int h, int b, int[] cols,
                                         BlockMask.Builder out) {
            KvView view = p.kv()[h];
            int ps = view.pageSize();
            int i = 0;
            while (i < cols.length) {
                // Columns are increasing, so one page's columns are consecutive in the array.
                int page = cols[i] / ps;
                long lo = view.position(page, cols[i] % ps);
                long hi = lo;
                while (i < cols.length && cols[i] / ps == page) {
                    hi = view.position(page, cols[i] % ps);
                    i++;
                }
                if (p.mask().mayAttend(geo.qLo[b], geo.qHi[b], lo, hi)) {
                    out.keep(h, b, page);
                }
            }
        }

        /**
         * Keeps the pages kept diagonals pass through for block b: a run of consecutive offsets
         * {@code [d0, d1]} covers key positions {@code [qLo - d1, qHi - d0]}.
         */
        private static void keepSlash(Geometry geo, int h, int b, long[] offsets, BlockMask.Builder out) {
            Pages pg = geo.pages[h];
            int i = 0;
            while (i < offsets.length) {
                long d0 = offsets[i];
                long d1 = d0;
                while (i + 1 < offsets.length && offsets[i + 1] == d1 + 1) {
                    d1 = offsets[++i];
                }
                i++;
                long kLo = geo.qLo[b] - d1;
                long kHi = geo.qHi[b] - d0;
                for (int j = pg.firstEndingAtOrAfter(kLo); j < pg.count && pg.lo[j] <= kHi; j++) {
                    if (geo.mayAttend(b, pg, j)) {
                        out.keep(h, b, pg.page[j]);
                    }
                }
            }
        }
    }

    /**
     * Logits of {@code rows} pre-scaled query rows (token-major, g heads per token, first token at
     * problem row {@code first}) against one page, soft-capped and masked (-infinity) exactly as the
     * tiled kernel computes them; fills {@code kpos} with the page's key positions.
     */
    private static void logits(AttentionProblem p, VectorKernels k, KvView view, int page, int n, float[] q, int rows,
                               int first, float[] s, long[] kpos) {
        int d = p.headDim();
        int g = p.groupSize();
        k.matmulRows(view.dtype(), view.keys(page), view.rowBytes(), d, 0, n, q, rows, s, n);
        float cap = p.softCap();
        if (cap > 0) {
            float inv = 1f / cap;
            for (int i = 0; i < rows * n; i++) {
                s[i] = cap * (float) Math.tanh(s[i] * inv);
            }
        }
        for (int slot = 0; slot < n; slot++) {
            kpos[slot] = view.position(page, slot);
        }
        for (int t = 0; t < rows / g; t++) {
            long qPos = p.queryPositions()[first + t];
            for (int slot = 0; slot < n; slot++) {
                if (!view.isValid(page, slot) || !p.mask().allows(qPos, kpos[slot])) {
                    for (int j = 0; j < g; j++) {
                        s[(t * g + j) * n + slot] = Float.NEGATIVE_INFINITY;
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- top-k blocks

    /**
     * Top-k blocks with MInference's default budget scaled to the problem: 100 blocks of 64 keys at
     * 128K, i.e. {@code ceil(4.9%)} of the pages a query block may attend (at least the forced ones).
     */
    public static BlockMaskEstimator topKBlocks() {
        return topKBlockFraction(DEFAULT_TOPK_FRACTION);
    }

    /**
     * MInference's block-sparse pattern: per KV head, the queries of each query block (all g heads)
     * and the valid keys of each page are mean-pooled; a page's score for a query block is
     * {@code pooled_q . pooled_k}. Among the pages the block may attend (causal: pages at or before
     * the block), the diagonal pages (holding keys at the block's own positions, and the last
     * attendable page) and the first attendable page (the sink) are always kept; the highest-scoring
     * others fill the budget of {@code k} pages per query block (more when the forced pages alone
     * exceed it). Cost per KV head O((Lq x g + Lk) x D) to pool plus O(queryBlocks x pages x D) to
     * score (about half of it under causality).
     *
     * @param k pages kept per query block, counting the forced ones ({@code >= 1})
     */
    public static BlockMaskEstimator topKBlocks(int k) {
        if (k < 1) {
            throw new IllegalArgumentException("top-k blocks: k must be >= 1, got " + k);
        }
        return new TopK(k, 0);
    }

    /**
     * {@link #topKBlocks(int)} with a budget relative to each query block:
     * {@code ceil(fraction x attendable pages)} pages, at least the forced ones. A ratio budget
     * keeps the density of a causal prefill near {@code fraction} at every length.
     *
     * @param fraction in (0, 1]
     */
    public static BlockMaskEstimator topKBlockFraction(double fraction) {
        if (!(fraction > 0 && fraction <= 1)) {
            throw new IllegalArgumentException("top-k blocks: fraction must be in (0, 1], got " + fraction);
        }
        return new TopK(0, fraction);
    }

    private record TopK(int k, double fraction) implements BlockMaskEstimator {
        @Override
        public String name() {
            return k > 0 ? "top-k-blocks(" + k + ")" : String.format("top-k-blocks(%.3f)", fraction);
        }

        @Override
        public BlockMask estimate(AttentionProblem p, TensorOps ops) {
            BlockMask.Builder out = BlockMask.builder(p);
            Geometry geo = new Geometry(p, out.queryBlockTokens());
            int heads = p.kvHeads();
            int blocks = geo.queryBlocks;
            int d = p.headDim();
            float[][] pooledK = new float[heads][];
            float[][] pooledQ = new float[heads][];
            boolean[][] noValidKey = new boolean[heads][];
            ops.pool().parallelFor(heads, h -> {
                noValidKey[h] = new boolean[geo.pages[h].count];
                pooledK[h] = poolKeys(p.kv()[h], geo.pages[h], ops.kernels(), noValidKey[h]);
                pooledQ[h] = poolQueries(p, h, out.queryBlockTokens(), blocks);
            });
            ops.pool().parallelFor(heads * blocks, t -> {
                int h = t / blocks;
                int b = t % blocks;
                Pages pg = geo.pages[h];
                double[] score = new double[pg.count];
                int attendable = 0;
                int lastAttendable = -1;
                int firstAttendable = -1;
                int end = geo.lastCandidate(b, pg) + 1;
                for (int i = 0; i < end; i++) {
                    if (!geo.mayAttend(b, pg, i) || noValidKey[h][i]) {
                        score[i] = Double.NEGATIVE_INFINITY;
                        continue;
                    }
                    attendable++;
                    lastAttendable = i;
                    if (firstAttendable < 0) {
                        firstAttendable = i;
                    }
                    score[i] = ops.kernels().dot(pooledQ[h], b * d, pooledK[h], i * d, d);
                }
                if (attendable == 0) {
                    return;
                }
                Arrays.fill(score, end, pg.count, Double.NEGATIVE_INFINITY);
                int forced = 0;
                for (int i = 0; i < end; i++) {
                    boolean diagonal = score[i] != Double.NEGATIVE_INFINITY && pg.hi[i] >= geo.qLo[b];
                    if (diagonal || i == lastAttendable || i == firstAttendable) {
                        score[i] = Double.POSITIVE_INFINITY;
                        forced++;
                    }
                }
                int budget = k > 0 ? k : (int) Math.ceil(fraction * attendable);
                for (int i : topKAll(score, Math.max(budget, forced))) {
                    out.keep(h, b, pg.page[i]);
                }
            });
            return out.build();
        }
    }

    /**
     * Mean of the valid keys of each non-empty page ({@code [pages.count][D]}); pages without a
     * valid key are flagged in {@code noValidKey} (they are never candidates) and pool to zero.
     */
    private static float[] poolKeys(KvView view, Pages pg, VectorKernels k, boolean[] noValidKey) {
        int d = view.headDim();
        int ps = view.pageSize();
        float[] out = new float[pg.count * d];
        float[] buf = new float[ps * d];
        for (int i = 0; i < pg.count; i++) {
            int page = pg.page[i];
            int n = view.pageLength(page);
            k.dequantize(view.dtype(), view.keys(page), 0, buf, 0, n * d);
            int valid = 0;
            for (int slot = 0; slot < n; slot++) {
                if (view.isValid(page, slot)) {
                    k.axpy(1f, buf, slot * d, out, i * d, d);
                    valid++;
                }
            }
            if (valid == 0) {
                noValidKey[i] = true;
            } else {
                k.scale(out, i * d, d, 1f / valid);
            }
        }
        return out;
    }

    /** Sum over each query block's rows and the g heads of KV head h ({@code [blocks][D]}); a sum ranks as the mean. */
    private static float[] poolQueries(AttentionProblem p, int h, int bq, int blocks) {
        int d = p.headDim();
        int g = p.groupSize();
        float[] out = new float[blocks * d];
        float[] q = p.queries();
        for (int i = 0; i < p.queryRows(); i++) {
            int b = i / bq;
            for (int j = 0; j < g; j++) {
                int qi = p.queryIndex(i, h * g + j);
                for (int c = 0; c < d; c++) {
                    out[b * d + c] += q[qi + c];
                }
            }
        }
        return out;
    }

    // ---------------------------------------------------------------- shared helpers

    /**
     * Indices of the {@code k} highest positive scores, increasing ({@link dev.longctx.core.select.TopK}'s rule: ties go to
     * the lower index); NaN, zero and negative scores are never picked.
     */
    static int[] topK(double[] score, int k) {
        return dev.longctx.core.select.TopK.indices(score, k, s -> s > 0); // (TopK here is the estimator)
    }

    /** As {@link #topK} but any score above -infinity is a candidate (pooled dot products may be negative). */
    static int[] topKAll(double[] score, int k) {
        return dev.longctx.core.select.TopK.indices(score, k, s -> s > Double.NEGATIVE_INFINITY);
    }

    private static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }

    /** The non-empty pages of one view with their position bounds, in view (= position) order. */
    static final class Pages {
        final int count;
        final int[] page;
        final long[] lo;
        final long[] hi;

        Pages(KvView view) {
            int n = 0;
            for (int p = 0; p < view.pageCount(); p++) {
                if (view.pageLength(p) > 0) {
                    n++;
                }
            }
            count = n;
            page = new int[n];
            lo = new long[n];
            hi = new long[n];
            int i = 0;
            for (int p = 0; p < view.pageCount(); p++) {
                if (view.pageLength(p) > 0) {
                    page[i] = p;
                    lo[i] = view.pageMinPosition(p);
                    hi[i] = view.pageMaxPosition(p);
                    i++;
                }
            }
        }

        /** Index of the last page whose smallest position is {@code <= pos} (-1 when none). */
        int lastStartingAtOrBefore(long pos) {
            int a = 0;
            int b = count;
            while (a < b) {
                int mid = (a + b) >>> 1;
                if (lo[mid] <= pos) {
                    a = mid + 1;
                } else {
                    b = mid;
                }
            }
            return a - 1;
        }

        /** Index of the first page whose largest position is {@code >= pos} (count when none). */
        int firstEndingAtOrAfter(long pos) {
            int a = 0;
            int b = count;
            while (a < b) {
                int mid = (a + b) >>> 1;
                if (hi[mid] < pos) {
                    a = mid + 1;
                } else {
                    b = mid;
                }
            }
            return a;
        }
    }

    /** Position bounds of every query block and the pages of every KV head. */
    private static final class Geometry {
        final AttentionProblem p;
        final int queryBlocks;
        final long[] qLo;
        final long[] qHi;
        final Pages[] pages;

        Geometry(AttentionProblem p, int bq) {
            this.p = p;
            int lq = p.queryRows();
            queryBlocks = (lq + bq - 1) / bq;
            qLo = new long[queryBlocks];
            qHi = new long[queryBlocks];
            for (int b = 0; b < queryBlocks; b++) {
                long lo = Long.MAX_VALUE;
                long hi = Long.MIN_VALUE;
                for (int i = b * bq; i < Math.min(lq, (b + 1) * bq); i++) {
                    lo = Math.min(lo, p.queryPositions()[i]);
                    hi = Math.max(hi, p.queryPositions()[i]);
                }
                qLo[b] = lo;
                qHi[b] = hi;
            }
            pages = new Pages[p.kvHeads()];
            for (int h = 0; h < pages.length; h++) {
                pages[h] = new Pages(p.kv()[h]);
            }
        }

        /**
         * Index of the last page block b may attend at most: under a causal mask the last page that
         * starts at or before the block's last position (pages are in position order), else the last
         * page. Saves early blocks of a long prefill a walk over every future page.
         */
        int lastCandidate(int b, Pages pg) {
            return p.mask().causal() ? pg.lastStartingAtOrBefore(qHi[b]) : pg.count - 1;
        }

        /** Whether some query of block b may attend some key of non-empty page i. */
        boolean mayAttend(int b, Pages pg, int i) {
            return p.mask().mayAttend(qLo[b], qHi[b], pg.lo[i], pg.hi[i]);
        }
    }
}
