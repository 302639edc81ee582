package dev.longctx.models.internal;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.attention.SqueezedAttention;
import dev.longctx.attention.SqueezedIndex;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.session.Strategy;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Squeezed Attention as a strategy (Hooper et al., 2024; see {@link Strategy.Squeezed}): per
 * sequence the length {@code F} of its fixed context, set by {@link #beginPrompt} at its first
 * prompt, and per layer the fixed context's clusters ({@link SqueezedIndex}), built by the first
 * attention call of that layer with a query row at or after {@code F} (the fixed context is then
 * complete in the cache) or handed over by the serving engine from its prefix cache
 * ({@link #adopt}). Query rows before {@code F} attend exactly (the exact kernel the decoder would
 * run); rows at or after it run {@link SqueezedAttention} over the index: a chunk that straddles
 * {@code F} is split in two problems. Layers whose mask has a window attend exactly.
 *
 * <p>The state lives in {@link SequenceKvCache#planState()} and a fork carries it on (the
 * indices are immutable and shared). The index copies the fixed context's keys and values as F32
 * rows on the heap (per layer and KV head: {@code 2 x F x D x 4} bytes plus the centroids),
 * outside the pool's KV budget.
 *
 * <p>Threading: immutable and shared by the sequences of a plan; a sequence's state is used by the
 * one thread that runs that sequence; the indices it holds are immutable and may be shared across
 * sequences and threads (the serving engine does, through its prefix cache).
 */
final class SqueezedPlan {
    private static final Logger LOG = LoggerFactory.getLogger(SqueezedPlan.class);
    /**
     * Seed of the k-means' initial centroids. Fixed, so that the same fixed context gives the same
     * clusters in a session and in the serving engine (and the engine's shared index equals what a
     * request would build alone).
     */
    static final long SEED = 0x5EEDL;

    private final Strategy.Squeezed params;
    private final int layers;
    private final TensorOps ops;

    /** @param params a resolved {@link Strategy.Squeezed} (keep, keys per cluster and iterations positive) */
    SqueezedPlan(Strategy.Squeezed params, int layers, TensorOps ops) {
        this.params = params;
        this.layers = layers;
        this.ops = ops;
    }

    /** What a fixed context's index depends on besides its tokens: the key the engine's prefix cache files it under. */
    record IndexKey(int fixed, int keysPerCluster, int iterations, long seed) {
    }

    /** The key of this plan's index of a fixed context of {@code fixed} tokens. */
    IndexKey indexKey(int fixed) {
        return new IndexKey(fixed, params.keysPerCluster(), params.iterations(), SEED);
    }

    /** Fixes the sequence's fixed context at its first prompt ({@code position} 0) of {@code promptTokens}; later prompts change nothing. */
    void beginPrompt(SequenceKvCache cache, long position, int promptTokens) {
        State st = state(cache);
        if (st.fixed < 0 && position == 0) {
            st.fixed = params.fixedFor(promptTokens);
        }
    }

    /** The sequence's fixed context length, or -1 before its first prompt. */
    int fixed(SequenceKvCache cache) {
        return state(cache).fixed;
    }

    /** Every layer's index of the sequence, once all are built or adopted; else null. */
    SqueezedIndex[] indexes(SequenceKvCache cache) {
        State st = state(cache);
        for (SqueezedIndex i : st.indexes) {
            if (i == null) {
                return null;
            }
        }
        return st.indexes.clone();
    }

    /** Whether the sequence's indices were handed over ({@link #adopt}) rather than built. */
    boolean adopted(SequenceKvCache cache) {
        return state(cache).adopted;
    }

    /**
     * Hands the sequence the indices of its fixed context, built by another sequence with the same
     * fixed tokens and {@link #indexKey} (before any of its rows at or after {@code F} ran).
     *
     * @throws IllegalArgumentException when the fixed length is not set or differs, or the count is not one per layer
     */
    void adopt(SequenceKvCache cache, SqueezedIndex[] indexes) {
        State st = state(cache);
        if (indexes.length != layers) {
            throw new IllegalArgumentException("squeezed: " + indexes.length + " indices for " + layers + " layers");
        }
        for (SqueezedIndex i : indexes) {
            if (st.fixed <= 0 || i.tokens() != st.fixed) {
                throw new IllegalArgumentException("squeezed: an index of " + i.tokens() + " fixed tokens for a sequence whose fixed"
                        + " context is " + st.fixed + " tokens");
            }
        }
        for (int l = 0; l < layers; l++) {
            st.indexes[l] = indexes[l];
            st.kernels[l] = null;
        }
        st.adopted = true;
    }

    /** The kernel of {@code layer} for the sequence whose cache is {@code cache}; {@code exact} is the decoder's exact kernel. */
    AttentionKernel kernel(SequenceKvCache cache, int layer, AttentionKernel exact) {
        State st = state(cache);
        return new AttentionKernel() {
            @Override
            public String name() {
                return "squeezed(" + exact.name() + ")";
            }

            @Override
            public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
                run(st, layer, exact, p, out, lse, observer);
            }
        };
    }

    private void run(State st, int layer, AttentionKernel exact, AttentionProblem p, float[] out, float[] lse,
                     AttentionObserver observer) {
        int rows = p.queryRows();
        long[] pos = p.queryPositions();
        int f = st.fixed;
        if (f <= 0 || rows == 0 || p.mask().window() > 0 || observer != null) {
            exact.attend(p, out, lse, observer);
            return;
        }
        int before = 0; // rows before the fixed context's end (positions increase along the rows)
        while (before < rows && pos[before] < f) {
            before++;
        }
        if (before == rows) {
            exact.attend(p, out, lse, null);
            return;
        }
        SqueezedAttention squeezed = st.kernel(layer, p, this);
        if (before == 0) {
            squeezed.attend(p, out, lse, null);
            return;
        }
        AttentionKernel.checkOutputs(p, out, lse);
        int hq = p.queryHeads();
        int d = p.headDim();
        AttentionProblem head = new AttentionProblem(p.queries(), p.queryOffset(), before, hq, p.kv(),
                Arrays.copyOfRange(pos, 0, before), p.scale(), p.softCap(), p.mask());
        AttentionProblem tail = new AttentionProblem(p.queries(), p.queryIndex(before, 0), rows - before, hq, p.kv(),
                Arrays.copyOfRange(pos, before, rows), p.scale(), p.softCap(), p.mask());
        float[] o = new float[tail.outputLength()];
        float[] l = lse == null ? null : new float[(rows - before) * hq];
        exact.attend(head, out, lse, null); // writes rows [0, before) in place
        squeezed.attend(tail, o, l, null);
        System.arraycopy(o, 0, out, before * hq * d, o.length);
        if (l != null) {
            System.arraycopy(l, 0, lse, before * hq, l.length);
        }
    }

    /** The index of the first {@code fixed} valid keys of every view. */
    SqueezedIndex build(KvView[] views, int fixed) {
        KvView[] prefix = new KvView[views.length];
        for (int h = 0; h < views.length; h++) {
            prefix[h] = new Prefix(views[h], fixed);
        }
        int clusters = Math.max(1, fixed / params.keysPerCluster());
        long t0 = System.nanoTime();
        SqueezedIndex index = SqueezedIndex.build(prefix, clusters, params.iterations(), SEED, ops);
        LOG.debug("squeezed: {} fixed keys of {} KV heads clustered into {} clusters each in {} ms", fixed, views.length, clusters,
                (System.nanoTime() - t0) / 1_000_000);
        return index;
    }

    /** Fixed keys each query head attends: {@code selected}, else {@code ceil(keep x F)}, at least 1. */
    int keptKeys(int fixed) {
        return params.selected() > 0 ? params.selected() : (int) Math.max(1, Math.ceil(params.keep() * fixed));
    }

    private State state(SequenceKvCache cache) {
        if (cache.planState() instanceof State st && st.owner == this) {
            return st;
        }
        State st = new State(this, null);
        cache.planState(st);
        return st;
    }

    /** One sequence's fixed length, indices and kernels. */
    private static final class State implements SequenceKvCache.ForkableState {
        final SqueezedPlan owner;
        int fixed = -1;
        final SqueezedIndex[] indexes;
        final SqueezedAttention[] kernels;
        boolean adopted;

        State(SqueezedPlan owner, State copyOf) {
            this.owner = owner;
            this.indexes = copyOf == null ? new SqueezedIndex[owner.layers] : copyOf.indexes.clone();
            this.kernels = copyOf == null ? new SqueezedAttention[owner.layers] : copyOf.kernels.clone();
            if (copyOf != null) {
                fixed = copyOf.fixed;
                adopted = copyOf.adopted;
            }
        }

        /** The layer's kernel, building its index from the problem's views on first use. */
        SqueezedAttention kernel(int layer, AttentionProblem p, SqueezedPlan plan) {
            if (kernels[layer] == null) {
                if (indexes[layer] == null) {
                    indexes[layer] = plan.build(p.kv(), fixed);
                }
                kernels[layer] = new SqueezedAttention(plan.ops, indexes[layer], plan.keptKeys(fixed));
            }
            return kernels[layer];
        }

        @Override
        public Object forkState() {
            return new State(owner, this);
        }
    }

    /** A view limited to its first {@code limit} positions (the fixed context: positions {@code 0 .. limit - 1}). */
    private record Prefix(KvView base, long limit) implements KvView {
        @Override
        public int headDim() {
            return base.headDim();
        }

        @Override
        public DType dtype() {
            return base.dtype();
        }

        @Override
        public int pageSize() {
            return base.pageSize();
        }

        @Override
        public int pageCount() {
            return base.pageCount();
        }

        @Override
        public int pageLength(int page) {
            return base.pageLength(page);
        }

        @Override
        public MemorySegment keys(int page) {
            return base.keys(page);
        }

        @Override
        public MemorySegment values(int page) {
            return base.values(page);
        }

        @Override
        public long position(int page, int slot) {
            return base.position(page, slot);
        }

        @Override
        public boolean isValid(int page, int slot) {
            return base.isValid(page, slot) && base.position(page, slot) < limit;
        }
    }
}
