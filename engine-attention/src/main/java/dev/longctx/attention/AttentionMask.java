package dev.longctx.attention;

/**
 * Which keys a query may attend, by position: causal (key position at most the query position),
 * optionally restricted to a sliding window of the most recent {@code window} positions plus
 * {@code sinks} attention-sink positions at the start (StreamingLLM; Xiao et al., 2023).
 *
 * <p>Position-based masks are what make the tiled kernels fast: a page whose position range the
 * mask excludes for a whole block of queries is skipped without being read ({@link #mayAttend}).
 *
 * @param causal whether keys after the query are masked (the decoder case)
 * @param window 0 for no window; else a key is visible only if {@code qPos - kPos < window}
 * @param sinks keys with {@code kPos < sinks} stay visible whatever the window (0 for none)
 */
public record AttentionMask(boolean causal, long window, long sinks) {

    /** Causal attention over everything before the query (bottom-right aligned). */
    public static final AttentionMask CAUSAL = new AttentionMask(true, 0, 0);
    /** No mask at all. */
    public static final AttentionMask NONE = new AttentionMask(false, 0, 0);

    public AttentionMask {
        if (window < 0 || sinks < 0) {
            throw new IllegalArgumentException("mask: window and sinks must be >= 0, got window=" + window
                    + " sinks=" + sinks);
        }
    }

    /** Causal with a sliding window of {@code window} positions and {@code sinks} sink positions. */
    public static AttentionMask slidingWindow(long window, long sinks) {
        if (window < 1) {
            throw new IllegalArgumentException("mask: window must be >= 1, got " + window);
        }
        return new AttentionMask(true, window, sinks);
    }

    /** Whether a query at {@code qPos} attends the key at {@code kPos}. */
    public boolean allows(long qPos, long kPos) {
        if (causal && kPos > qPos) {
            return false;
        }
        if (window > 0 && kPos >= sinks && qPos - kPos >= window) {
            return false;
        }
        return true;
    }

    /**
     * Whether some query with position in {@code [qLo, qHi]} may attend some key with position in
     * {@code [kLo, kHi]}; false means the whole tile is masked and can be skipped.
     */
    public boolean mayAttend(long qLo, long qHi, long kLo, long kHi) {
        if (causal && kLo > qHi) {
            return false;
        }
        if (window > 0 && kLo >= sinks && qLo - kHi >= window) {
            return false;
        }
        return true;
    }

    /** Whether every query in {@code [qLo, qHi]} attends every key in {@code [kLo, kHi]}. */
    public boolean attendsAll(long qLo, long qHi, long kLo, long kHi) {
        if (causal && kHi > qLo) {
            return false;
        }
        if (window > 0 && !(kHi < sinks) && qHi - kLo >= window) {
            return false;
        }
        return true;
    }
}
