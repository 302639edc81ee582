package dev.longctx.models.internal;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.PersistentSelection;
import dev.longctx.attention.PersistentSelectionAttention;
import dev.longctx.attention.RecordingAttention;
import dev.longctx.attention.SelectedAttentionBudget;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.session.Strategy;

/**
 * The decode-step kernels of the strategies that select keys once and attend them again, with
 * their per-sequence state in {@link SequenceKvCache#planState()}:
 * <ul>
 *   <li><b>TidalDecode</b> (Yang et al., 2024): per decode step, layers before the selection
 *       layer s exact; layer s exact and recording (per KV head, the top-k keys by the step's
 *       attention scores, with 4 sinks and the 64 most recent positions always among them, see
 *       {@link RecordingAttention#withLocalWindow}); layers after s attend that selection;
 *       the re-selection layer r > s exact and recording again; layers after r attend the new one.
 *       One selection per sequence, rewritten every step.</li>
 *   <li><b>Recycled Attention</b> (Xu et al., 2024): decode step n is a full step when
 *       {@code n % S == 0}, counting from the first decode step after a prompt chunk (n = 0) or a
 *       fork: every layer exact and recording its own selection (top-K keys per KV head, sinks and
 *       recent window included as in TidalDecode), whose
 *       {@code keepFrom} is that step's position; the other steps attend, per layer, the recorded
 *       keys plus every token from the full step on.</li>
 * </ul>
 * Prompt chunks run the exact chunk kernel in both.
 *
 * <p>Threading: immutable and shared by the sequences of a plan; each sequence's state lives in its
 * cache, used by the one thread that runs that sequence.
 */
final class PersistentSelectionPlan {
    private final Strategy strategy;
    private final TensorOps ops;
    private final int layers;
    private final int kvHeads;
    private final AttentionKernel exactDecode;
    private final RecordingAttention recording;
    /** TidalDecode's selection and re-selection layers (-1: none). */
    private final int selectionLayer;
    private final int reselectionLayer;
    /** Recycled Attention's stride (0 for TidalDecode). */
    private final int stride;

    /**
     * @param strategy a resolved {@link Strategy.TidalDecode} or {@link Strategy.Recycled}
     * @param exactDecode the exact decode-step kernel (split-K)
     */
    PersistentSelectionPlan(Strategy strategy, int layers, int kvHeads, AttentionKernel exactDecode, TensorOps ops) {
        this.strategy = strategy;
        this.ops = ops;
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.exactDecode = exactDecode;
        switch (strategy) {
            case Strategy.TidalDecode t -> {
                this.recording = new RecordingAttention(ops, exactDecode, RecordingAttention.withLocalWindow(t.selected()));
                int s = t.selectionLayerIndex(layers);
                int r = t.reselectionLayerIndex(layers);
                this.selectionLayer = s < layers ? s : -1;
                this.reselectionLayer = selectionLayer >= 0 && r > s && r < layers ? r : -1;
                this.stride = 0;
            }
            case Strategy.Recycled rc -> {
                this.recording = new RecordingAttention(ops, exactDecode, RecordingAttention.withLocalWindow(rc.selected()));
                this.selectionLayer = -1;
                this.reselectionLayer = -1;
                this.stride = rc.stride();
            }
            default -> throw new IllegalArgumentException("not a persistent-selection strategy: " + strategy.name());
        }
    }

    /** The rule the recording kernel selects with: the selection size with its forced sinks and window. */
    SelectedAttentionBudget recordingBudget() {
        return recording.budget();
    }

    /** TidalDecode's token-selection layer, or -1 (a model too shallow for it: every layer exact). */
    int selectionLayer() {
        return selectionLayer;
    }

    /** TidalDecode's re-selection layer, or -1. */
    int reselectionLayer() {
        return reselectionLayer;
    }

    /** The kernel for a decode step ({@code queryRows == 1}) of {@code layer}, or {@code chunk} for prompt chunks. */
    AttentionKernel kernel(SequenceKvCache cache, int layer, int queryRows, AttentionKernel chunk) {
        State st = state(cache);
        if (queryRows != 1) {
            st.decodeSteps = 0; // a new prompt chunk: Recycled Attention's next decode step is a full one
            return chunk;
        }
        return strategy instanceof Strategy.TidalDecode ? tidal(st, layer) : recycled(st, layer);
    }

    private AttentionKernel tidal(State st, int layer) {
        if (selectionLayer < 0 || layer < selectionLayer) {
            return exactDecode;
        }
        return layer == selectionLayer || layer == reselectionLayer ? st.record[0] : st.attend[0];
    }

    private AttentionKernel recycled(State st, int layer) {
        if (layer == 0) {
            st.full = st.decodeSteps % stride == 0;
            st.decodeSteps++;
        }
        return st.full ? st.record[layer] : st.attend[layer];
    }

    private State state(SequenceKvCache cache) {
        if (cache.planState() instanceof State st && st.owner == this) {
            return st;
        }
        State st = new State(this, strategy instanceof Strategy.TidalDecode ? 1 : layers);
        cache.planState(st);
        return st;
    }

    /** One sequence's selections and the kernels bound to them. */
    private static final class State {
        final PersistentSelectionPlan owner;
        final AttentionKernel[] record;
        final AttentionKernel[] attend;
        /** Decode steps since the last prompt chunk (Recycled Attention's schedule). */
        long decodeSteps;
        /** Whether the current decode step is a full one (Recycled Attention). */
        boolean full;

        State(PersistentSelectionPlan owner, int selections) {
            this.owner = owner;
            this.record = new AttentionKernel[selections];
            this.attend = new AttentionKernel[selections];
            // one sparse kernel (and its per-thread buffers) per sequence, bound to each selection in turn
            PersistentSelectionAttention sparse = new PersistentSelectionAttention(owner.ops);
            for (int i = 0; i < selections; i++) {
                PersistentSelection sel = new PersistentSelection(owner.kvHeads);
                record[i] = owner.recording.over(sel);
                attend[i] = sparse.over(sel);
            }
        }
    }
}
