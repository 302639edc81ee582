package dev.longctx.core.sampling;

/**
 * SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number generators", OOPSLA
 * 2014; the finaliser constants are Stafford's "Mix13"). Written out here rather than taken from
 * {@link java.util.random.RandomGenerator} so that a seed gives the same sequence on every JDK
 * version and in any port of this code: the whole algorithm is the few lines below.
 *
 * <p>Not thread-safe; one instance per generation stream.
 */
public final class SeededRandom {
    /** The golden-ratio increment 2^64 / phi, odd, as in SplitMix64. */
    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;
    /** 2^-24: one unit in the last place of a float in [0.5, 1). */
    private static final float FLOAT_UNIT = 0x1.0p-24f;
    /** 2^-53: one unit in the last place of a double in [0.5, 1). */
    private static final double DOUBLE_UNIT = 0x1.0p-53;

    private long state;

    /** A generator whose sequence is fully determined by {@code seed}. */
    public SeededRandom(long seed) {
        this.state = seed;
    }

    /** The next 64 uniformly distributed bits. */
    public long nextLong() {
        long z = (state += GOLDEN_GAMMA);
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** Uniform in [0, 1), from the top 24 bits: every value is a multiple of 2^-24. */
    public float nextFloat() {
        return (nextLong() >>> 40) * FLOAT_UNIT;
    }

    /** Uniform in [0, 1), from the top 53 bits: every value is a multiple of 2^-53. */
    public double nextDouble() {
        return (nextLong() >>> 11) * DOUBLE_UNIT;
    }
}
