package dev.longctx.kvcache;

import java.util.Arrays;

/**
 * Metadata of one page, kept up to date on append: slots used and the position and validity of
 * each slot. What kernels read for every page (counts, position range, Quest's key bounds) is also
 * summarised per block table in contiguous arrays ({@link PageSummaries}).
 *
 * <p>Not thread-safe: written only by the sequence that owns the page exclusively (a shared page is
 * copied before a write).
 */
final class PageMeta {
    final long[] positions;
    final boolean[] valid;
    /**
     * Accumulated attention probability per slot (H2O's heavy-hitter score), summed over the query
     * heads of the group and over steps; written under the owning sequence's monitor. Allocated on
     * first use, so caches without a scoring policy carry no score memory.
     */
    float[] score;
    int count;
    int invalid;

    PageMeta(int pageSize) {
        positions = new long[pageSize];
        valid = new boolean[pageSize];
        reset();
    }

    /** The score array, allocated on first use. */
    float[] scores() {
        if (score == null) {
            score = new float[positions.length];
        }
        return score;
    }

    void reset() {
        count = 0;
        invalid = 0;
        Arrays.fill(valid, false);
        score = null;
    }

    void copyFrom(PageMeta o) {
        System.arraycopy(o.positions, 0, positions, 0, positions.length);
        System.arraycopy(o.valid, 0, valid, 0, valid.length);
        score = o.score == null ? null : o.score.clone();
        count = o.count;
        invalid = o.invalid;
    }
}
