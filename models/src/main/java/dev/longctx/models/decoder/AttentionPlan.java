package dev.longctx.models.decoder;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.SplitKDecodeAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.SequenceKvCache;

/**
 * What a long-context strategy decides inside the forward pass, per layer: the attention kernel
 * for a chunk of query rows, the observer it reports probabilities to (H2O, SnapKV), and the
 * eviction that follows. The decoder calls, per layer: append keys and values, {@link #kernel}
 * with {@link #observer}, then {@link #afterAttention}.
 */
public interface AttentionPlan {

    /** The kernel for {@code queryRows} rows of {@code layer} (1 row: a decode step). */
    AttentionKernel kernel(int layer, int queryRows);

    /**
     * The kernel for {@code queryRows} rows of {@code layer} of the sequence whose cache is
     * {@code cache}: strategies that carry state from layer to layer or step to step (TidalDecode,
     * Recycled Attention) keep it in {@link SequenceKvCache#planState()} and return a kernel bound
     * to it. The decoder calls this one; the default is {@link #kernel(int, int)}.
     */
    default AttentionKernel kernel(SequenceKvCache cache, int layer, int queryRows) {
        return kernel(layer, queryRows);
    }

    /**
     * The mask of {@code layer}'s attention problems: the model's own ({@code modelMask}: causal,
     * or the layer's sliding window) unless the strategy attends through another (StreamingLLM's
     * sinks and window). The same mask object for every call, so the decoder can keep a decode
     * step's problem from token to token.
     */
    default AttentionMask mask(int layer, AttentionMask modelMask) {
        return modelMask;
    }

    /**
     * The observer for that call, or null.
     *
     * @param endsPrompt whether this chunk holds the last prompt tokens
     */
    default AttentionObserver observer(SequenceKvCache cache, int layer, int queryRows, boolean endsPrompt) {
        return null;
    }

    /** Runs after the attention of {@code layer} (eviction, compaction). */
    default void afterAttention(SequenceKvCache cache, int layer, int queryRows, boolean endsPrompt) {
    }

    /**
     * Whether the decoder returns the pages of a sliding-window layer that fell out of its window
     * to the pool, after that layer's attention, when the layer attends through the model's own
     * window mask ({@link #mask} returned it). No later query of the sequence can see those keys;
     * the decoder assumes the sequence only moves forward. False by default: the cache keeps every
     * page (the serving engine's prefix cache shares whole blocks of every layer).
     */
    default boolean releasesOutOfWindowPages() {
        return false;
    }

    /**
     * Exact attention, nothing evicted: split-K for decode steps and for chunks whose query rows
     * (tokens x group size) fit one tile, the tiled (FlashAttention-2) kernel for larger chunks
     * (split-K hands those, and caches of too few pages, to it). A few-row chunk deep in the cache
     * is what a serving step's prefill slice is: split-K spreads its pages over every thread, where
     * the tiled kernel has one task per KV head (SmolLM2-135M's shape, 3 KV heads, F16 pages, 2
     * threads, {@code PagedDecodeAttentionBench} with {@code queries}, 2026-12-06: at depth 16,384,
     * 2 rows 43.5 against 50.9 ms, 8 rows 64.3 against 84.4, 32 rows 145.0 against 176.7; at
     * 2,048, 32 rows 21.1 against 24.0).
     */
    static AttentionPlan exact(TensorOps ops) {
        SplitKDecodeAttention splitK = new SplitKDecodeAttention(ops);
        return (layer, rows) -> splitK;
    }
}
