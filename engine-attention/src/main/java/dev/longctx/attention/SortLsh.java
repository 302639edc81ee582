package dev.longctx.attention;

import java.util.SplittableRandom;

/**
 * The random parts of HyperAttention (Han et al., 2023, "sortLSH"), shared by the
 * kernel and its test's naive reference so that both draw the same numbers for a seed: angular LSH
 * by {@code r} Gaussian hyperplanes, bucket ranks in Gray-code order (neighbouring ranks differ in
 * one hyperplane, so sorting by rank puts similar vectors next to each other), and the uniform
 * column samples of one (KV head, key range). Stateless; thread-safe.
 */
final class SortLsh {
    /** Golden-ratio increment of SplittableRandom, to spread (head, range) pairs over seeds. */
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private SortLsh() {
    }

    /** {@code r x d} standard Gaussian hyperplanes from {@code seed}. */
    static float[] planes(long seed, int r, int d) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] out = new float[r * d];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) rnd.nextGaussian();
        }
        return out;
    }

    /**
     * The sortLSH rank of vector {@code x[off..off+d)}: bit i is {@code x . plane_i > 0} (a plain
     * float sum in index order, so every caller computes the same sign), and the code's rank in
     * Gray-code order is its inverse Gray code.
     */
    static int rank(float[] planes, int r, float[] x, int off, int d) {
        int code = 0;
        for (int i = 0; i < r; i++) {
            float s = 0f;
            for (int c = 0; c < d; c++) {
                s += x[off + c] * planes[i * d + c];
            }
            if (s > 0f) {
                code |= 1 << i;
            }
        }
        int rank = code;
        for (int shift = code >> 1; shift != 0; shift >>= 1) {
            rank ^= shift;
        }
        return rank;
    }

    /**
     * {@code m} key indices drawn uniformly with replacement from {@code [lo, hi)}, for one KV head's
     * sampled columns over that key range.
     */
    static int[] samples(long seed, int kvHead, int lo, int hi, int m) {
        long s = seed + GOLDEN * (1 + kvHead) + 31L * lo + 1_000_003L * hi;
        SplittableRandom rnd = new SplittableRandom(s);
        int[] out = new int[m];
        for (int i = 0; i < m; i++) {
            out[i] = rnd.nextInt(lo, hi);
        }
        return out;
    }

    /** Sorts {@code idx} by (key[idx], idx) ascending: a stable order for equal ranks. */
    static void sortByRank(int[] idx, int[] key) {
        long[] packed = new long[idx.length];
        for (int i = 0; i < idx.length; i++) {
            packed[i] = ((long) key[i] << 32) | (idx[i] & 0xffffffffL);
        }
        java.util.Arrays.sort(packed);
        for (int i = 0; i < idx.length; i++) {
            idx[i] = (int) packed[i];
        }
    }
}
