package dev.longctx.kvcache;

import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.KvView;
import java.util.Objects;

/**
 * MoA's profile, the scoring half (Fu et al., 2024, "MoA", section 4: each head's candidate
 * attention rules are scored on calibration data): while a model runs exact attention on its own
 * task instances, every step's probabilities are reported here, and for each layer, KV head and
 * candidate elastic rule {@code (alpha_c, beta_c)} the attention mass the rule's mask would drop is
 * summed: the probability of every key at a position {@code >= sinks} that the mask
 * {@link AttentionMask#elasticWindow alpha_c + beta_c * (t + 1)} hides from the step's query at
 * position {@code t}. MoA itself estimates the loss from gradients of the model's loss with respect to
 * the attention matrix; the dropped attention mass is the first-order proxy used here (no backward
 * pass in this engine). {@link #losses} is the mean dropped mass per query head and step, in [0, 1].
 *
 * <p>Use: per step {@link #beginStep} with the query's position, the attention of every layer
 * with {@link #observer}, then {@link #endStep}. Thread-safe for the kernels' pool threads.
 */
public final class WindowLossScorer {
    private final int layers;
    private final int kvHeads;
    private final int group;
    private final int sinks;
    private final AttentionMask[] candidates;
    private final double[][][] lost;
    private long queryPosition = -1;
    private int steps;

    /**
     * @param layers model layers
     * @param kvHeads KV heads per layer
     * @param group query heads per KV head
     * @param sinks initial tokens every rule keeps
     * @param alpha the candidates' windows at length 0
     * @param beta the candidates' growth per token (same length as {@code alpha})
     */
    public WindowLossScorer(int layers, int kvHeads, int group, int sinks, long[] alpha, double[] beta) {
        Objects.requireNonNull(alpha, "alpha");
        Objects.requireNonNull(beta, "beta");
        if (layers < 1 || kvHeads < 1 || group < 1 || alpha.length == 0 || alpha.length != beta.length) {
            throw new IllegalArgumentException("MoA scorer: layers " + layers + ", kvHeads " + kvHeads + ", group " + group
                    + ", " + alpha.length + " alphas and " + beta.length + " betas (all >= 1, as many of each)");
        }
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.group = group;
        this.sinks = sinks;
        this.candidates = new AttentionMask[alpha.length];
        for (int c = 0; c < alpha.length; c++) {
            candidates[c] = AttentionMask.elasticWindow(alpha[c], beta[c], sinks);
        }
        this.lost = new double[layers][kvHeads][alpha.length];
    }

    /** Starts a step whose query sits at {@code position}. */
    public synchronized void beginStep(long position) {
        if (position < 0) {
            throw new IllegalArgumentException("MoA scorer: query position " + position + " < 0");
        }
        queryPosition = position;
    }

    /** The observer for {@code layer}'s attention in this step; {@code views} are that layer's KV views. */
    public AttentionObserver observer(int layer, KvView[] views) {
        if (layer < 0 || layer >= layers || views.length != kvHeads) {
            throw new IllegalArgumentException("MoA scorer: layer " + layer + " with " + views.length + " views, expected a layer in [0, "
                    + layers + ") and " + kvHeads + " views");
        }
        long t;
        synchronized (this) {
            if (queryPosition < 0) {
                throw new IllegalStateException("MoA scorer: beginStep first");
            }
            t = queryPosition;
        }
        long[] windows = new long[candidates.length];
        for (int c = 0; c < candidates.length; c++) {
            windows[c] = candidates[c].windowAt(t);
        }
        return (row, queryHead, kvHead, page, probabilities, count) -> {
            if (row != 0) {
                return; // a decoding step has one query row
            }
            double[] local = new double[windows.length];
            KvView v = views[kvHead];
            for (int s = 0; s < count; s++) {
                long pos = v.position(page, s);
                if (pos < sinks || probabilities[s] == 0f) {
                    continue;
                }
                long distance = t - pos;
                for (int c = 0; c < windows.length; c++) {
                    if (distance >= windows[c]) {
                        local[c] += probabilities[s];
                    }
                }
            }
            add(layer, kvHead, local);
        };
    }

    private synchronized void add(int layer, int kvHead, double[] local) {
        for (int c = 0; c < local.length; c++) {
            lost[layer][kvHead][c] += local[c];
        }
    }

    /** Ends the step. */
    public synchronized void endStep() {
        steps++;
        queryPosition = -1;
    }

    /** Mean dropped attention mass per query head and step, [layers][kvHeads][candidates]. */
    public synchronized double[][][] losses() {
        double[][][] out = new double[layers][kvHeads][candidates.length];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                for (int c = 0; c < candidates.length; c++) {
                    out[l][h][c] = steps == 0 ? 0 : lost[l][h][c] / ((double) steps * group);
                }
            }
        }
        return out;
    }
}
