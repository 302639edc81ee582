package dev.longctx.kvcache;

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
 *   <li>Positions: kept as cached (the paper's re-assignment to contiguous positions, which lets a
 *       model run past its trained length, needs keys cached before RoPE; not implemented yet).</li>
 * </ul>
 *
 * @param sinks attention-sink tokens kept at the start (paper default 4)
 * @param window most recent tokens kept
 */
public record StreamingLlmPolicy(int sinks, int window) implements EvictionPolicy {
    /** The paper's number of sink tokens. */
    public static final int DEFAULT_SINKS = 4;

    public StreamingLlmPolicy {
        if (sinks < 0 || window < 1) {
            throw new IllegalArgumentException("StreamingLLM: sinks must be >= 0 and window >= 1, got sinks=" + sinks
                    + " window=" + window);
        }
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
    }
}
