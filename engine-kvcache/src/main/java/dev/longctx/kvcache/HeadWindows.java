package dev.longctx.kvcache;

import dev.longctx.attention.AttentionMask;
import java.util.Arrays;
import java.util.Objects;

/**
 * MoA's heterogeneous attention spans (Fu et al., 2024, "MoA: Mixture of Sparse Attention for
 * Automatic Large Language Model Compression"): per layer and KV head an elastic rule
 * {@code S = alpha + beta * N}, the sliding window a head attends at input length {@code N}, plus
 * {@code sinks} initial tokens every head keeps. Here {@code N} is the length so far: a query at
 * position {@code t} attends the sinks and the keys within {@code alpha + floor(beta * (t + 1))}
 * positions of it ({@link AttentionMask#elasticWindow}), which at the prompt's last token is MoA's
 * rule at the prompt's length. Usually made by {@link MoaProfile#fit}.
 *
 * <p>Threading: immutable.
 */
public final class HeadWindows {
    private final int sinks;
    private final long[][] alpha;
    private final double[][] beta;

    /**
     * @param sinks initial tokens every head keeps
     * @param alpha per layer and KV head, the window at length 0 (at least 1)
     * @param beta per layer and KV head, the growth per token of length, in [0, 1]
     */
    public HeadWindows(int sinks, long[][] alpha, double[][] beta) {
        Objects.requireNonNull(alpha, "alpha");
        Objects.requireNonNull(beta, "beta");
        if (sinks < 0) {
            throw new IllegalArgumentException("MoA sinks must be >= 0, got " + sinks);
        }
        if (alpha.length == 0 || alpha.length != beta.length) {
            throw new IllegalArgumentException("MoA windows: " + alpha.length + " layers of alpha, " + beta.length + " of beta");
        }
        this.sinks = sinks;
        this.alpha = new long[alpha.length][];
        this.beta = new double[alpha.length][];
        for (int l = 0; l < alpha.length; l++) {
            if (alpha[l].length == 0 || alpha[l].length != alpha[0].length || beta[l].length != alpha[l].length) {
                throw new IllegalArgumentException("MoA windows: layer " + l + " has " + alpha[l].length + " alphas and "
                        + beta[l].length + " betas, layer 0 " + alpha[0].length);
            }
            for (int h = 0; h < alpha[l].length; h++) {
                if (alpha[l][h] < 1 || !(beta[l][h] >= 0 && beta[l][h] <= 1)) {
                    throw new IllegalArgumentException("MoA window of layer " + l + " head " + h + ": alpha " + alpha[l][h]
                            + " (>= 1), beta " + beta[l][h] + " (in [0, 1])");
                }
            }
            this.alpha[l] = alpha[l].clone();
            this.beta[l] = beta[l].clone();
        }
    }

    /** Every head the same rule (for tests and as a uniform baseline). */
    public static HeadWindows uniform(int layers, int kvHeads, int sinks, long alpha, double beta) {
        long[][] a = new long[layers][kvHeads];
        double[][] b = new double[layers][kvHeads];
        for (int l = 0; l < layers; l++) {
            Arrays.fill(a[l], alpha);
            Arrays.fill(b[l], beta);
        }
        return new HeadWindows(sinks, a, b);
    }

    /** Layers. */
    public int layers() {
        return alpha.length;
    }

    /** KV heads per layer. */
    public int kvHeads() {
        return alpha[0].length;
    }

    /** Initial tokens every head keeps. */
    public int sinks() {
        return sinks;
    }

    /** The window at length 0 of a head. */
    public long alpha(int layer, int head) {
        return alpha[layer][head];
    }

    /** The growth per token of a head. */
    public double beta(int layer, int head) {
        return beta[layer][head];
    }

    /** The head's mask: causal, its elastic window and the sinks. */
    public AttentionMask mask(int layer, int head) {
        return AttentionMask.elasticWindow(alpha[layer][head], beta[layer][head], sinks);
    }

    /** Tokens the head holds at most after {@code n} tokens: sinks plus the window of the next query, at most {@code n}. */
    public long tokensAt(int layer, int head, long n) {
        return Math.min(n, sinks + mask(layer, head).windowAt(n));
    }

    /** Throws unless the windows are for {@code layout}'s layers and KV heads. */
    public void checkMatches(KvLayout layout) {
        if (layers() != layout.layers() || kvHeads() != layout.kvHeads()) {
            throw new IllegalArgumentException("MoA windows for " + layers() + " layers x " + kvHeads() + " KV heads, the model has "
                    + layout.layers() + " x " + layout.kvHeads());
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof HeadWindows w && w.sinks == sinks && Arrays.deepEquals(w.alpha, alpha) && Arrays.deepEquals(w.beta, beta);
    }

    @Override
    public int hashCode() {
        return Objects.hash(sinks, Arrays.deepHashCode(alpha), Arrays.deepHashCode(beta));
    }

    @Override
    public String toString() {
        StringBuilder b = new StringBuilder("HeadWindows[sinks=").append(sinks);
        for (int l = 0; l < layers(); l++) {
            b.append(l == 0 ? "; " : " | ");
            for (int h = 0; h < kvHeads(); h++) {
                b.append(h == 0 ? "" : ", ").append(alpha[l][h]).append('+').append(beta[l][h]).append('N');
            }
        }
        return b.append(']').toString();
    }
}
