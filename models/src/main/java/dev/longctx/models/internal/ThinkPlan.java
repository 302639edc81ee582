package dev.longctx.models.internal;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.ChannelPrunedAttention;
import dev.longctx.attention.KeyChannelPruning;
import dev.longctx.attention.KvView;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.session.Strategy;

/**
 * ThinK's key-channel pruning (Xu et al., 2024; see {@link Strategy.ThinK}) over the kernels of an
 * inner strategy, with its per-sequence state in {@link SequenceKvCache#planState()}:
 * <ul>
 *   <li>every prompt chunk (and a single-row call before the first selection) passes through a
 *       kernel that keeps the layer's last {@code window} query rows, then runs the inner kernel
 *       unchanged;</li>
 *   <li>after the attention of the chunk that ends a prompt, and after the inner strategy's own
 *       eviction, each KV head's channels are scored against its cached keys and the top ones kept
 *       ({@link KeyChannelPruning});</li>
 *   <li>decode steps then run the inner kernel through {@link ChannelPrunedAttention}.</li>
 * </ul>
 * A fork carries a copy of the state.
 *
 * <p>Threading: immutable and shared by the sequences of a plan; each sequence's state lives in its
 * cache, used by the one thread that runs that sequence.
 */
final class ThinkPlan {
    private final TensorOps ops;
    private final int layers;
    private final int kvHeads;
    private final int window;
    private final int kept;
    private final int headDim;

    /** @param params a resolved {@link Strategy.ThinK} (window positive) */
    ThinkPlan(Strategy.ThinK params, int layers, int kvHeads, int headDim, TensorOps ops) {
        this.ops = ops;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.window = params.window();
        this.kept = KeyChannelPruning.keptChannels(headDim, params.ratio());
    }

    /** Channels kept per KV head. */
    int keptChannels() {
        return kept;
    }

    /** The kernel for {@code queryRows} rows of {@code layer} over the inner strategy's {@code inner}. */
    AttentionKernel kernel(SequenceKvCache cache, int layer, int queryRows, AttentionKernel inner) {
        State st = state(cache);
        if (queryRows > 1 || !st.selected[layer]) {
            Recorder r = st.recorders[layer];
            r.inner = inner;
            return r;
        }
        ChannelPrunedAttention k = st.pruned[layer];
        if (k == null || k.inner() != inner) {
            k = new ChannelPrunedAttention(inner, kvHeads);
            for (int h = 0; h < kvHeads; h++) {
                k.keep(h, st.masks[layer][h]);
            }
            st.pruned[layer] = k;
        }
        return k;
    }

    /** After the chunk that ends a prompt: selects each KV head's channels from the recorded queries. */
    void afterAttention(SequenceKvCache cache, int layer, boolean endsPrompt) {
        State st = state(cache);
        Recorder r = st.recorders[layer];
        if (!endsPrompt || r.rows == 0) {
            return;
        }
        KvView[] views = cache.views(layer);
        for (int h = 0; h < kvHeads; h++) {
            boolean[] mask = kept == headDim ? null
                    : KeyChannelPruning.keep(KeyChannelPruning.scores(ops, r.queries, r.rows, r.queryHeads, kvHeads, h, views[h]), kept);
            st.masks[layer][h] = mask;
            if (st.pruned[layer] != null) {
                st.pruned[layer].keep(h, mask);
            }
        }
        st.selected[layer] = true;
    }

    /** The kept channels of a KV head of {@code layer} (null: every channel, or no selection yet), for tests. */
    boolean[] mask(SequenceKvCache cache, int layer, int kvHead) {
        return state(cache).masks[layer][kvHead];
    }

    /** Whether {@code layer} of the sequence has selected its channels, for tests. */
    boolean selected(SequenceKvCache cache, int layer) {
        return state(cache).selected[layer];
    }

    private State state(SequenceKvCache cache) {
        if (cache.planState() instanceof State st && st.owner == this) {
            return st;
        }
        State st = new State(this, null);
        cache.planState(st);
        return st;
    }

    /** Keeps the last {@code window} query rows it sees, then runs the inner kernel. */
    private static final class Recorder implements AttentionKernel {
        private final int window;
        AttentionKernel inner;
        float[] queries = new float[0];
        int rows;
        int queryHeads;

        Recorder(int window) {
            this.window = window;
        }

        @Override
        public String name() {
            return "think-observe(" + inner.name() + ")";
        }

        @Override
        public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
            int rowFloats = p.queryHeads() * p.headDim();
            if (queryHeads != p.queryHeads() || queries.length != window * rowFloats) {
                queries = new float[window * rowFloats];
                queryHeads = p.queryHeads();
                rows = 0;
            }
            int n = p.queryRows();
            if (n >= window) {
                System.arraycopy(p.queries(), p.queryIndex(n - window, 0), queries, 0, window * rowFloats);
                rows = window;
            } else if (n > 0) {
                int keepOld = Math.min(rows, window - n);
                System.arraycopy(queries, (rows - keepOld) * rowFloats, queries, 0, keepOld * rowFloats);
                System.arraycopy(p.queries(), p.queryIndex(0, 0), queries, keepOld * rowFloats, n * rowFloats);
                rows = keepOld + n;
            }
            inner.attend(p, out, lse, observer);
        }

        Recorder copy() {
            Recorder r = new Recorder(window);
            r.queries = queries.clone();
            r.rows = rows;
            r.queryHeads = queryHeads;
            return r;
        }
    }

    /** One sequence's observation queries, channel masks and kernels, per layer. */
    private static final class State implements SequenceKvCache.ForkableState {
        final ThinkPlan owner;
        final Recorder[] recorders;
        final boolean[][][] masks;
        final boolean[] selected;
        final ChannelPrunedAttention[] pruned;

        State(ThinkPlan owner, State copyOf) {
            this.owner = owner;
            this.recorders = new Recorder[owner.layers];
            this.masks = new boolean[owner.layers][owner.kvHeads][];
            this.selected = new boolean[owner.layers];
            this.pruned = new ChannelPrunedAttention[owner.layers];
            for (int l = 0; l < owner.layers; l++) {
                recorders[l] = copyOf == null ? new Recorder(owner.window) : copyOf.recorders[l].copy();
                if (copyOf != null) {
                    selected[l] = copyOf.selected[l];
                    for (int h = 0; h < owner.kvHeads; h++) {
                        masks[l][h] = copyOf.masks[l][h]; // masks are replaced, never written in place
                    }
                }
            }
        }

        @Override
        public Object forkState() {
            return new State(owner, this);
        }
    }
}
