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
    private final Strategy.LongHeads params;
    private final TensorOps ops;
    private final int layers;
    private final int kvHeads;
    private final int headDim;

    /** @param params a resolved {@link Strategy.LongHeads} (every parameter positive) */
    LongHeadsPlan(Strategy.LongHeads params, int layers, int kvHeads, int headDim, TensorOps ops) {
        this.params = params;
        this.ops = ops;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
    }

    /** The kernel for {@code queryRows} rows of {@code layer}: {@code chunk} for prompt chunks, LongHeads' for decode steps. */
    AttentionKernel kernel(SequenceKvCache cache, int layer, int queryRows, AttentionKernel chunk) {
        return queryRows == 1 ? state(cache).kernels[layer] : chunk;
    }

    /** The memory of {@code layer} of the sequence whose cache is {@code cache} (for tests). */
    LongHeadsMemory memory(SequenceKvCache cache, int layer) {
        return state(cache).memories[layer];
    }

    private State state(SequenceKvCache cache) {
        if (cache.planState() instanceof State st && st.owner == this) {
            return st;
        }
        State st = new State(this, null);
        cache.planState(st);
        return st;
    }

    /** One sequence's memories (one per layer) and the kernels bound to them. */
    private static final class State implements SequenceKvCache.ForkableState {
        final LongHeadsPlan owner;
        final LongHeadsMemory[] memories;
        final AttentionKernel[] kernels;

        State(LongHeadsPlan owner, LongHeadsMemory[] copyOf) {
            this.owner = owner;
            this.memories = new LongHeadsMemory[owner.layers];
            this.kernels = new AttentionKernel[owner.layers];
            // one kernel (and its buffers) per sequence, bound to each layer's memory in turn
            LongHeadsAttention kernel = new LongHeadsAttention(owner.ops, owner.params.chunks());
            for (int l = 0; l < owner.layers; l++) {
                memories[l] = copyOf == null ? new LongHeadsMemory(owner.kvHeads, owner.headDim, owner.params.chunk()) : copyOf[l].copy();
                kernels[l] = kernel.over(memories[l]);
            }
        }

        @Override
        public Object forkState() {
            return new State(owner, memories);
        }
    }
}
