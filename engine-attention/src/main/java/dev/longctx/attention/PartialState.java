package dev.longctx.attention;

/**
 * The merge operator on partial attention states (FlashInfer's "attention state", Ye et al.,
 * 2024): a state over a key set I is its output {@code v(I) = sum_i softmax_I(s_i) v_i} and its
 * log-sum-exp {@code s(I) = log sum_i e^{s_i}} (natural log). Two states over disjoint key sets
 * merge exactly into the state over their union:
 * {@code s = log(e^{s_A} + e^{s_B})}, {@code v = (e^{s_A} v_A + e^{s_B} v_B) / e^{s}}.
 * The operator is commutative and associative (up to rounding), which is what lets split-K decode
 * and sink + window + selected attention be computed piecewise.
 *
 * <p>An empty set has {@code s = -infinity} and any {@code v}; merging with it is the identity.
 */
public final class PartialState {
    private PartialState() {
    }

    /**
     * Merges state B into state A in place: {@code a[aOff..aOff+d)} becomes the merged output.
     *
     * @return the merged log-sum-exp
     */
    public static float merge(float[] a, int aOff, float lseA, float[] b, int bOff, float lseB, int d) {
        if (lseB == Float.NEGATIVE_INFINITY) {
            return lseA;
        }
        if (lseA == Float.NEGATIVE_INFINITY) {
            System.arraycopy(b, bOff, a, aOff, d);
            return lseB;
        }
        float m = Math.max(lseA, lseB);
        // Shifted by the larger lse so neither exponent overflows.
        float wa = (float) Math.exp(lseA - m);
        float wb = (float) Math.exp(lseB - m);
        float sum = wa + wb;
        float ca = wa / sum;
        float cb = wb / sum;
        for (int i = 0; i < d; i++) {
            a[aOff + i] = ca * a[aOff + i] + cb * b[bOff + i];
        }
        return m + (float) Math.log(sum);
    }
}
