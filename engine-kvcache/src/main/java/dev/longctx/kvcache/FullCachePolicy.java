package dev.longctx.kvcache;

/**
 * No eviction: every token stays. Running out of the pool's budget is a
 * {@link KvCacheFullException} naming the budget and the bytes needed, thrown before anything is
 * written. Positions: original.
 */
public record FullCachePolicy() implements EvictionPolicy {

    @Override
    public String name() {
        return "full";
    }

    @Override
    public void afterStep(SequenceKvCache cache, int layer) {
        // Nothing to evict.
    }

    @Override
    public int maxTokensPerHead() {
        return Integer.MAX_VALUE;
    }
}
