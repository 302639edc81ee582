package dev.longctx.kvcache;

import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.KvView;
import java.util.Objects;
import java.util.function.LongToIntFunction;

/**
 * The Retrieval-Head score (Wu et al., 2024, "Retrieval Head Mechanistically Explains
 * Long-Context Factuality"), accumulated from the attention kernels' observations while a model
 * copies a needle from its context: at each decoding step, a query head gains {@code 1/|needle|}
 * when its top-1 attended key lies inside the needle and holds the token being generated. A KV
 * head's score is the mean over the query heads of its group (per KV head, because the cache's
 * policies act per KV head). Turn scores into roles with {@link HeadProfile#byThreshold} or
 * {@link HeadProfile#byFraction}.
 *
 * <p>This is the scoring half of the head profiler. Driving a model over synthetic needle prompts
 * (prefill, then greedy decode of the needle with these observers on every layer) belongs to the
 * models module, which owns the decoder.
 *
 * <p>Use: {@link #startNeedle} per prompt, then per decoding step {@link #beginStep}, the attention
 * of every layer with {@link #observer}, and {@link #endStep}. Thread-safe for the kernels' pool
 * threads.
 */
public final class RetrievalHeadScorer {
    private final int layers;
    private final int kvHeads;
    private final int group;
    private final double[][] scores;
    /** Per layer and query head: top-1 probability and position of this step. */
    private final float[][] bestProbability;
    private final long[][] bestPosition;
    private long needleStart;
    private long needleEnd;
    private LongToIntFunction tokenAt;
    private int generated = -1;

    /**
     * @param layers model layers
     * @param kvHeads KV heads per layer
     * @param group query heads per KV head
     */
    public RetrievalHeadScorer(int layers, int kvHeads, int group) {
        if (layers < 1 || kvHeads < 1 || group < 1) {
            throw new IllegalArgumentException("retrieval scorer: layers, kvHeads and group must be >= 1, got " + layers
                    + ", " + kvHeads + ", " + group);
        }
        this.layers = layers;
        this.kvHeads = kvHeads;
        this.group = group;
        this.scores = new double[layers][kvHeads];
        this.bestProbability = new float[layers][kvHeads * group];
        this.bestPosition = new long[layers][kvHeads * group];
    }

    /**
     * Starts a needle: it occupies cache positions {@code [start, end)}, and {@code tokenAt} gives
     * the token id at a cache position.
     */
    public synchronized void startNeedle(long start, long end, LongToIntFunction tokenAt) {
        if (start < 0 || end <= start) {
            throw new IllegalArgumentException("retrieval scorer: needle span [" + start + ", " + end + ") is empty");
        }
        this.needleStart = start;
        this.needleEnd = end;
        this.tokenAt = Objects.requireNonNull(tokenAt, "tokenAt");
    }

    /** Starts a decoding step that generates {@code token}. */
    public synchronized void beginStep(int token) {
        if (tokenAt == null) {
            throw new IllegalStateException("retrieval scorer: startNeedle first");
        }
        generated = token;
        for (float[] row : bestProbability) {
            java.util.Arrays.fill(row, -1f);
        }
    }

    /** The observer for {@code layer}'s attention in this step; {@code views} are that layer's KV views. */
    public AttentionObserver observer(int layer, KvView[] views) {
        if (layer < 0 || layer >= layers || views.length != kvHeads) {
            throw new IllegalArgumentException("retrieval scorer: layer " + layer + " with " + views.length
                    + " views, expected a layer in [0, " + layers + ") and " + kvHeads + " views");
        }
        return (row, queryHead, kvHead, page, probabilities, count) -> {
            if (row != 0) {
                return; // a decoding step has one query row
            }
            int bestSlot = -1;
            float best = -1f;
            for (int s = 0; s < count; s++) {
                if (probabilities[s] > best) {
                    best = probabilities[s];
                    bestSlot = s;
                }
            }
            if (bestSlot >= 0) {
                offer(layer, queryHead, best, views[kvHead].position(page, bestSlot));
            }
        };
    }

    private synchronized void offer(int layer, int queryHead, float probability, long position) {
        // Ties keep the earlier position, whatever order pages arrive in.
        float current = bestProbability[layer][queryHead];
        if (probability > current || (probability == current && position < bestPosition[layer][queryHead])) {
            bestProbability[layer][queryHead] = probability;
            bestPosition[layer][queryHead] = position;
        }
    }

    /** Ends the step: every query head whose top-1 key copies the generated token scores. */
    public synchronized void endStep() {
        double gain = 1.0 / (needleEnd - needleStart) / group;
        for (int l = 0; l < layers; l++) {
            for (int qh = 0; qh < kvHeads * group; qh++) {
                long pos = bestPosition[l][qh];
                if (bestProbability[l][qh] >= 0 && pos >= needleStart && pos < needleEnd
                        && tokenAt.applyAsInt(pos) == generated) {
                    scores[l][qh / group] += gain;
                }
            }
        }
    }

    /** Accumulated scores, [layers][kvHeads] (one needle copied perfectly by every head of a group gives 1). */
    public synchronized float[][] scores() {
        float[][] out = new float[layers][kvHeads];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < kvHeads; h++) {
                out[l][h] = (float) scores[l][h];
            }
        }
        return out;
    }
}
