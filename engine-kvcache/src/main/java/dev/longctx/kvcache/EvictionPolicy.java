package dev.longctx.kvcache;

import dev.longctx.attention.AttentionObserver;

/**
 * Decides what a sequence's KV cache forgets. A decoder calls, per layer and step:
 * append the token's keys and values, run attention with {@link #observer} (null for policies that
 * need no probabilities), then {@link #afterStep}.
 *
 * <p>Policies here keep the original positions of cached keys (keys cached after RoPE, gaps
 * allowed), as H2O, SnapKV, Quest and DuoAttention do.
 */
public interface EvictionPolicy {

    /** A short name for logs and benchmark tables. */
    String name();

    /** The observer to pass to the attention kernel of {@code layer}, or null. */
    default AttentionObserver observer(SequenceKvCache cache, int layer) {
        return null;
    }

    /** Evicts what the policy's rule says after a step of {@code layer}. */
    void afterStep(SequenceKvCache cache, int layer);

    /** Tokens the policy keeps per KV head at most (its protected sets included); MAX_VALUE for none. */
    int maxTokensPerHead();
}
