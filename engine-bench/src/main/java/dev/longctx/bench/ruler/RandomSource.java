package dev.longctx.bench.ruler;

import java.util.SplittableRandom;

/**
 * The random draws the task generator makes, one method per kind of draw of
 * {@code tools/retrieval-model/train.py}'s numpy generator, so that a recorded sequence of numpy's
 * draws can be replayed (the generator check) and a seeded Java source used otherwise.
 */
public interface RandomSource {
    /** A uniform integer in {@code [lo, hi)} (numpy {@code integers(lo, hi)}). */
    long integers(long lo, long hi);

    /** A uniform double in {@code [0, 1)} (numpy {@code random()}). */
    double random();

    /** {@code size} distinct indices of {@code [0, n)} in random order (numpy {@code choice(n, size, replace=False)}). */
    int[] choice(int n, int size);

    /** A random permutation of {@code 0..n-1} (numpy {@code permutation}). */
    int[] permutation(int n);

    /**
     * A seeded source on {@link SplittableRandom}: the same distributions as numpy's, not the same
     * stream (numpy's PCG64 draws are not reproduced; the training seeds can therefore never recur).
     */
    static RandomSource seeded(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        return new RandomSource() {
            @Override
            public long integers(long lo, long hi) {
                return r.nextLong(lo, hi);
            }

            @Override
            public double random() {
                return r.nextDouble();
            }

            @Override
            public int[] choice(int n, int size) {
                if (size > n) {
                    throw new IllegalArgumentException("choice of " + size + " from " + n);
                }
                int[] p = permutation(n);
                return java.util.Arrays.copyOf(p, size);
            }

            @Override
            public int[] permutation(int n) {
                int[] p = new int[n];
                for (int i = 0; i < n; i++) {
                    p[i] = i;
                }
                for (int i = n - 1; i > 0; i--) {
                    int j = r.nextInt(i + 1);
                    int t = p[i];
                    p[i] = p[j];
                    p[j] = t;
                }
                return p;
            }
        };
    }
}
