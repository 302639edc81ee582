package dev.longctx.kvcache;

import java.util.Arrays;

/**
 * Metadata of one page, kept up to date on append: slots used, the position and validity of each
 * slot, and the per-channel min and max of the stored keys (Quest's page bounds). The bounds are
 * recomputed lazily, when read after a write (most pages never change again, and appends stay
 * cheap); they cover every stored key, evicted ones included, so they always bound the valid keys.
 *
 * <p>Not thread-safe: written only by the sequence that owns the page exclusively (a shared page is
 * copied before a write).
 */
final class PageMeta {
    final long[] positions;
    final boolean[] valid;
    final float[] keyMin;
    final float[] keyMax;
    /**
     * Accumulated attention probability per slot (H2O's heavy-hitter score), summed over the query
     * heads of the group and over steps; written under the owning sequence's monitor. Allocated on
     * first use, so caches without a scoring policy carry no score memory.
     */
    float[] score;
    int count;
    int invalid;
    /** Whether keys were written since {@link #keyMin}/{@link #keyMax} were last computed. */
    boolean boundsDirty;

    PageMeta(int pageSize, int headDim) {
        positions = new long[pageSize];
        valid = new boolean[pageSize];
        keyMin = new float[headDim];
        keyMax = new float[headDim];
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
        boundsDirty = false;
        Arrays.fill(valid, false);
        score = null;
        Arrays.fill(keyMin, Float.POSITIVE_INFINITY);
        Arrays.fill(keyMax, Float.NEGATIVE_INFINITY);
    }

    void copyFrom(PageMeta o) {
        System.arraycopy(o.positions, 0, positions, 0, positions.length);
        System.arraycopy(o.valid, 0, valid, 0, valid.length);
        System.arraycopy(o.keyMin, 0, keyMin, 0, keyMin.length);
        System.arraycopy(o.keyMax, 0, keyMax, 0, keyMax.length);
        score = o.score == null ? null : o.score.clone();
        count = o.count;
        invalid = o.invalid;
        boundsDirty = o.boundsDirty;
    }
}
