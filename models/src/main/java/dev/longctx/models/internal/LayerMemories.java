package dev.longctx.models.internal;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.kvcache.SequenceKvCache;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.function.UnaryOperator;

/**
 * The per-sequence state of a strategy whose decode kernel reads a memory of its own (InfLLM's
 * units, LongHeads' chunk representations): one memory per layer and a kernel bound to each, kept
 * in the sequence's cache ({@link SequenceKvCache#planState}) and copied into a fork's, as the
 * fork's pages are.
 *
 * <p>Invariants: a cache holds at most one state, made by the first call for it; a state belongs to
 * the {@code LayerMemories} that made it (a cache that carries another plan's state gets a fresh
 * one); each state has one kernel (and so one set of kernel buffers) bound to each layer's memory
 * in turn.
 *
 * <p>Threading: immutable and shared by the sequences of a plan; a state is used by the one thread
 * that runs its sequence.
 *
 * @param <M> the memory type
 */
final class LayerMemories<M> {
    private final int layers;
    private final Supplier<M> fresh;
    private final UnaryOperator<M> copy;
    private final Supplier<Function<M, AttentionKernel>> binder;

    /**
     * @param layers layers of the model
     * @param fresh a new, empty memory
     * @param copy a memory's copy for a fork
     * @param binder per sequence, a new kernel's binding to a memory (the kernel's {@code over})
     */
    LayerMemories(int layers, Supplier<M> fresh, UnaryOperator<M> copy, Supplier<Function<M, AttentionKernel>> binder) {
        this.layers = layers;
        this.fresh = fresh;
        this.copy = copy;
        this.binder = binder;
    }

    /** The memory of {@code layer} of the sequence whose cache is {@code cache}. */
    M memory(SequenceKvCache cache, int layer) {
        return state(cache).memory(layer);
    }

    /** The kernel bound to the memory of {@code layer} of the sequence whose cache is {@code cache}. */
    AttentionKernel kernel(SequenceKvCache cache, int layer) {
        return state(cache).kernels[layer];
    }

    private State state(SequenceKvCache cache) {
        if (cache.planState() instanceof LayerMemories<?>.State st && st.owner() == this) {
            @SuppressWarnings("unchecked") // made by this instance, so its memories are M
            State own = (State) st;
            return own;
        }
        State st = new State(null);
        cache.planState(st);
        return st;
    }

    /** One sequence's memories (one per layer) and the kernels bound to them. */
    private final class State implements SequenceKvCache.ForkableState {
        private final Object[] memories;
        private final AttentionKernel[] kernels;

        State(Object[] copyOf) {
            memories = new Object[layers];
            kernels = new AttentionKernel[layers];
            Function<M, AttentionKernel> bind = binder.get();
            for (int l = 0; l < layers; l++) {
                M m = copyOf == null ? fresh.get() : copy.apply(cast(copyOf[l]));
                memories[l] = m;
                kernels[l] = bind.apply(m);
            }
        }

        LayerMemories<M> owner() {
            return LayerMemories.this;
        }

        M memory(int layer) {
            return cast(memories[layer]);
        }

        @SuppressWarnings("unchecked") // every element was made as an M by this class
        private M cast(Object o) {
            return (M) o;
        }

        @Override
        public Object forkState() {
            return new State(memories);
        }
    }
}
