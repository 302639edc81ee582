package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.select.TopK;
import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * HiP's hierarchically pruned attention mask (Lee et al., 2024, "A Training-Free Sub-quadratic Cost
 * Transformer Model Serving Framework with Hierarchically Pruned Attention": its hierarchical top-k mask
 * estimation; section numbers not re-checked here), as a {@link BlockMaskEstimator} for
 * {@link BlockSparseAttention}: the sparse-prefill kernel stays the same, only the mask changes.
 *
 * <p><b>The rule, per KV head and query block.</b> The candidates are the pages the block may attend
 * (the problem's {@link AttentionMask}), holding a valid key, in position order, less the forced
 * ones: the first attendable page (the sink) and the diagonal pages (those holding keys at or after
 * the block's first query position, and the last attendable page), which are always kept. When at
 * most {@code kPages} candidates remain, all are kept. Otherwise the candidate list is cut into
 * {@code kPages} equal spans ({@code [j n / k, (j + 1) n / k)}); then, until every kept span is a
 * single page, each span of two or more pages is split in two ({@code [lo, lo + ceil(len / 2))} and
 * the rest; a one-page span stays as it is), each half is scored by its <em>representative</em>,
 * the first valid key of its first page, and the {@code kPages} best halves are kept ({@link TopK}'s rule: ties to the
 * lower index, NaN as +infinity). A representative's score is {@code max} over the block's query tokens and the g
 * query heads of the KV head of {@code q . k} (the raw dot product: scale and soft-capping are
 * increasing, so they change no ranking), over the queries the mask lets see it. The kept mask
 * is the surviving single pages plus the forced ones.
 *
 * <p><b>Granularity.</b> The paper prunes key blocks of {@code b_k} tokens inside a GPU kernel;
 * here the unit is a KV page (the key block of {@link BlockSparseAttention}), so the
 * paper's {@code k = 512} tokens becomes {@code ceil(512 / pageSize)} pages. Query blocks are
 * {@link BlockMask#defaultQueryBlockTokens} tokens (32 for g = 2, the paper's {@code b_q = 32}).
 *
 * <p><b>Cost.</b> Per query block, {@code log2(n / k)} rounds of at most {@code 2k} representatives
 * scored against {@code Bq x g} queries: O((Lq / Bq) x k x log(Lk / k) x Bq x g x D) per KV head, that
 * is O(T log T) for a prefill of T tokens, where the exact kernel is O(T^2). Scores of a
 * representative are computed once per block (a first half keeps its parent's representative), and
 * each round's new representatives are scored in one small matrix product with the block's queries.
 *
 * <p><b>Variant: sampled representatives ({@link Representative#SAMPLED}, not the paper's).</b>
 * A half is scored by up to nine keys instead of one: its first, middle and last candidate pages
 * (candidate indices {@code lo}, {@code lo + (len - 1) / 2} and {@code hi - 1}; fewer when they
 * coincide), and in each of those pages its first, middle and last valid key (the valid slots at
 * indices {@code 0}, {@code (c - 1) / 2} and {@code c - 1} of the page's {@code c} valid slots).
 * The half's score is the max of those keys' scores (each as above: the max over the queries that
 * may see that key and the group's heads; NaN when any is NaN). Everything else (spans, halving,
 * top-k, forced pages) is the paper's rule. A page's score is computed once per query block.
 *
 * <p><b>Variant: mean representatives ({@link Representative#MEAN}, not the paper's).</b> A half
 * is scored by the mean of all valid keys of its candidate pages (summed in double, divided by
 * their count, rounded to float), as if it were one key at the position of the half's first page's
 * first valid key (for the mask). The fast path takes a half's sum from per-head prefix sums over
 * the pages when its candidates are consecutive pages, else page by page.
 *
 * <p><b>Variant: bound representatives ({@link Representative#BOUND}, not the paper's).</b> A
 * half is scored by Quest's upper bound: with {@code mn} and {@code mx} the per-channel minimum and
 * maximum of all valid keys of its candidate pages, a query's score is
 * {@code sum_c max(q_c mn_c, q_c mx_c)} (at least {@code q . k} for every key of the half), the max
 * over the queries that may see the half's first page's first valid key and the group's heads. The
 * fast path computes it as one product of {@code [max(q, 0), min(q, 0)]} with {@code [mx, mn]}.
 *
 * <p>Deterministic (no randomness; ties to the lower page) and independent of the thread count.
 * Immutable and thread-safe.
 */
public final class HipEstimator implements BlockMaskEstimator {
    /** The paper's top-k: 512 key tokens per query block (the paper's default configuration). */
    public static final int PAPER_TOP_K_TOKENS = 512;

    /** How a half (a span of candidate pages) is represented when it is scored. */
    public enum Representative {
        /** The paper's rule: the first valid key of the half's first page. */
        FIRST_KEY(1, 1),
        /**
         * A variant (not the paper's): the max over the first, middle and last valid keys of the
         * half's first, middle and last pages (see the class docs).
         */
        SAMPLED(3, 3),
        /**
         * A variant (not the paper's): the mean of every valid key of the half's pages (see the
         * class docs).
         */
        MEAN(1, 1),
        /**
         * A variant (not the paper's): Quest's per-channel bound of the half's keys (see the class
         * docs).
         */
        BOUND(1, 1);

        /** Pages of a half that are scored (1: its first; 3: first, middle, last). */
        final int pagesPerHalf;
        /** Keys of a page that are scored (1: its first valid; 3: first, middle, last valid). */
        final int keysPerPage;

        Representative(int pagesPerHalf, int keysPerPage) {
            this.pagesPerHalf = pagesPerHalf;
            this.keysPerPage = keysPerPage;
        }
    }

    private final int topKTokens;
    private final Representative representative;

    /** HiP with the paper's {@code k = 512} tokens per query block. */
    public HipEstimator() {
        this(PAPER_TOP_K_TOKENS);
    }

    /**
     * HiP keeping about {@code topKTokens} tokens per query block ({@code ceil(topKTokens / pageSize)}
     * pages besides the forced sink and diagonal pages).
     *
     * @throws IllegalArgumentException when {@code topKTokens < 1}
     */
    public HipEstimator(int topKTokens) {
        this(topKTokens, Representative.FIRST_KEY);
    }

    /**
     * HiP keeping about {@code topKTokens} tokens per query block, scoring halves by the given
     * representative ({@link Representative#FIRST_KEY} is the paper's rule).
     *
     * @throws IllegalArgumentException when {@code topKTokens < 1}
     * @throws NullPointerException when {@code representative} is null
     */
    public HipEstimator(int topKTokens, Representative representative) {
        if (topKTokens < 1) {
            throw new IllegalArgumentException("hip: top-k must be at least 1 token, got " + topKTokens);
        }
        this.topKTokens = topKTokens;
        this.representative = java.util.Objects.requireNonNull(representative, "representative");
    }

    /** How halves are represented when scored. */
    public Representative representative() {
        return representative;
    }

    /** The configured top-k in tokens. */
    public int topKTokens() {
        return topKTokens;
    }

    /** Pages kept by the hierarchy for a page size: {@code ceil(topKTokens / pageSize)}. */
    public int topKPages(int pageSize) {
        return (int) Math.max(1, ((long) topKTokens + pageSize - 1) / pageSize);
    }

    @Override
    public String name() {
        return representative == Representative.FIRST_KEY ? "hip(k=" + topKTokens + ")"
                : "hip(k=" + topKTokens + ", " + representative.name().toLowerCase(java.util.Locale.ROOT) + ")";
    }

    @Override
    public BlockMask estimate(AttentionProblem p, TensorOps ops) {
        BlockMask.Builder out = BlockMask.builder(p);
        int heads = p.kvHeads();
        int bq = out.queryBlockTokens();
        int blocks = out.queryBlocks();
        if (blocks == 0) {
            return out.build();
        }
        int kPages = topKPages(p.kv()[0].pageSize());
        HeadKeys[] keys = new HeadKeys[heads];
        ops.pool().parallelFor(heads, h -> keys[h] = new HeadKeys(p.kv()[h], ops.kernels(), representative));
        ops.pool().parallelFor(heads * blocks, t -> {
            int h = t / blocks;
            int b = t % blocks;
            int first = b * bq;
            int last = Math.min(p.queryRows(), first + bq);
            new BlockSearch(p, ops.kernels(), keys[h], h, first, last, kPages, representative).run(out, b);
        });
        return out.build();
    }

    /**
     * Every page's representative keys ({@code r} per page: its first valid key, or its first,
     * middle and last valid keys), dequantised once per KV head.
     */
    static final class HeadKeys {
        final KvView view;
        /** Representative keys per page (1 or 3; a page with fewer valid keys repeats one). */
        final int r;
        /** Non-empty pages with a valid key, in view order. */
        final int[] page;
        final long[] lo;
        final long[] hi;
        /** {@code [pages][r]} positions of each page's representatives. */
        final long[] repPos;
        /** {@code [pages][r][D]} representative keys. */
        final float[] rep;
        /** {@code [pages + 1][D]} prefix sums of every valid key of the pages before, or null (MEAN only). */
        final double[] prefix;
        /** {@code [pages + 1]} prefix counts of valid keys, or null (MEAN only). */
        final long[] prefixCount;
        /** {@code [pages][D]} per-channel minimum of each page's valid keys, or null (BOUND only). */
        final float[] boundMin;
        /** {@code [pages][D]} per-channel maximum of each page's valid keys, or null (BOUND only). */
        final float[] boundMax;

        HeadKeys(KvView view, VectorKernels k, Representative how) {
            this.view = view;
            this.r = how.keysPerPage;
            int d = view.headDim();
            int n = 0;
            int[] pg = new int[view.pageCount()];
            int[] slot = new int[view.pageCount() * r];
            int[] valid = new int[view.pageSize()];
            for (int p = 0; p < view.pageCount(); p++) {
                int c = 0;
                for (int s = 0; s < view.pageLength(p); s++) {
                    if (view.isValid(p, s)) {
                        valid[c++] = s;
                        if (r == 1) {
                            break;
                        }
                    }
                }
                if (c == 0) {
                    continue;
                }
                pg[n] = p;
                slot[n * r] = valid[0];
                if (r == 3) {
                    slot[n * r + 1] = valid[(c - 1) / 2];
                    slot[n * r + 2] = valid[c - 1];
                }
                n++;
            }
            page = Arrays.copyOf(pg, n);
            lo = new long[n];
            hi = new long[n];
            repPos = new long[n * r];
            rep = new float[n * r * d];
            for (int i = 0; i < n; i++) {
                lo[i] = view.pageMinPosition(page[i]);
                hi[i] = view.pageMaxPosition(page[i]);
                for (int j = 0; j < r; j++) {
                    int s = slot[i * r + j];
                    repPos[i * r + j] = view.position(page[i], s);
                    k.dequantize(view.dtype(), view.keys(page[i]), s * view.rowBytes(), rep, (i * r + j) * d, d);
                }
            }
            boolean sums = how == Representative.MEAN;
            boolean bounds = how == Representative.BOUND;
            prefix = sums ? new double[(n + 1) * d] : null;
            prefixCount = sums ? new long[n + 1] : null;
            boundMin = bounds ? new float[n * d] : null;
            boundMax = bounds ? new float[n * d] : null;
            if (!sums && !bounds) {
                return;
            }
            if (bounds) {
                Arrays.fill(boundMin, Float.POSITIVE_INFINITY);
                Arrays.fill(boundMax, Float.NEGATIVE_INFINITY);
            }
            float[] key = new float[d];
            for (int i = 0; i < n; i++) { // every valid key of every page, once
                if (sums) {
                    System.arraycopy(prefix, i * d, prefix, (i + 1) * d, d);
                    prefixCount[i + 1] = prefixCount[i];
                }
                for (int s = 0; s < view.pageLength(page[i]); s++) {
                    if (!view.isValid(page[i], s)) {
                        continue;
                    }
                    k.dequantize(view.dtype(), view.keys(page[i]), s * view.rowBytes(), key, 0, d);
                    for (int c = 0; c < d; c++) {
                        if (sums) {
                            prefix[(i + 1) * d + c] += key[c];
                        } else {
                            boundMin[i * d + c] = Math.min(boundMin[i * d + c], key[c]);
                            boundMax[i * d + c] = Math.max(boundMax[i * d + c], key[c]);
                        }
                    }
                    if (sums) {
                        prefixCount[i + 1]++;
                    }
                }
            }
        }
    }

    /** The hierarchical search of one (KV head, query block). */
    private static final class BlockSearch {
        private final AttentionProblem p;
        private final VectorKernels k;
        private final HeadKeys keys;
        private final int kvHead;
        private final int firstRow;
        private final int endRow;
        private final int kPages;
        /** Pages scored per half: 1 (its first) or 3 (first, middle, last). */
        private final int pagesPerHalf;
        /** Halves scored by their mean key ({@link Representative#MEAN}). */
        private final boolean mean;
        /** Halves scored by Quest's bound ({@link Representative#BOUND}). */
        private final boolean bound;
        /** The block's queries split as {@code [max(q, 0), min(q, 0)]} per row (BOUND only). */
        private float[] qSplit;
        /** Candidate index -> index into {@link HeadKeys}. */
        private int[] cand;
        private float[] memo;
        private boolean[] known;
        /** The block's queries, packed on first use (see {@link #packQueries}). */
        private float[] qPack;

        BlockSearch(AttentionProblem p, VectorKernels k, HeadKeys keys, int kvHead, int firstRow, int endRow, int kPages,
                    Representative how) {
            this.p = p;
            this.mean = how == Representative.MEAN;
            this.bound = how == Representative.BOUND;
            this.pagesPerHalf = how.pagesPerHalf;
            this.k = k;
            this.keys = keys;
            this.kvHead = kvHead;
            this.firstRow = firstRow;
            this.endRow = endRow;
            this.kPages = kPages;
        }

        void run(BlockMask.Builder out, int b) {
            long qLo = Long.MAX_VALUE;
            long qHi = Long.MIN_VALUE;
            for (int i = firstRow; i < endRow; i++) {
                qLo = Math.min(qLo, p.queryPositions()[i]);
                qHi = Math.max(qHi, p.queryPositions()[i]);
            }
            int n = keys.page.length;
            int[] cand = new int[n];
            int count = 0;
            int firstAttendable = -1;
            int lastAttendable = -1;
            for (int i = 0; i < n; i++) {
                if (p.mask().mayAttend(qLo, qHi, keys.lo[i], keys.hi[i])) {
                    if (firstAttendable < 0) {
                        firstAttendable = i;
                    }
                    lastAttendable = i;
                }
            }
            if (firstAttendable < 0) {
                return;
            }
            for (int i = firstAttendable; i <= lastAttendable; i++) {
                if (!p.mask().mayAttend(qLo, qHi, keys.lo[i], keys.hi[i])) {
                    continue;
                }
                if (i == firstAttendable || i == lastAttendable || keys.hi[i] >= qLo) {
                    out.keep(kvHead, b, keys.page[i]); // forced: sink and diagonal
                } else {
                    cand[count++] = i;
                }
            }
            if (count <= kPages) {
                for (int c = 0; c < count; c++) {
                    out.keep(kvHead, b, keys.page[cand[c]]);
                }
                return;
            }
            this.cand = cand;
            memo = new float[count];
            known = new boolean[count];
            for (int lo : search(count)) {
                out.keep(kvHead, b, keys.page[cand[lo]]);
            }
        }

        /** The hierarchy over candidate indices {@code [0, n)}; returns the kept single-page spans' starts. */
        private int[] search(int n) {
            // spans as parallel arrays (start, end); kPages initial equal spans
            int[] lo = new int[kPages];
            int[] hi = new int[kPages];
            HipSpans.initial(n, kPages, lo, hi);
            int spans = kPages;
            int[] cLo = new int[2 * kPages];
            int[] cHi = new int[2 * kPages];
            double[] score = new double[2 * kPages];
            while (true) {
                int c = HipSpans.halve(lo, hi, spans, cLo, cHi);
                if (c < 0) {
                    return Arrays.copyOf(lo, spans);
                }
                scoreChildren(cLo, cHi, c, score);
                // children are in increasing candidate order, so index ties go to the lower span
                int[] keep = TopK.indices(Arrays.copyOf(score, c), kPages, s -> true);
                spans = keep.length;
                for (int i = 0; i < spans; i++) {
                    lo[i] = cLo[keep[i]];
                    hi[i] = cHi[keep[i]];
                }
            }
        }

        /**
         * Scores the children {@code cLo[0, c)} not scored before (a first half keeps its parent's
         * representative): their representatives gathered into one matrix and multiplied with the
         * block's packed queries in one {@link VectorKernels#matmulRows} call (F32), instead of a
         * dot product (and its horizontal sum) per query, head and representative; then each
         * child's score is the max over the queries that may see it (see {@link #scoreOf}).
         */
        private void scoreChildren(int[] cLo, int[] cHi, int c, double[] score) {
            int d = p.headDim();
            int g = p.groupSize();
            int r = keys.r;
            if (qPack == null) {
                packQueries(d, g);
            }
            if (mean) {
                scoreMeans(cLo, cHi, c, score, d, g);
                return;
            }
            if (bound) {
                scoreBounds(cLo, cHi, c, score, d, g);
                return;
            }
            int[] todo = new int[c * pagesPerHalf];
            int u = 0;
            for (int i = 0; i < c; i++) {
                for (int j = 0; j < pagesPerHalf; j++) {
                    int pg = samplePage(cLo[i], cHi[i], j);
                    if (!known[pg]) {
                        todo[u++] = pg;
                        known[pg] = true; // children are disjoint, and a child's samples are checked here
                    }
                }
            }
            if (u > 0) {
                int rows = u * r;
                float[] reps = new float[rows * d];
                for (int i = 0; i < u; i++) {
                    System.arraycopy(keys.rep, cand[todo[i]] * r * d, reps, i * r * d, r * d);
                }
                int tokens = (endRow - firstRow) * g;
                float[] s = new float[tokens * rows];
                k.matmulRows(DType.F32, MemorySegment.ofArray(reps), (long) d * Float.BYTES, d, 0, rows, qPack, tokens, s, rows);
                for (int i = 0; i < u; i++) {
                    float best = Float.NEGATIVE_INFINITY;
                    for (int j = 0; j < r; j++) {
                        best = Math.max(best, scoreOf(s, i * r + j, rows, keys.repPos[cand[todo[i]] * r + j], g)); // NaN wins
                    }
                    memo[todo[i]] = best;
                }
            }
            for (int i = 0; i < c; i++) {
                float best = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < pagesPerHalf; j++) {
                    best = Math.max(best, memo[samplePage(cLo[i], cHi[i], j)]); // NaN wins
                }
                score[i] = best;
            }
        }

        /**
         * MEAN's and BOUND's last step: row {@code i} of {@code reps} (width {@code w}) stands for child
         * {@code i}; one product with the block's {@code tokens} query rows {@code q}, then each child's
         * score is the max over the queries that may see its first page's representative.
         */
        private void scoreOneRowPerChild(float[] reps, int w, float[] q, int tokens, int[] cLo, int c, double[] score, int g) {
            float[] s = new float[tokens * c];
            k.matmulRows(DType.F32, MemorySegment.ofArray(reps), (long) w * Float.BYTES, w, 0, c, q, tokens, s, c);
            for (int i = 0; i < c; i++) {
                score[i] = scoreOf(s, i, c, keys.repPos[cand[cLo[i]]], g);
            }
        }

        /** {@link Representative#BOUND}: every child's Quest bound, scored in one matrix product. */
        private void scoreBounds(int[] cLo, int[] cHi, int c, double[] score, int d, int g) {
            int tokens = (endRow - firstRow) * g;
            if (qSplit == null) {
                qSplit = new float[tokens * 2 * d];
                for (int t = 0; t < tokens; t++) {
                    for (int x = 0; x < d; x++) {
                        float q = qPack[t * d + x];
                        qSplit[t * 2 * d + x] = Math.max(q, 0f);
                        qSplit[t * 2 * d + d + x] = Math.min(q, 0f);
                    }
                }
            }
            float[] reps = new float[c * 2 * d];
            for (int i = 0; i < c; i++) {
                int o = i * 2 * d;
                Arrays.fill(reps, o, o + d, Float.NEGATIVE_INFINITY);
                Arrays.fill(reps, o + d, o + 2 * d, Float.POSITIVE_INFINITY);
                for (int j = cLo[i]; j < cHi[i]; j++) {
                    int pg = cand[j] * d;
                    for (int x = 0; x < d; x++) {
                        reps[o + x] = Math.max(reps[o + x], keys.boundMax[pg + x]);
                        reps[o + d + x] = Math.min(reps[o + d + x], keys.boundMin[pg + x]);
                    }
                }
            }
            scoreOneRowPerChild(reps, 2 * d, qSplit, tokens, cLo, c, score, g);
        }

        /** {@link Representative#MEAN}: every child's mean key, scored in one matrix product. */
        private void scoreMeans(int[] cLo, int[] cHi, int c, double[] score, int d, int g) {
            float[] reps = new float[c * d];
            double[] sum = new double[d];
            for (int i = 0; i < c; i++) {
                int a = cand[cLo[i]];
                int z = cand[cHi[i] - 1];
                long count;
                if (z - a == cHi[i] - 1 - cLo[i]) { // consecutive pages: one prefix difference
                    for (int x = 0; x < d; x++) {
                        sum[x] = keys.prefix[(z + 1) * d + x] - keys.prefix[a * d + x];
                    }
                    count = keys.prefixCount[z + 1] - keys.prefixCount[a];
                } else {
                    Arrays.fill(sum, 0);
                    count = 0;
                    for (int j = cLo[i]; j < cHi[i]; j++) {
                        int pg = cand[j];
                        for (int x = 0; x < d; x++) {
                            sum[x] += keys.prefix[(pg + 1) * d + x] - keys.prefix[pg * d + x];
                        }
                        count += keys.prefixCount[pg + 1] - keys.prefixCount[pg];
                    }
                }
                for (int x = 0; x < d; x++) {
                    reps[i * d + x] = (float) (sum[x] / count);
                }
            }
            scoreOneRowPerChild(reps, d, qPack, (endRow - firstRow) * g, cLo, c, score, g);
        }

        /** The {@code j}-th scored page of the half {@code [lo, hi)}: its first, middle or last. */
        private int samplePage(int lo, int hi, int j) {
            return j == 0 ? lo : j == 1 ? lo + (hi - lo - 1) / 2 : hi - 1;
        }

        /** The block's queries, row-major: query row {@code r}'s g heads at {@code qPack[((r - firstRow) * g + j) * d]}. */
        private void packQueries(int d, int g) {
            qPack = new float[(endRow - firstRow) * g * d];
            for (int r = firstRow; r < endRow; r++) {
                for (int j = 0; j < g; j++) {
                    System.arraycopy(p.queries(), p.queryIndex(r, kvHead * g + j), qPack, ((r - firstRow) * g + j) * d, d);
                }
            }
        }

        /**
         * Max over the block's queries that may see the representative at {@code kPos} and the
         * group's heads of {@code q . representative} (column {@code col} of the scores {@code s},
         * {@code u} columns); NaN when any of them is NaN ({@link TopK} ranks it as +infinity), minus
         * infinity when no query may see it.
         */
        private float scoreOf(float[] s, int col, int u, long kPos, int g) {
            float best = Float.NEGATIVE_INFINITY;
            for (int r = firstRow; r < endRow; r++) {
                if (!p.mask().allows(p.queryPositions()[r], kPos)) {
                    continue;
                }
                for (int j = 0; j < g; j++) {
                    float v = s[((r - firstRow) * g + j) * u + col];
                    if (v != v) {
                        return v;
                    }
                    best = Math.max(best, v);
                }
            }
            return best;
        }
    }
}
