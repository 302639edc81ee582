package dev.longctx.kvcache;

import dev.longctx.attention.AttentionObserver;

/**
 * H2O (Zhang et al., 2023, "H2O: Heavy-Hitter Oracle for Efficient Generative Inference"): keep
 * the {@code heavy} tokens that have received the most attention so far plus the {@code recent}
 * most recent tokens.
 *
 * <ul>
 *   <li>Score: the attention probability a cached key has received, accumulated over steps and
 *       summed over the query heads of its group (fed by {@link #observer}). Kept keys keep their
 *       scores.</li>
 *   <li>Trigger: every step, once a head holds more than {@code heavy + recent} valid tokens; the
 *       lowest-scoring token outside the recent window is evicted (ties: the oldest), one at a time
 *       until the budget holds.</li>
 *   <li>Granularity: tokens, per KV head; fully evicted pages are released.</li>
 *   <li>Protected: the recent window. Budget: {@code heavy + recent} tokens per head.</li>
 *   <li>Positions: kept as cached (post-RoPE, gaps allowed), as in the reference code.</li>
 * </ul>
 *
 * @param heavy heavy-hitter tokens kept
 * @param recent most recent tokens kept
 */
public record H2oPolicy(int heavy, int recent) implements EvictionPolicy {

    public H2oPolicy {
        if (heavy < 0 || recent < 1) {
            throw new IllegalArgumentException("H2O: heavy must be >= 0 and recent >= 1, got heavy=" + heavy + " recent="
                    + recent);
        }
    }

    @Override
    public String name() {
        return "h2o";
    }

    @Override
    public int maxTokensPerHead() {
        return heavy + recent;
    }

    @Override
    public AttentionObserver observer(SequenceKvCache cache, int layer) {
        return (row, queryHead, kvHead, page, probabilities, count) ->
                cache.addScores(layer, kvHead, page, probabilities, count);
    }

    @Override
    public void afterStep(SequenceKvCache cache, int layer) {
        for (int h = 0; h < cache.layout().kvHeads(); h++) {
            while (cache.validLength(layer, h) > heavy + recent) {
                evictLowest(cache, layer, h);
            }
        }
    }

    /** Evicts the valid token with the lowest score among all but the last {@code recent} valid ones. */
    private void evictLowest(SequenceKvCache cache, int layer, int head) {
        int[] victim = cache.lowestScore(layer, head, cache.validLength(layer, head) - recent);
        cache.evict(layer, head, victim[0], victim[1]);
    }
}
