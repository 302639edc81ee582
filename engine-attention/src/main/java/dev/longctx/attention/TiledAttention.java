package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import java.util.Objects;

/**
 * Exact attention, tiled as FlashAttention-2 (Dao, 2023): blocks of query rows walk the KV pages
 * with an online softmax, so the score matrix is never materialised; pages the mask excludes for a
 * whole block (causal future, outside a sliding window) are skipped without being read.
 *
 * <p>Work: one task per (KV head, block of query tokens); the g query heads sharing a KV head are
 * rows of the same tile, so each K/V page is read once per tile. Complexity O(Lq * Lk * D * Hq)
 * time (about half of it skipped under a causal mask), O(tile) extra memory per thread: a 128K-token
 * prefill allocates nothing proportional to n^2 or to heads x n. Exact: the result equals
 * {@link NaiveAttention} up to f32 rounding. The observer gets exact probabilities from a second
 * pass that recomputes the logits with the final log-sum-exp.
 */
public final class TiledAttention implements AttentionKernel {
    /**
     * Rows (tokens x g) per query tile: 128 rows of 128 floats = 64 KiB of queries, L2-resident.
     * Each page's keys and values are decoded once per tile, so larger tiles amortise the decode
     * and the per-page bookkeeping. Measured at n = 4096 (32 q / 8 kv heads, D = 128, 2 threads):
     * in a quiet period 64 rows 724-836 ms, 128 rows 562-578 ms, 256 rows 588 ms; in a noisy one,
     * alternating, 64 rows 698-878 ms and 128 rows 748-773 ms.
     */
    static final int TILE_ROWS = 128;

    /**
     * Query tokens per tile for g query heads per KV head: the most that fit {@link #TILE_ROWS}
     * rows with the row count a multiple of {@link VectorKernels#TRANSPOSED_TOKEN_MULTIPLE}, so that
     * the prefill kernels run without ragged tails; without such a count, simply the most that fit.
     * For g = 3 this is 32 tokens (96 rows) rather than 42 (126 rows): a SmolLM2-shaped chunk of
     * 512 queries at depth 8K took 43 ms against 51 ms with 42 (same process, alternating).
     */
    static int tileTokens(int g) {
        int most = Math.max(1, TILE_ROWS / g);
        for (int t = most; t >= 1; t--) {
            if (t * g % VectorKernels.TRANSPOSED_TOKEN_MULTIPLE == 0) {
                return t;
            }
        }
        return most;
    }

    private final TensorOps ops;
    private final ThreadLocal<OnlineSoftmaxTile> tiles;
    private final ThreadLocal<Task> task = ThreadLocal.withInitial(Task::new);

    /** A kernel running on the given kernels and pool. */
    public TiledAttention(TensorOps ops) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.tiles = ThreadLocal.withInitial(() -> new OnlineSoftmaxTile(ops.kernels()));
    }

    @Override
    public String name() {
        return "tiled";
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        int lq = p.queryRows();
        if (lq == 0) {
            return;
        }
        int bq = tileTokens(p.groupSize());
        int blocks = (lq + bq - 1) / bq;
        Task task = this.task.get();
        if (task.busy) { // re-entered on this thread: a task of its own
            task = new Task();
        }
        task.busy = true;
        task.p = p;
        task.out = out;
        task.lse = lse;
        task.observer = observer;
        task.bq = bq;
        task.blocks = blocks;
        try {
            ops.pool().parallelFor(p.kvHeads() * blocks, task);
        } finally {
            task.p = null;
            task.out = null;
            task.lse = null;
            task.observer = null;
            task.busy = false;
        }
    }

    /**
     * The pool task of one call: (KV head, query block) pairs. Kept per calling thread and reused,
     * so that a decode step on a short cache (which comes here) allocates no lambda; the fields are
     * written by the caller before {@code parallelFor} publishes them, and cleared after.
     */
    /** Pages of {@link IndexedKvView}s folded in by the fused step (rows read by index), over this kernel's life. */
    private final java.util.concurrent.atomic.LongAdder indexedPages = new java.util.concurrent.atomic.LongAdder();

    /** Pages of {@link IndexedKvView}s this kernel has read by index since it was made: tests assert the fast path ran. */
    long indexedPages() {
        return indexedPages.sum();
    }

    private final class Task implements java.util.function.IntConsumer {
        AttentionProblem p;
        float[] out;
        float[] lse;
        AttentionObserver observer;
        int bq;
        int blocks;
        boolean busy;

        @Override
        public void accept(int t) {
            int lq = p.queryRows();
            int kh = t / blocks;
            int i0 = (t % blocks) * bq;
            int i1 = Math.min(lq, i0 + bq);
            OnlineSoftmaxTile tile = tiles.get();
            tile.reset(p, kh, i0, i1);
            KvView view = p.kv()[kh];
            int pages = view.pageCount();
            for (int page = 0; page < pages; page++) {
                tile.accumulate(page, page + 1 < pages ? page + 1 : -1);
            }
            indexedPages.add(tile.indexedPages());
            tile.finish();
            tile.write(out, lse);
            if (observer != null) {
                float[] rowLse = tile.lse().clone();
                for (int page = 0; page < view.pageCount(); page++) {
                    tile.observe(page, rowLse, observer);
                }
            }
        }
    }
}
