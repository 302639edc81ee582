package dev.longctx.attention;

/**
 * How many keys a top-k selected kernel ({@link QuestAttention}, {@link TokenSelectAttention})
 * lets one query row attend per KV head, and which keys it keeps whatever their score.
 *
 * <p>The budget counts every attended key, the forced ones included: sinks and the recent window
 * are taken first and the best-scored keys (or pages) fill the rest. When the forced keys alone
 * exceed the budget they are all kept and nothing else is (the budget is then a soft limit).
 * Sinks and window are positions, as in {@link AttentionMask}: a key is a sink when its position
 * is below {@code sinks}, and recent when {@code 0 <= qPos - kPos < window}.
 *
 * @param budget keys attended per query row and KV head (Quest rounds it up to whole pages)
 * @param sinks keys with position below this are always kept (attention sinks; 0 for none)
 * @param window keys within this many positions before the query are always kept (0 for none)
 */
public record SelectedAttentionBudget(int budget, int sinks, int window) {
    /** StreamingLLM's four sink tokens (Xiao et al., 2023), enough for the models it studied. */
    public static final int DEFAULT_SINKS = 4;
    /**
     * One page of the 64-token pages the benchmarks use: the tokens just generated, which local
     * heads attend whatever the query, so they are never left to the selection.
     */
    public static final int DEFAULT_WINDOW = 64;

    /** Validates the counts, naming the argument. */
    public SelectedAttentionBudget {
        if (budget <= 0) {
            throw new IllegalArgumentException("selected attention: budget must be positive (keys per query row and "
                    + "KV head), got " + budget);
        }
        if (sinks < 0) {
            throw new IllegalArgumentException("selected attention: sinks must be >= 0, got " + sinks);
        }
        if (window < 0) {
            throw new IllegalArgumentException("selected attention: window must be >= 0, got " + window);
        }
    }

    /** A budget of {@code budget} keys with {@link #DEFAULT_SINKS} sinks and a {@link #DEFAULT_WINDOW} window. */
    public static SelectedAttentionBudget of(int budget) {
        return new SelectedAttentionBudget(budget, DEFAULT_SINKS, DEFAULT_WINDOW);
    }

    /** Whether a key at {@code kPos} is a sink. */
    boolean isSink(long kPos) {
        return kPos < sinks;
    }

    /** Whether a key at {@code kPos} is in the recent window of a query at {@code qPos}. */
    boolean isRecent(long qPos, long kPos) {
        return kPos <= qPos && qPos - kPos < window;
    }

    /** Whether some key in {@code [kLo, kHi]} is a sink or recent for a query at {@code qPos}. */
    boolean forcesAny(long qPos, long kLo, long kHi) {
        if (kLo < sinks) {
            return true;
        }
        // The page meets [qPos - window + 1, qPos].
        return window > 0 && kLo <= qPos && kHi > qPos - window;
    }
}
