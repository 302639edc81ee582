package dev.longctx.kvcache;

import java.util.Arrays;

/**
 * Per-token entropies of one sequence, by position, for {@link SirLlmPolicy}: the surprisal
 * {@code -ln p(x_t | x_<t)} the model gave each token when it was prefilled or generated.
 * Unknown positions (not yet scored, or before the first scored one) read as NaN. Kept as the
 * cache's {@link SequenceKvCache#planState()}; a fork gets a copy.
 *
 * <p>Threading: belongs to one sequence, used by one thread at a time.
 */
public final class TokenEntropies implements SequenceKvCache.ForkableState {
    private float[] values = new float[0];

    /** The entropies of {@code cache}'s sequence, created (empty) on first use. */
    public static TokenEntropies of(SequenceKvCache cache) {
        if (cache.planState() instanceof TokenEntropies t) {
            return t;
        }
        TokenEntropies t = new TokenEntropies();
        cache.planState(t);
        return t;
    }

    /** Records the entropy of the token at {@code position}. */
    public void record(long position, float entropy) {
        if (position < 0 || position >= Integer.MAX_VALUE) {
            throw new IllegalArgumentException("token entropies: position " + position + " outside [0, " + Integer.MAX_VALUE + ")");
        }
        int p = (int) position;
        if (p >= values.length) {
            int old = values.length;
            values = Arrays.copyOf(values, Math.max(p + 1, 2 * old));
            Arrays.fill(values, old, values.length, Float.NaN);
        }
        values[p] = entropy;
    }

    /** The entropy of the token at {@code position}, or NaN when unknown. */
    public float get(long position) {
        return position >= 0 && position < values.length ? values[(int) position] : Float.NaN;
    }

    @Override
    public Object forkState() {
        TokenEntropies t = new TokenEntropies();
        t.values = values.clone();
        return t;
    }
}
