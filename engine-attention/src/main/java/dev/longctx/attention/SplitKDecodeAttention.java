package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * Decode attention with the KV sequence split across threads: flash-decoding (Dao et al., 2023)
 * with stream-K style work units as in Lean Attention (Sanovar et al., 2024).
 *
 * <p>The (KV head, page) space of all heads is flattened and cut into equal work units
 * ({@link #units}: at least {@link #MIN_UNIT_PAGES} pages each, at most {@link #MAX_UNITS}); a unit
 * may cross a head boundary, in which case it is split into one segment per head.
 * Each segment computes the partial state (normalised output, log-sum-exp) of all query rows of its
 * head's g query heads over its pages, reading every K/V byte once per group; the segments of a
 * head are then merged in page order with {@link PartialState#merge}. The cut depends only on the
 * problem size, so results are bit-identical for any thread count.
 *
 * <p>Exact (equal to {@link NaiveAttention} up to f32 rounding). Time O(Lk * D * Hq * Lq), extra
 * memory O(MAX_UNITS * Lq * g * D). Meant for decode (a few query rows); when a head's query tile would
 * exceed {@link TiledAttention#TILE_ROWS} rows it delegates to {@link TiledAttention}.
 */
public final class SplitKDecodeAttention implements AttentionKernel {
    /**
     * Fewest pages in a work unit. Each unit starts a new memory stream and ends in a partial state
     * to merge; units of 3 pages (a 4K SmolLM2 context cut into 64) cost about 10% against units of
     * 12 or 24 (30 layers x 3 KV heads x 64 dims, F16 pages of 64, 2 threads, best of 50 in one
     * process: 9.6 ms against 8.6 ms). With this minimum, inside the whole-model decode (old and new
     * cut alternating in one process): attention 9.65 -> 8.82 ms per token at 4K, and 3.39 -> 2.74
     * ms at 1K, where 6 units replace the tiled kernel's one task per KV head (2026-11-26).
     */
    static final int MIN_UNIT_PAGES = 8;

    /**
     * Most work units per call: enough to keep 2..16 threads busy with uneven heads, few enough that
     * merging costs nothing (at 16K: 32 units 30.2 ms, 24 units 29.5 ms, 64 units 31.2 ms, same
     * set-up). The count depends on the problem size only, never on the thread count.
     */
    static final int MAX_UNITS = 32;

    private final TensorOps ops;
    private final TiledAttention fallback;
    private final ThreadLocal<OnlineSoftmaxTile> tiles;
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);
    /** Pages folded in by the fused decode step ({@link OnlineSoftmaxTile}), over this kernel's life. */
    private final java.util.concurrent.atomic.LongAdder fusedPages = new java.util.concurrent.atomic.LongAdder();
    /** Pages of {@link IndexedKvView}s folded in by the fused step, over this kernel's life. */
    private final java.util.concurrent.atomic.LongAdder indexedPages = new java.util.concurrent.atomic.LongAdder();

    /** A kernel running on the given kernels and pool. */
    public SplitKDecodeAttention(TensorOps ops) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.fallback = new TiledAttention(ops);
        this.tiles = ThreadLocal.withInitial(() -> new OnlineSoftmaxTile(ops.kernels()));
    }

    @Override
    public String name() {
        return "split-k";
    }

    /**
     * Pages this kernel has folded in through the fused decode step (page decode, logits, softmax
     * and weighted sums in one kernel call, {@link dev.longctx.core.kernels.spi.VectorKernels#decodeAttentionPage})
     * since it was made: tests assert the fast path ran.
     */
    long fusedPages() {
        return fusedPages.sum();
    }

    /** Pages of {@link IndexedKvView}s (selected rows read in place by index) folded in here or by the tiled fallback. */
    long indexedPages() {
        return indexedPages.sum() + fallback.indexedPages();
    }

    /** Work units for {@code totalPages} pages of all heads together; below 2 the tiled kernel runs instead. */
    static int units(int totalPages) {
        return Math.min(MAX_UNITS, totalPages / MIN_UNIT_PAGES);
    }

    /** The segments of the stream-K cut, in (head, page) order, each {head, pageFrom, pageTo}. */
    static List<int[]> cut(int[] pagesPerHead, int units) {
        int[][] segs = new int[3][units + pagesPerHead.length];
        int n = cut(pagesPerHead, pagesPerHead.length, units, segs[0], segs[1], segs[2]);
        List<int[]> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(new int[] {segs[0][i], segs[1][i], segs[2][i]});
        }
        return out;
    }

    /**
     * The stream-K cut of the first {@code heads} entries of {@code pagesPerHead} into {@code units}
     * work units, written as segments (a unit that crosses a head boundary becomes one segment per
     * head) into the arrays, which hold at least {@code units + heads} entries. Returns the count.
     */
    static int cut(int[] pagesPerHead, int heads, int units, int[] segHead, int[] segFrom, int[] segTo) {
        long total = 0;
        for (int h = 0; h < heads; h++) {
            total += pagesPerHead[h];
        }
        int n = 0;
        if (total == 0) {
            return 0;
        }
        long unit = Math.max(1, (total + units - 1) / units);
        int head = 0;
        long headStart = 0;
        for (long u = 0; u < total; u += unit) {
            long end = Math.min(total, u + unit);
            long pos = u;
            while (pos < end) {
                while (pos >= headStart + pagesPerHead[head]) {
                    headStart += pagesPerHead[head];
                    head++;
                }
                long segEnd = Math.min(end, headStart + pagesPerHead[head]);
                segHead[n] = head;
                segFrom[n] = (int) (pos - headStart);
                segTo[n] = (int) (segEnd - headStart);
                n++;
                pos = segEnd;
            }
        }
        return n;
    }

    /**
     * What one call needs besides the tiles, kept per calling thread and grown as needed, so a
     * decode step allocates nothing here. It is also the pool task: the fields are written by the
     * calling thread before {@code parallelFor} publishes them to the workers; each task writes
     * only its own segment's rows.
     */
    private final class Scratch implements java.util.function.IntConsumer {
        int[] pagesPerHead = new int[0];
        int[] segHead = new int[0];
        int[] segFrom = new int[0];
        int[] segTo = new int[0];
        float[][] segOut = new float[0][];
        float[][] segLse = new float[0][];
        float[][] headOut = new float[0][];
        float[][] headLse = new float[0][];
        /** The call in flight; cleared after it so no problem is kept alive. */
        AttentionProblem problem;
        AttentionObserver observer;
        /** Per KV head, where the call's logits go ({@link #attendCapturingLogits}), or null. */
        float[][] capture;
        int lq;
        int rows;
        int d;
        boolean observing;
        boolean busy;

        void size(int hkv, int segments, int rows, int d) {
            if (pagesPerHead.length < hkv) {
                pagesPerHead = new int[hkv];
            }
            if (segHead.length < segments) {
                segHead = new int[segments];
                segFrom = new int[segments];
                segTo = new int[segments];
            }
            segOut = grow(segOut, segments, rows * d);
            segLse = grow(segLse, segments, rows);
            headOut = grow(headOut, hkv, rows * d);
            headLse = grow(headLse, hkv, rows);
        }

        private static float[][] grow(float[][] a, int count, int length) {
            float[][] out = a.length >= count ? a : Arrays.copyOf(a, count);
            for (int i = 0; i < count; i++) {
                if (out[i] == null || out[i].length < length) {
                    out[i] = new float[length];
                }
            }
            return out;
        }

        @Override
        public void accept(int i) {
            OnlineSoftmaxTile tile = tiles.get();
            tile.reset(problem, segHead[i], 0, lq);
            int to = segTo[i];
            if (observing) {
                for (int page = segFrom[i]; page < to; page++) {
                    tile.observe(page, headLse[segHead[i]], observer);
                }
                return;
            }
            if (capture != null) {
                KvView view = problem.kv()[segHead[i]];
                tile.captureLogits(capture[segHead[i]], view.pageCount() * view.pageSize());
            }
            for (int page = segFrom[i]; page < to; page++) {
                tile.accumulate(page, page + 1 < to ? page + 1 : -1);
            }
            fusedPages.add(tile.fusedPages());
            indexedPages.add(tile.indexedPages());
            tile.finish();
            System.arraycopy(tile.output(), 0, segOut[i], 0, rows * d);
            System.arraycopy(tile.lse(), 0, segLse[i], 0, rows);
        }
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        attend(p, out, lse, observer, null);
    }

    /**
     * {@link #attend} of a decode step (one query row) that also writes the logits it computes
     * while attending: for KV head {@code kh} with pages of {@code ps} slots, query head
     * {@code kh * g + j}'s logit of key {@code page * ps + slot} (scaled, soft-capped; keys the
     * mask hides -infinity) goes to {@code logits[kh][j * pageCount * ps + page * ps + slot]}, so
     * {@code logits[kh]} holds at least {@code g * pageCount * ps} floats. Pages the mask excludes
     * for the query are not written. These are the floats {@link TokenSelectAttention} computes in
     * a pass of its own ({@link dev.longctx.core.kernels.spi.VectorKernels#matmulRows} on the
     * scaled query): a recording step ({@link RecordingAttention}) takes them from here instead of
     * reading every key a second time.
     *
     * @return false, having attended nothing, when the call would not run split-K's decode tiles
     *     over pages (several query rows, a group of {@link OnlineSoftmaxTile#PACKED_MIN_ROWS} or
     *     more, a cache too small for two work units, a view read by index) or has a soft cap (its
     *     {@code Math.tanh} may differ by an ulp between a method's interpreted and compiled code,
     *     so capped logits of two passes need not be the same floats): the caller attends and
     *     scores by other means
     */
    boolean attendCapturingLogits(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer, float[][] logits) {
        return attend(p, out, lse, observer, Objects.requireNonNull(logits, "logits"));
    }

    /** {@link #attend}, capturing logits when {@code capture} is non-null; false when it could not (nothing done). */
    private boolean attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer, float[][] capture) {
        AttentionKernel.checkOutputs(p, out, lse);
        int lq = p.queryRows();
        int rows = lq * p.groupSize();
        int hkv = p.kvHeads();
        int totalPages = 0;
        boolean indexed = false;
        for (int h = 0; h < hkv; h++) {
            totalPages += p.kv()[h].pageCount();
            indexed |= p.kv()[h] instanceof IndexedKvView;
        }
        int units = units(totalPages);
        if (capture != null && (lq != 1 || rows >= OnlineSoftmaxTile.PACKED_MIN_ROWS || units < 2 || indexed
                || p.softCap() > 0)) {
            return false;
        }
        if (lq == 0) {
            return true;
        }
        if (rows > TiledAttention.TILE_ROWS || units < 2) {
            // A tile too large for split-K, or fewer pages than two units: the tiled kernel's one task per KV head.
            fallback.attend(p, out, lse, observer);
            return true;
        }
        int d = p.headDim();
        Scratch sc = scratch.get();
        if (sc.busy) { // re-entered on this thread (a kernel inside a kernel): a scratch of its own
            sc = new Scratch();
        }
        sc.busy = true;
        try {
            sc.capture = capture;
            attend(sc, p, out, lse, observer, lq, rows, d, hkv, units);
        } finally {
            sc.problem = null;
            sc.observer = null;
            sc.capture = null;
            sc.busy = false;
        }
        return true;
    }

    private void attend(Scratch sc, AttentionProblem p, float[] out, float[] lse, AttentionObserver observer, int lq, int rows,
                        int d, int hkv, int units) {
        sc.size(hkv, units + hkv, rows, d);
        for (int h = 0; h < hkv; h++) {
            sc.pagesPerHead[h] = p.kv()[h].pageCount();
        }
        int segments = cut(sc.pagesPerHead, hkv, units, sc.segHead, sc.segFrom, sc.segTo);
        sc.problem = p;
        sc.lq = lq;
        sc.rows = rows;
        sc.d = d;
        sc.observing = false;
        ops.pool().parallelFor(segments, sc);
        // Merge each head's segments in page order; heads without pages stay empty.
        for (int h = 0; h < hkv; h++) {
            Arrays.fill(sc.headOut[h], 0, rows * d, 0f);
            Arrays.fill(sc.headLse[h], 0, rows, Float.NEGATIVE_INFINITY);
        }
        for (int i = 0; i < segments; i++) {
            int h = sc.segHead[i];
            float[] ho = sc.headOut[h];
            float[] hl = sc.headLse[h];
            for (int r = 0; r < rows; r++) {
                hl[r] = PartialState.merge(ho, r * d, hl[r], sc.segOut[i], r * d, sc.segLse[i][r], d);
            }
        }
        int g = p.groupSize();
        for (int h = 0; h < hkv; h++) {
            for (int r = 0; r < rows; r++) {
                int token = r / g;
                int qh = h * g + r % g;
                System.arraycopy(sc.headOut[h], r * d, out, (token * p.queryHeads() + qh) * d, d);
                if (lse != null) {
                    lse[token * p.queryHeads() + qh] = sc.headLse[h][r];
                }
            }
        }
        if (observer != null) {
            sc.capture = null; // the observer's pass recomputes the logits: written once is enough
            sc.observer = observer;
            sc.observing = true;
            ops.pool().parallelFor(segments, sc);
        }
    }
}
