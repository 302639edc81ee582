package dev.longctx.attention;

/**
 * The span steps of HiP's hierarchical top-k (Lee et al., 2024), shared by the page-granularity
 * {@link HipEstimator} and the token-granularity {@link HipTokenSelection}: the initial cut of
 * {@code [0, n)} into {@code k} equal spans, and one round of halving. Spans are half-open index
 * ranges held in parallel {@code lo}/{@code hi} arrays, in increasing order; scoring and keeping
 * the best halves stay with the callers (their representatives and scores differ).
 *
 * <p>Stateless; thread-safe.
 */
final class HipSpans {
    private HipSpans() {
    }

    /** Writes the {@code k} equal spans {@code [j n / k, (j + 1) n / k)} of {@code [0, n)} into {@code lo}/{@code hi}. */
    static void initial(int n, int k, int[] lo, int[] hi) {
        for (int j = 0; j < k; j++) {
            lo[j] = (int) ((long) j * n / k);
            hi[j] = (int) ((long) (j + 1) * n / k);
        }
    }

    /**
     * One round of the hierarchy: each of the first {@code spans} spans of two or more units is
     * split into {@code [lo, lo + ceil(len / 2))} and the rest, a one-unit span is kept as it is
     * (an empty one is dropped); the children go, in order, into {@code cLo}/{@code cHi} (room for
     * {@code 2 * spans}).
     *
     * @return the number of children, or -1 when no span had two or more units (the search is done)
     */
    static int halve(int[] lo, int[] hi, int spans, int[] cLo, int[] cHi) {
        boolean split = false;
        int c = 0;
        for (int j = 0; j < spans; j++) {
            int len = hi[j] - lo[j];
            if (len > 1) {
                int mid = lo[j] + (len + 1) / 2;
                cLo[c] = lo[j];
                cHi[c++] = mid;
                cLo[c] = mid;
                cHi[c++] = hi[j];
                split = true;
            } else if (len == 1) {
                cLo[c] = lo[j];
                cHi[c++] = hi[j];
            }
        }
        return split ? c : -1;
    }
}
