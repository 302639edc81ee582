package dev.longctx.models.internal;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.LongHeadsAttention;
import dev.longctx.attention.LongHeadsMemory;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.session.Strategy;

/**
 * LongHeads' decode steps (Lu et al., 2024; see {@link Strategy.LongHeads}) with the per-sequence
 * chunk representations ({@link LongHeadsMemory}, one per layer) in
 * {@link SequenceKvCache#planState()}: prompt chunks run the exact chunk kernel; a decode step runs
 * {@link LongHeadsAttention}, which represents the chunks completed since the last step (from the
 * cached keys, so a fork of any full-cache prefill decodes alike) and lets each query head pick its
 * chunks. A fork carries a copy of the representations.
 *
 * <p>Threading: immutable and shared by the sequences of a plan; each sequence's state lives in its
 * cache and is used by the one thread that runs that sequence.
 */
final class LongHeadsPlan {
    private final LayerMemories<LongHeadsMemory> memories;

    /** @param params a resolved {@link Strategy.LongHeads} (every parameter positive) */
    LongHeadsPlan(Strategy.LongHeads params, int layers, int kvHeads, int headDim, TensorOps ops) {
        // one kernel (and its buffers) per sequence, bound to each layer's memory in turn
        this.memories = new LayerMemories<>(layers, () -> new LongHeadsMemory(kvHeads, headDim, params.chunk()), LongHeadsMemory::copy,
                () -> new LongHeadsAttention(ops, params.chunks())::over);
    }

    /** The kernel for {@code queryRows} rows of {@code layer}: {@code chunk} for prompt chunks, LongHeads' for decode steps. */
    AttentionKernel kernel(SequenceKvCache cache, int layer, int queryRows, AttentionKernel chunk) {
        return queryRows == 1 ? memories.kernel(cache, layer) : chunk;
    }

    /** The memory of {@code layer} of the sequence whose cache is {@code cache} (for tests). */
    LongHeadsMemory memory(SequenceKvCache cache, int layer) {
        return memories.memory(cache, layer);
    }
}
