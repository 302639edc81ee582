package dev.longctx.attention;

/**
 * Which keys a query may attend, by position: causal (key position at most the query position),
 * optionally restricted to a sliding window of the most recent {@code window} positions plus
 * {@code sinks} attention-sink positions at the start (StreamingLLM; Xiao et al., 2023).
 *
 * <p>Position-based masks are what make the tiled kernels fast: a page whose position range the
 * mask excludes for a whole block of queries is skipped without being read ({@link #mayAttend}).
 *
 * <p><b>Elastic windows</b> (MoA, Fu et al., 2024: a head's window grows with the input length,
 * {@code S = alpha + beta * N}): with {@code growth > 0} the window of a query at position
 * {@code qPos} is {@code window + floor(growth * (qPos + 1))}, the rule at the length so far
 * ({@code qPos + 1} tokens). With {@code growth <= 1} that window grows by at most one position per
 * position, so the oldest visible key never moves back: a key hidden from one query stays hidden
 * from every later one, and a cache may evict it (see {@link #windowAt}).
 *
 * @param causal whether keys after the query are masked (the decoder case)
 * @param window 0 for no window; else a key is visible only if {@code qPos - kPos < window}
 *     (plus the growth below)
 * @param sinks keys with {@code kPos < sinks} stay visible whatever the window (0 for none)
 * @param growth the window's growth per token of length, in [0, 1] (0: a fixed window)
 */
public record AttentionMask(boolean causal, long window, long sinks, double growth) {

    /** Causal attention over everything before the query (bottom-right aligned). */
    public static final AttentionMask CAUSAL = new AttentionMask(true, 0, 0);
    /** No mask at all. */
    public static final AttentionMask NONE = new AttentionMask(false, 0, 0);

    public AttentionMask {
        if (window < 0 || sinks < 0) {
            throw new IllegalArgumentException("mask: window and sinks must be >= 0, got window=" + window
                    + " sinks=" + sinks);
        }
        if (!(growth >= 0 && growth <= 1) || (growth > 0 && window == 0)) {
            throw new IllegalArgumentException("mask: growth must be in [0, 1] and needs a window >= 1, got growth=" + growth
                    + " window=" + window);
        }
    }

    /** A fixed mask: causal or not, with a window of {@code window} positions (0: none) and {@code sinks}. */
    public AttentionMask(boolean causal, long window, long sinks) {
        this(causal, window, sinks, 0);
    }

    /**
     * Causal with an elastic window (MoA's {@code alpha + beta * N} at the length so far, see the
     * class comment) and {@code sinks} sink positions.
     *
     * @param alpha the window at length 0, at least 1
     * @param beta growth per token of length, in [0, 1]
     */
    public static AttentionMask elasticWindow(long alpha, double beta, long sinks) {
        if (alpha < 1) {
            throw new IllegalArgumentException("mask: elastic window alpha must be >= 1, got " + alpha);
        }
        return new AttentionMask(true, alpha, sinks, beta);
    }

    /**
     * The window of a query at position {@code qPos}: {@code window + floor(growth * (qPos + 1))}
     * ({@code window} for a fixed one; 0: none).
     */
    public long windowAt(long qPos) {
        return growth == 0 ? window : window + (long) Math.floor(growth * (qPos + 1));
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
        if (window > 0 && kPos >= sinks && qPos - kPos >= windowAt(qPos)) {
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
        if (window > 0 && kLo >= sinks && qLo - kHi >= windowAt(qLo)) { // qPos - windowAt(qPos) never decreases
            return false;
        }
        return true;
    }

    /** Whether every query in {@code [qLo, qHi]} attends every key in {@code [kLo, kHi]}. */
    public boolean attendsAll(long qLo, long qHi, long kLo, long kHi) {
        if (causal && kHi > qLo) {
            return false;
        }
        if (window > 0 && !(kHi < sinks) && qHi - kLo >= windowAt(qHi)) {
            return false;
        }
        return true;
    }
}
