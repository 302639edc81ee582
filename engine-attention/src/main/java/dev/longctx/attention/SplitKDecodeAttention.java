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

    /** Work units for {@code totalPages} pages of all heads together; below 2 the tiled kernel runs instead. */
    static int units(int totalPages) {
        return Math.min(MAX_UNITS, totalPages / MIN_UNIT_PAGES);
    }

    /** A contiguous run of one head's pages. */
    private record Segment(int kvHead, int pageFrom, int pageTo) {
    }

    /** The segments of the stream-K cut, in (head, page) order. */
    static List<int[]> cut(int[] pagesPerHead, int units) {
        long total = 0;
        for (int n : pagesPerHead) {
            total += n;
        }
        List<int[]> out = new ArrayList<>();
        if (total == 0) {
            return out;
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
                out.add(new int[] {head, (int) (pos - headStart), (int) (segEnd - headStart)});
                pos = segEnd;
            }
        }
        return out;
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        int lq = p.queryRows();
        if (lq == 0) {
            return;
        }
        int rows = lq * p.groupSize();
        if (rows > TiledAttention.TILE_ROWS) {
            fallback.attend(p, out, lse, observer);
            return;
        }
        int d = p.headDim();
        int hkv = p.kvHeads();
        int[] pagesPerHead = new int[hkv];
        int totalPages = 0;
        for (int h = 0; h < hkv; h++) {
            pagesPerHead[h] = p.kv()[h].pageCount();
            totalPages += pagesPerHead[h];
        }
        int units = units(totalPages);
        if (units < 2) {
            // Fewer pages than two units: the tiled kernel's one task per KV head.
            fallback.attend(p, out, lse, observer);
            return;
        }
        List<Segment> segments = cut(pagesPerHead, units).stream().map(s -> new Segment(s[0], s[1], s[2])).toList();
        float[][] segOut = new float[segments.size()][];
        float[][] segLse = new float[segments.size()][];
        ops.pool().parallelFor(segments.size(), i -> {
            Segment s = segments.get(i);
            OnlineSoftmaxTile tile = tiles.get();
            tile.reset(p, s.kvHead(), 0, lq);
            for (int page = s.pageFrom(); page < s.pageTo(); page++) {
                tile.accumulate(page, page + 1 < s.pageTo() ? page + 1 : -1);
            }
            tile.finish();
            segOut[i] = Arrays.copyOf(tile.output(), rows * d);
            segLse[i] = Arrays.copyOf(tile.lse(), rows);
        });
        // Merge each head's segments in page order; heads without pages stay empty.
        float[][] headOut = new float[hkv][rows * d];
        float[][] headLse = new float[hkv][rows];
        for (float[] l : headLse) {
            Arrays.fill(l, Float.NEGATIVE_INFINITY);
        }
        for (int i = 0; i < segments.size(); i++) {
            int h = segments.get(i).kvHead();
            for (int r = 0; r < rows; r++) {
                headLse[h][r] = PartialState.merge(headOut[h], r * d, headLse[h][r], segOut[i], r * d, segLse[i][r], d);
            }
        }
        int g = p.groupSize();
        for (int h = 0; h < hkv; h++) {
            for (int r = 0; r < rows; r++) {
                int token = r / g;
                int qh = h * g + r % g;
                System.arraycopy(headOut[h], r * d, out, (token * p.queryHeads() + qh) * d, d);
                if (lse != null) {
                    lse[token * p.queryHeads() + qh] = headLse[h][r];
                }
            }
        }
        if (observer != null) {
            ops.pool().parallelFor(segments.size(), i -> {
                Segment s = segments.get(i);
                OnlineSoftmaxTile tile = tiles.get();
                tile.reset(p, s.kvHead(), 0, lq);
                for (int page = s.pageFrom(); page < s.pageTo(); page++) {
                    tile.observe(page, headLse[s.kvHead()], observer);
                }
            });
        }
    }
}
