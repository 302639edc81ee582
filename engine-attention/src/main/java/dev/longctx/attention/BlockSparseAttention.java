package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import java.util.Objects;

/**
 * Block-sparse prefill attention (MInference 1.0; Jiang et al., 2024): exact attention restricted
 * to the (query block, key page) blocks a {@link BlockMask} keeps. Inside a kept block the
 * problem's {@link AttentionMask} (causal, window) and invalid slots still apply per element;
 * a dropped block is never touched: neither its keys nor its values are read.
 *
 * <p><b>What it approximates.</b> Full attention, by assuming that the probability mass of the
 * dropped blocks is negligible; the mask comes from a {@link BlockMaskEstimator} (A-shape,
 * vertical-slash or top-k blocks, {@link MInferenceEstimators}) or is given to
 * {@link #attend(AttentionProblem, BlockMask, float[], float[], AttentionObserver)}. Over the kept
 * blocks the result is exact: it equals {@link NaiveAttention} on the equivalent element mask up to
 * f32 rounding, and with a keep-everything mask it equals {@link TiledAttention} bit for bit with
 * the scalar kernels (the same {@link OnlineSoftmaxTile} accumulation per row, pages in the same
 * order; the tiles are smaller, which changes no row's arithmetic) and to rounding with Panama.
 *
 * <p><b>Work.</b> One task per (KV head, query block) on the {@link TensorOps} pool; a task is one
 * tile of {@code Bq} tokens x g query heads ({@code Bq = max(1, 64 / g)} with the default mask)
 * that visits only its kept pages, in increasing order. Time
 * O(kept blocks x Bq x g x pageSize x D), i.e. the tiled kernel's cost times the mask's density
 * (over the blocks the position mask leaves); extra memory O(tile) per thread. Estimation costs
 * come on top and are stated by each estimator.
 *
 * <p><b>Observer.</b> Reported like {@link TiledAttention}: once per (row, query head, page) with
 * exact probabilities over the kept blocks (they sum to 1), from a second pass over the kept
 * pages; dropped pages are reported as zeros without being read.
 */
public final class BlockSparseAttention implements AttentionKernel {
    private final TensorOps ops;
    private final BlockMaskEstimator estimator;
    private final ThreadLocal<OnlineSoftmaxTile> tiles;

    /** A kernel that asks {@code estimator} for the mask of every problem it runs. */
    public BlockSparseAttention(TensorOps ops, BlockMaskEstimator estimator) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.estimator = Objects.requireNonNull(estimator, "estimator");
        this.tiles = ThreadLocal.withInitial(() -> new OnlineSoftmaxTile(ops.kernels()));
    }

    @Override
    public String name() {
        return "block-sparse(" + estimator.name() + ")";
    }

    /** The estimator {@link #attend(AttentionProblem, float[], float[], AttentionObserver)} uses. */
    public BlockMaskEstimator estimator() {
        return estimator;
    }

    /** Estimates the mask with this kernel's estimator, then runs {@link #attend(AttentionProblem, BlockMask, float[], float[], AttentionObserver)}. */
    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        attend(p, estimator.estimate(p, ops), out, lse, observer);
    }

    /**
     * Runs the problem over the blocks {@code mask} keeps.
     *
     * @param mask shaped for the problem ({@link BlockMask#checkFits})
     * @throws IllegalArgumentException when the mask or the outputs do not fit the problem
     */
    public void attend(AttentionProblem p, BlockMask mask, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        Objects.requireNonNull(mask, "mask");
        mask.checkFits(p);
        int lq = p.queryRows();
        if (lq == 0) {
            return;
        }
        int blocks = mask.queryBlocks();
        int tasks = p.kvHeads() * blocks;
        ops.pool().parallelFor(tasks, t -> {
            int kh = t / blocks;
            int b = t % blocks;
            int[] pages = mask.row(kh, b);
            OnlineSoftmaxTile tile = tiles.get();
            tile.reset(p, kh, mask.queryBlockStart(b), mask.queryBlockEnd(b));
            for (int i = 0; i < pages.length; i++) {
                tile.accumulate(pages[i], i + 1 < pages.length ? pages[i + 1] : -1);
            }
            tile.finish();
            tile.write(out, lse);
            if (observer != null) {
                observe(p, tile, kh, mask.queryBlockStart(b), pages, observer);
            }
        });
    }

    /** Reports every page of the tile's view: kept ones with exact probabilities, dropped ones as zeros. */
    private static void observe(AttentionProblem p, OnlineSoftmaxTile tile, int kh, int firstRow, int[] kept,
                                AttentionObserver observer) {
        float[] rowLse = tile.lse().clone();
        KvView view = p.kv()[kh];
        int g = p.groupSize();
        float[] zeros = null;
        int next = 0;
        for (int page = 0; page < view.pageCount(); page++) {
            if (next < kept.length && kept[next] == page) {
                next++;
                tile.observe(page, rowLse, observer);
                continue;
            }
            int n = view.pageLength(page);
            if (n == 0) {
                continue; // as the tiled kernel: empty pages are not reported
            }
            if (zeros == null) {
                zeros = new float[view.pageSize()];
            }
            for (int r = 0; r < tile.rows(); r++) {
                observer.observe(firstRow + r / g, kh * g + r % g, kh, page, zeros, n);
            }
        }
    }
}
