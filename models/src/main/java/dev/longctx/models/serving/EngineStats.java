package dev.longctx.models.serving;

/**
 * A snapshot of a {@link ServingEngine}'s state and counters. Immutable.
 *
 * @param waiting requests submitted and not admitted yet (preempted ones included)
 * @param running sequences admitted (holding or about to hold pages)
 * @param pagesUsed KV pages referenced (by sequences or the prefix cache)
 * @param pagesFree KV pages the budget can still hand out
 * @param pagesCached KV pages held by the prefix cache (some also used by sequences)
 * @param prefixLookupTokens prompt tokens looked up in the prefix cache
 * @param prefixHitTokens of those, tokens found (their prefill skipped)
 * @param prefillTokens prompt tokens run through the model (recomputation after preemption included)
 * @param decodeTokens tokens generated
 * @param completed requests ended (any finish reason, errors included)
 * @param preemptions sequences preempted
 * @param steps batched forward steps run
 */
public record EngineStats(int waiting, int running, int pagesUsed, int pagesFree, int pagesCached, long prefixLookupTokens,
                          long prefixHitTokens, long prefillTokens, long decodeTokens, long completed, long preemptions, long steps) {

    /** Hit tokens over looked-up tokens, 0 before any lookup. */
    public double prefixHitRate() {
        return prefixLookupTokens == 0 ? 0 : prefixHitTokens / (double) prefixLookupTokens;
    }
}
