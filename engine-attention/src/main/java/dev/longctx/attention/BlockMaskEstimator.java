package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import java.util.Objects;

/**
 * Chooses the blocks {@link BlockSparseAttention} computes for one problem, from its queries and
 * keys (MInference's online pattern estimation; Jiang et al., 2024). {@link MInferenceEstimators}
 * holds the A-shape, vertical-slash and top-k-blocks estimators. Implementations must be
 * thread-safe: one estimator may serve several problems at once.
 */
@FunctionalInterface
public interface BlockMaskEstimator {

    /** Keeps every block: block-sparse attention then equals {@link TiledAttention} bit for bit. */
    BlockMaskEstimator KEEP_ALL = new BlockMaskEstimator() {
        @Override
        public BlockMask estimate(AttentionProblem problem, TensorOps ops) {
            return BlockMask.all(problem);
        }

        @Override
        public String name() {
            return "all";
        }
    };

    /**
     * The mask for the problem, shaped as {@link BlockMask#checkFits} requires.
     *
     * @param problem the queries, views and position mask
     * @param ops kernels and pool the estimation may use
     */
    BlockMask estimate(AttentionProblem problem, TensorOps ops);

    /** A short name for logs and benchmarks. */
    default String name() {
        return "custom";
    }

    /** An estimator that returns the same mask for every problem (which must fit it). */
    static BlockMaskEstimator fixed(BlockMask mask) {
        Objects.requireNonNull(mask, "mask");
        return new BlockMaskEstimator() {
            @Override
            public BlockMask estimate(AttentionProblem problem, TensorOps ops) {
                return mask;
            }

            @Override
            public String name() {
                return "fixed";
            }
        };
    }
}
