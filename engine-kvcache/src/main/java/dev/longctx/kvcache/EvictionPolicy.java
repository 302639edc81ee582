package dev.longctx.kvcache;

import dev.longctx.attention.AttentionObserver;

/**
 * Decides what a sequence's KV cache forgets. A decoder calls, per layer and step:
 * append the token's keys and values, run attention with {@link #observer} (null for policies that
 * need no probabilities), then {@link #afterStep}.
 *
 * <p>Each policy declares its {@link #positions() position mode}: whether cached keys keep their
 * original positions (cached after RoPE, gaps allowed, as H2O, SnapKV, Quest and DuoAttention do)
 * or are re-assigned contiguous positions inside the cache (StreamingLLM's way, which lets a model
 * run past its trained length; see {@link SequenceKvCache#reposition}).
 */
public interface EvictionPolicy {

    /** How cached keys' positions evolve under a policy. */
    enum Positions {
        /** Keys keep the positions they were rotated at; evictions leave gaps. */
        ORIGINAL,
        /** After evicting, kept keys are re-rotated to contiguous positions 0..n-1. */
        CONTIGUOUS
    }

    /** The policy's position mode (ORIGINAL unless it says otherwise). */
    default Positions positions() {
        return Positions.ORIGINAL;
    }

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
