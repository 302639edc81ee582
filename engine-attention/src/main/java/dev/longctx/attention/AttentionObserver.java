package dev.longctx.attention;

/**
 * Receives the exact normalised attention probabilities a kernel computed, for policies that
 * score tokens (H2O, SnapKV) and for head profiling. Kernels call it once per (query row, query
 * head, page) with the probabilities of that page's slots; the probabilities of one query row and
 * head sum to 1 over all pages (0 over a fully masked row).
 *
 * <p>Calls for one kernel invocation may come from several threads at once (different query heads
 * or pages); implementations must be thread-safe for that, e.g. by writing to disjoint slots.
 */
@FunctionalInterface
public interface AttentionObserver {

    /**
     * @param queryRow index of the query token within the block (0..Lq-1)
     * @param queryHead query head (0..Hq-1)
     * @param kvHead the KV head it reads (queryHead / group size)
     * @param page page index in that head's view
     * @param probabilities probabilities of slots {@code 0..count-1} of the page (invalid or masked
     *     slots are 0); the array is reused after the call returns
     * @param count used slots of the page
     */
    void observe(int queryRow, int queryHead, int kvHead, int page, float[] probabilities, int count);
}
