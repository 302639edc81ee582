package dev.longctx.kvcache;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.PerHeadAttention;
import java.util.Objects;

/**
 * The retrieval-head split of DuoAttention (Xiao et al., 2024): a {@link HeadProfile} decides per
 * layer and KV head; retrieval heads keep the full cache, streaming heads keep {@code sinks} plus a
 * recent {@code window} (the StreamingLLM rule, applied per head).
 *
 * <ul>
 *   <li>Trigger: after every step or prefill chunk. Score: the profile's (fixed). Granularity:
 *       tokens, per KV head; fully evicted pages are released.</li>
 *   <li>Budget: unbounded for retrieval heads, {@code sinks + window} tokens for streaming heads.</li>
 *   <li>Positions: kept as cached.</li>
 * </ul>
 */
public final class RetrievalHeadPolicy implements EvictionPolicy {
    private final HeadProfile profile;
    private final StreamingLlmPolicy streaming;

    /** A split for {@code layout} (the profile must match it). */
    public RetrievalHeadPolicy(HeadProfile profile, KvLayout layout, int sinks, int window) {
        this.profile = Objects.requireNonNull(profile, "profile");
        profile.checkMatches(layout);
        this.streaming = new StreamingLlmPolicy(sinks, window);
    }

    /**
     * The attention kernel of one layer under this split: retrieval heads run {@code retrieval}
     * (exact, or a selection such as Quest: policies compose with kernels) with the causal mask;
     * streaming heads run {@code streaming} with a sliding-window + sinks mask, so they never
     * attend what the policy is about to evict.
     */
    public AttentionKernel kernelForLayer(int layer, AttentionKernel retrieval, AttentionKernel streaming) {
        Objects.requireNonNull(retrieval, "retrieval");
        Objects.requireNonNull(streaming, "streaming");
        AttentionMask window = AttentionMask.slidingWindow(this.streaming.window(), this.streaming.sinks());
        return new PerHeadAttention(
                h -> profile.role(layer, h) == HeadProfile.Role.RETRIEVAL ? retrieval : streaming,
                h -> profile.role(layer, h) == HeadProfile.Role.RETRIEVAL ? AttentionMask.CAUSAL : window);
    }

    @Override
    public String name() {
        return "duo";
    }

    @Override
    public int maxTokensPerHead() {
        return profile.retrievalHeads() > 0 ? Integer.MAX_VALUE : streaming.maxTokensPerHead();
    }

    @Override
    public void afterStep(SequenceKvCache cache, int layer) {
        for (int h = 0; h < cache.layout().kvHeads(); h++) {
            if (profile.role(layer, h) == HeadProfile.Role.STREAMING) {
                streaming.prune(cache, layer, h);
            }
        }
    }
}
