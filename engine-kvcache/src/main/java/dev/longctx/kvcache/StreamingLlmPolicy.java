package dev.longctx.kvcache;

import dev.longctx.core.rope.Rope;
import dev.longctx.core.rope.RopePairing;

/**
 * StreamingLLM (Xiao et al., 2023, "Efficient Streaming Language Models with Attention Sinks"):
 * keep the first {@code sinks} cached tokens (attention sinks) and the most recent {@code window};
 * evict everything in between.
 *
 * <ul>
 *   <li>Trigger: every step, once a head holds more than {@code sinks + window} valid tokens.</li>
 *   <li>Score: none (position only). Granularity: tokens, per KV head; pages whose tokens are all
 *       evicted are released, so in steady state whole pages leave the cache.</li>
 *   <li>Protected: the sinks and the window. Budget: {@code sinks + window} tokens per head.</li>
 *   <li>Positions: {@link Positions#ORIGINAL} by default; with a {@link Rope} given
 *       ({@link #contiguous}), kept keys are re-rotated to contiguous positions after each
 *       eviction, as in the paper, so a model can keep generating past its trained length (the
 *       decoder then rotates each new token at the position {@link SequenceKvCache#reposition}
 *       returned, which equals the head's valid length).</li>
 * </ul>
 *
 * @param sinks attention-sink tokens kept at the start (paper default 4)
 * @param window most recent tokens kept
 * @param rope the model's RoPE for contiguous positions, or null to keep original positions
 * @param pairing the model's RoPE pairing (with {@code rope})
 */
public record StreamingLlmPolicy(int sinks, int window, Rope rope, RopePairing pairing) implements EvictionPolicy {
    /** The paper's number of sink tokens. */
    public static final int DEFAULT_SINKS = 4;

    public StreamingLlmPolicy {
        if (sinks < 0 || window < 1) {
            throw new IllegalArgumentException("StreamingLLM: sinks must be >= 0 and window >= 1, got sinks=" + sinks
                    + " window=" + window);
        }
        if ((rope == null) != (pairing == null)) {
            throw new IllegalArgumentException("StreamingLLM: give both rope and pairing for contiguous positions, or neither");
        }
    }

    /** Original positions kept. */
    public StreamingLlmPolicy(int sinks, int window) {
        this(sinks, window, null, null);
    }

    /** Contiguous positions: kept keys are re-rotated after each eviction. */
    public static StreamingLlmPolicy contiguous(int sinks, int window, Rope rope, RopePairing pairing) {
        return new StreamingLlmPolicy(sinks, window, java.util.Objects.requireNonNull(rope, "rope"),
                java.util.Objects.requireNonNull(pairing, "pairing"));
    }

    @Override
    public Positions positions() {
        return rope == null ? Positions.ORIGINAL : Positions.CONTIGUOUS;
    }

    @Override
    public String name() {
        return "streaming";
    }

    @Override
    public int maxTokensPerHead() {
        return sinks + window;
    }

    @Override
    public void afterStep(SequenceKvCache cache, int layer) {
        for (int h = 0; h < cache.layout().kvHeads(); h++) {
            prune(cache, layer, h);
        }
    }

    /** Applies the rule to one KV head (the retrieval-head split uses it on streaming heads). */
    void prune(SequenceKvCache cache, int layer, int h) {
        int excess = cache.validLength(layer, h) - sinks - window;
        boolean evicted = excess > 0;
        // The oldest non-sink tokens go first: walk valid tokens in order, skip the sinks.
        int rank = 0;
        for (int p = 0; excess > 0 && p < cache.pages(layer, h); p++) {
            var view = cache.view(layer, h);
            int before = cache.pages(layer, h);
            for (int s = 0; excess > 0 && s < view.pageLength(p); s++) {
                if (!view.isValid(p, s)) {
                    continue;
                }
                if (rank++ < sinks) {
                    continue;
                }
                cache.evict(layer, h, p, s);
                excess--;
                if (cache.pages(layer, h) < before) {
                    p--; // the page was released; the next page moved into its index
                    break;
                }
            }
        }
        if (evicted && rope != null) {
            cache.reposition(layer, h, 0, rope, pairing);
        }
    }
}
