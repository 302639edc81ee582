package dev.longctx.attention;

import dev.longctx.core.kernels.spi.VectorKernels;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The inner loop of FlashAttention-2 (Dao, 2023) on a CPU: a tile of query rows (some tokens
 * times the g query heads of one KV head) walks the pages of that head's view, keeping per row a
 * running maximum {@code m}, a running sum {@code l} and an unnormalised output {@code O}:
 * {@code m' = max(m, rowmax S)}, {@code l' = l e^{m-m'} + sum e^{S-m'}},
 * {@code O' = O e^{m-m'} + e^{S-m'} V}. Pages the mask excludes for every row are skipped without
 * being read; pages it includes for every row skip the per-element mask.
 *
 * <p>Two layouts of a page's logits S: decode tiles (fewer than {@link #PACKED_MIN_ROWS} rows)
 * keep them row-major, {@code s[row * n + slot]}, and run the softmax row by row; prefill tiles
 * keep them key-major, {@code s[slot * qStride + row]}, as the outer-product kernel produces them
 * ({@link VectorKernels#matmulRowsTransposedT}), and run the softmax across rows
 * ({@link VectorKernels#onlineSoftmaxColumns}) and P.V from the transposed probabilities
 * ({@link VectorKernels#weightedRowSumsT}).
 *
 * <p>Decode tiles fold every page that needs no mask (all slots valid and visible to every row, no
 * soft cap: all but the causal diagonal of a few-row chunk and pages with evicted slots) through one
 * fused kernel call, {@link VectorKernels#decodeAttentionPage}: keys and values decoded in L1-sized
 * chunks, the logits, the softmax step and the weighted sums together. The other pages take the
 * general path below (logits of the whole page, mask, softmax, values decoded whole). Pages of an
 * {@link IndexedKvView} (selected rows of the cache, read in place) go through
 * {@link VectorKernels#decodeAttentionRows} instead; that view is only built where every page fuses.
 *
 * <p>Extra memory is O(tile): the packed queries, one page of logits and one decoded value page.
 * Not thread-safe: one instance per thread.
 */
final class OnlineSoftmaxTile {
    /**
     * Tiles of at least this many rows (prefill) compute logits with the outer-product kernel on
     * packed queries; smaller ones (decode: the g heads of one token) would waste most of its
     * 32-row blocks and use the dot-product kernel.
     */
    static final int PACKED_MIN_ROWS = 16;

    private final VectorKernels k;
    private AttentionProblem p;
    private int kvHead;
    private int firstRow;
    private int tokens;
    private int rows;
    private int d;
    private long qLo;
    private long qHi;
    private float[] q = new float[0];
    /** The queries packed for the outer-product kernel (tiles of at least 16 rows), else unused. */
    private float[] qPacked = new float[0];
    private int qStride;
    private float[] s = new float[0];
    private float[] v = new float[0];
    private float[] o = new float[0];
    private float[] m = new float[0];
    private float[] l = new float[0];
    private float[] probs = new float[0];
    /** Per-row rescaling factors of a key-major (prefill) page. */
    private float[] corr = new float[0];
    /** Sum of the bytes {@link #touchNextPage} loads, kept so that the loads are not removed as dead. */
    private int touchedBytes;
    /** Scratch of the fused decode step ({@link VectorKernels#decodeAttentionScratch}). */
    private float[] fusedScratch = new float[0];
    /** Pages folded in by the fused decode step since {@link #reset}. */
    private int fusedPages;
    /** Of those, pages of an {@link IndexedKvView} (rows read by index) since {@link #reset}. */
    private int indexedPages;
    /** Where the logits of each page go ({@link #captureLogits}), or null; cleared by {@link #reset}. */
    private float[] captured;
    private int capturedStride;

    OnlineSoftmaxTile(VectorKernels k) {
        this.k = k;
    }

    /** Starts a tile: query tokens {@code [i0, i1)} with the g heads of KV head {@code kh}. */
    void reset(AttentionProblem problem, int kh, int i0, int i1) {
        this.p = problem;
        this.kvHead = kh;
        this.firstRow = i0;
        this.tokens = i1 - i0;
        int g = problem.groupSize();
        this.rows = tokens * g;
        this.d = problem.headDim();
        int ps = problem.kv()[kh].pageSize();
        int b = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;
        qStride = (rows + b - 1) / b * b;
        q = grow(q, rows * d);
        s = grow(s, (rows >= PACKED_MIN_ROWS ? qStride : rows) * ps);
        corr = grow(corr, rows);
        v = grow(v, ps * d);
        o = grow(o, rows * d);
        m = grow(m, rows);
        l = grow(l, rows);
        probs = grow(probs, ps);
        fusedScratch = grow(fusedScratch, VectorKernels.decodeAttentionScratch(ps, d, rows));
        fusedPages = 0;
        indexedPages = 0;
        captured = null;
        qLo = Long.MAX_VALUE;
        qHi = Long.MIN_VALUE;
        for (int t = 0; t < tokens; t++) {
            long pos = problem.queryPositions()[i0 + t];
            qLo = Math.min(qLo, pos);
            qHi = Math.max(qHi, pos);
            for (int j = 0; j < g; j++) {
                // Pre-scaled so that S = Q K^T are the logits.
                int r = t * g + j;
                System.arraycopy(problem.queries(), problem.queryIndex(i0 + t, kh * g + j), q, r * d, d);
                k.scale(q, r * d, d, problem.scale());
            }
        }
        if (rows >= PACKED_MIN_ROWS) {
            qPacked = grow(qPacked, qStride * d);
            Arrays.fill(qPacked, 0, qStride * d, 0f);
            for (int r = 0; r < rows; r++) {
                int base = (r / b) * b * d + r % b;
                for (int c = 0; c < d; c++) {
                    qPacked[base + c * b] = q[r * d + c];
                }
            }
        }
        Arrays.fill(o, 0, rows * d, 0f);
        Arrays.fill(m, 0, rows, Float.NEGATIVE_INFINITY);
        Arrays.fill(l, 0, rows, 0f);
    }

    /**
     * From now until the next {@link #reset}, {@link #accumulate} also writes the logits it computes
     * (scaled, soft-capped, masked ones -infinity) of tile row {@code r} and key {@code page * pageSize + slot}
     * of the view to {@code logits[r * stride + page * pageSize + slot]}: the same floats
     * {@link VectorKernels#matmulRows} gives for the tile's queries (what {@link TokenSelectAttention}
     * computes in its own pass). Pages the mask excludes for every row are not written. Decode
     * tiles only (fewer than {@link #PACKED_MIN_ROWS} rows) and views read by page (not an
     * {@link IndexedKvView}).
     *
     * @throws IllegalStateException on a prefill tile
     */
    void captureLogits(float[] logits, int stride) {
        if (rows >= PACKED_MIN_ROWS) {
            throw new IllegalStateException("logits are captured on decode tiles only, this tile has " + rows + " rows");
        }
        this.captured = logits;
        this.capturedStride = stride;
    }

    /** Index of (row, slot) in {@code s}: key-major for prefill tiles, row-major for decode tiles. */
    private int at(int row, int slot, int n) {
        return rows >= PACKED_MIN_ROWS ? slot * qStride + row : row * n + slot;
    }

    /**
     * Computes the tile's logits against one page into {@code s} (layout: {@link #at}) with the
     * soft cap and the mask applied (masked: -infinity).
     *
     * @return false when the mask excludes the whole page for every row (nothing computed)
     */
    private boolean logits(KvView view, int page, int n) {
        long kLo = view.pageMinPosition(page);
        long kHi = view.pageMaxPosition(page);
        AttentionMask mask = p.mask();
        if (!mask.mayAttend(qLo, qHi, kLo, kHi)) {
            return false;
        }
        if (rows >= PACKED_MIN_ROWS) {
            k.matmulRowsTransposedT(view.dtype(), view.keys(page), view.rowBytes(), d, 0, n, qPacked, qStride, rows, s,
                    qStride);
        } else {
            k.matmulRows(view.dtype(), view.keys(page), view.rowBytes(), d, 0, n, q, rows, s, n);
        }
        float cap = p.softCap();
        if (cap > 0) {
            float inv = 1f / cap;
            for (int r = 0; r < rows; r++) {
                for (int slot = 0; slot < n; slot++) {
                    int i = at(r, slot, n);
                    s[i] = cap * (float) Math.tanh(s[i] * inv);
                }
            }
        }
        if (!view.allValid(page) || !mask.attendsAll(qLo, qHi, kLo, kHi)) {
            int g = p.groupSize();
            for (int t = 0; t < tokens; t++) {
                long qPos = p.queryPositions()[firstRow + t];
                for (int slot = 0; slot < n; slot++) {
                    if (!view.isValid(page, slot) || !mask.allows(qPos, view.position(page, slot))) {
                        for (int j = 0; j < g; j++) {
                            s[at(t * g + j, slot, n)] = Float.NEGATIVE_INFINITY;
                        }
                    }
                }
            }
        }
        return true;
    }

    /**
     * Folds one page of the tile's KV head into the running state.
     *
     * @param next the page the caller folds in after this one, or -1: its first lines are loaded
     *     early ({@link #touchNextPage}) unless the mask excludes it
     */
    void accumulate(int page, int next) {
        KvView view = p.kv()[kvHead];
        if (fusable(view, page)) {
            if (view instanceof IndexedKvView iv) {
                // Selected rows read in place by index: no dense page exists (IndexedKvView).
                k.decodeAttentionRows(view.dtype(), iv.keyPages(), iv.valuePages(), iv.pageOf(), iv.slotOf(),
                        page * view.pageSize(), view.pageLength(page), view.rowBytes(), d, q, rows, m, l, o, fusedScratch);
                fusedPages++;
                indexedPages++;
                return;
            }
            // No early touch of the next page here: with the page decoded in L1-sized chunks the
            // touches cost more than they saved (split-K at 16K, one thread: 30-38 ms without
            // them, 40 ms with them, same session, 2026-12-07).
            if (captured != null) {
                k.decodeAttentionPageLogits(view.dtype(), view.keys(page), view.values(page), view.rowBytes(),
                        view.pageLength(page), d, q, rows, m, l, o, fusedScratch, captured, page * view.pageSize(),
                        capturedStride);
            } else {
                k.decodeAttentionPage(view.dtype(), view.keys(page), view.values(page), view.rowBytes(),
                        view.pageLength(page), d, q, rows, m, l, o, fusedScratch);
            }
            fusedPages++;
            return;
        }
        int n = view.pageLength(page);
        touchNextPage(view, next);
        if (n == 0 || !logits(view, page, n)) {
            return;
        }
        if (captured != null) {
            // Decode tile (captureLogits): row-major logits, soft cap and mask applied.
            for (int r = 0; r < rows; r++) {
                System.arraycopy(s, r * n, captured, r * capturedStride + page * view.pageSize(), n);
            }
        }
        if (rows >= PACKED_MIN_ROWS) {
            if (!k.onlineSoftmaxColumns(s, 0, qStride, n, rows, m, l, corr)) {
                return;
            }
            for (int r = 0; r < rows; r++) {
                if (corr[r] != 1f) {
                    k.scale(o, r * d, d, corr[r]);
                }
            }
            k.dequantize(view.dtype(), view.values(page), 0, v, 0, n * d);
            k.weightedRowSumsT(s, 0, qStride, rows, n, v, 0, d, o, 0);
            return;
        }
        boolean any = false;
        for (int r = 0; r < rows; r++) {
            int so = r * n;
            float mx = k.max(s, so, n);
            if (mx == Float.NEGATIVE_INFINITY) {
                // Nothing visible to this row in this page: its probabilities are all 0 below.
                java.util.Arrays.fill(s, so, so + n, 0f);
                continue;
            }
            float mNew = Math.max(m[r], mx);
            // exp(0) = 1 exactly, so an unchanged maximum (most pages once the first few have set
            // it) skips the scalar exp call with a bit-identical result.
            float corr = m[r] == Float.NEGATIVE_INFINITY ? 0f : m[r] == mNew ? 1f : (float) Math.exp(m[r] - mNew);
            float sum = k.expShiftSum(s, so, n, mNew);
            if (corr != 1f) {
                k.scale(o, r * d, d, corr);
            }
            l[r] = l[r] * corr + sum;
            m[r] = mNew;
            any = true;
        }
        if (any) {
            // P.V for the whole tile at once: each decoded value row serves every query row.
            k.dequantize(view.dtype(), view.values(page), 0, v, 0, n * d);
            k.weightedRowSums(s, 0, n, rows, n, v, 0, d, o, 0);
        }
    }

    /**
     * Whether a page goes through the fused decode step ({@link VectorKernels#decodeAttentionPage}):
     * a decode tile (fewer than {@link #PACKED_MIN_ROWS} rows), no soft cap, and a page whose every
     * slot is valid and visible to every row of the tile, so that no logit needs a mask. Pages that
     * need one (the causal diagonal of a few-row chunk, invalid slots) take the general path.
     */
    private boolean fusable(KvView view, int page) {
        if (rows >= PACKED_MIN_ROWS || p.softCap() > 0 || view.pageLength(page) == 0) {
            return false;
        }
        return view.allValid(page)
                && p.mask().attendsAll(qLo, qHi, view.pageMinPosition(page), view.pageMaxPosition(page));
    }

    /** Pages folded in by the fused decode step since the last {@link #reset}. */
    int fusedPages() {
        return fusedPages;
    }

    /** Pages of an {@link IndexedKvView} folded in (rows read by index) since the last {@link #reset}. */
    int indexedPages() {
        return indexedPages;
    }

    /**
     * Loads two cache lines at the start of each half of the next page's keys and of its values
     * (4 KiB halves for F16 pages of 64 x 64), so that their four sequential streams start in
     * parallel, while this page is computed, instead of one after another as the kernels reach
     * them. Java has no prefetch instruction; these are ordinary loads whose values are kept in
     * {@link #touchedBytes}. It pays where consecutive pages are apart in memory (a Quest selection):
     * split-K over a scattered selection of 64 of 1024 pages per head, 30 layers of the SmolLM2
     * shape, median 12.1 -> 11.0 ms; over contiguous pages and the full cache within noise (one
     * line per stream, or lines every 512 B of the next page, did less). Only small tiles (decode:
     * the g heads of one token) touch: their compute per page is short next to the page's reads,
     * while a prefill tile computes long enough on each page for the streams to start on their own
     * (and then reads each kept page exactly once). A page the mask excludes for every row is not
     * touched: excluded pages are never read. Only pages folded by the general path touch their
     * next page; the fused step does not (see {@link #accumulate}).
     */
    private void touchNextPage(KvView view, int next) {
        if (next < 0 || rows >= PACKED_MIN_ROWS || view.pageLength(next) == 0
                || !p.mask().mayAttend(qLo, qHi, view.pageMinPosition(next), view.pageMaxPosition(next))) {
            return;
        }
        touchedBytes += touchHalves(view.keys(next)) + touchHalves(view.values(next));
    }

    private static final long CACHE_LINE = 64;

    private static int touchHalves(MemorySegment segment) {
        long size = segment.byteSize();
        long half = size / 2;
        if (half < 2 * CACHE_LINE) {
            return 0; // a small page: the kernels' own first loads start its only stream
        }
        return segment.get(ValueLayout.JAVA_BYTE, 0) + segment.get(ValueLayout.JAVA_BYTE, CACHE_LINE)
                + segment.get(ValueLayout.JAVA_BYTE, half) + segment.get(ValueLayout.JAVA_BYTE, half + CACHE_LINE);
    }

    /** Normalises: O /= l, and turns (m, l) into the log-sum-exp; empty rows get O = 0, -inf. */
    void finish() {
        for (int r = 0; r < rows; r++) {
            if (l[r] == 0f) {
                Arrays.fill(o, r * d, r * d + d, 0f);
                m[r] = Float.NEGATIVE_INFINITY;
            } else {
                k.scale(o, r * d, d, 1f / l[r]);
                m[r] = m[r] + (float) Math.log(l[r]);
            }
        }
    }

    /** Row count of the tile (tokens x g). */
    int rows() {
        return rows;
    }

    /** Normalised output of tile row r (after {@link #finish}). */
    float[] output() {
        return o;
    }

    /** Log-sum-exp of each tile row (after {@link #finish}). */
    float[] lse() {
        return m;
    }

    /** Writes the finished rows into the problem's output layout. */
    void write(float[] out, float[] lseOut) {
        int g = p.groupSize();
        for (int t = 0; t < tokens; t++) {
            for (int j = 0; j < g; j++) {
                int r = t * g + j;
                int h = kvHead * g + j;
                System.arraycopy(o, r * d, out, ((firstRow + t) * p.queryHeads() + h) * d, d);
                if (lseOut != null) {
                    lseOut[(firstRow + t) * p.queryHeads() + h] = m[r];
                }
            }
        }
    }

    /**
     * Reports the exact probabilities of one page to the observer, given each tile row's final
     * log-sum-exp in {@code rowLse} (indexed like the tile's rows).
     */
    void observe(int page, float[] rowLse, AttentionObserver observer) {
        KvView view = p.kv()[kvHead];
        int n = view.pageLength(page);
        if (n == 0) {
            return;
        }
        int g = p.groupSize();
        boolean any = logits(view, page, n);
        if (any && rows >= PACKED_MIN_ROWS) {
            // All rows' probabilities at once, vectorised across rows; with a scalar exp per row
            // and slot, H2O's prefill at depth 4K ran at 255 instead of 343 tok/s. A row whose
            // log-sum-exp is -infinity saw no key, so its logits are -infinity and come out 0.
            k.expShiftColumns(s, 0, qStride, n, rows, rowLse);
            for (int r = 0; r < rows; r++) {
                for (int slot = 0; slot < n; slot++) {
                    probs[slot] = s[slot * qStride + r];
                }
                observer.observe(firstRow + r / g, kvHead * g + r % g, kvHead, page, probs, n);
            }
            return;
        }
        // Row-major (decode tiles): each row's probabilities through the vector exponential of
        // expShiftSum (masked logits, -infinity, give 0); a row that sees no key at all gets 0.
        for (int r = 0; r < rows; r++) {
            if (!any || rowLse[r] == Float.NEGATIVE_INFINITY) {
                Arrays.fill(probs, 0, n, 0f);
            } else {
                System.arraycopy(s, r * n, probs, 0, n);
                k.expShiftSum(probs, 0, n, rowLse[r]);
            }
            observer.observe(firstRow + r / g, kvHead * g + r % g, kvHead, page, probs, n);
        }
    }

    private static float[] grow(float[] a, int n) {
        return a.length >= n ? a : new float[Math.max(n, a.length * 2)];
    }
}
