package dev.longctx.core.select;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.BitSet;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The one top-k rule against its naive reference (sort by key, then index) at awkward sizes, ties, NaN and infinities. */
class TopKTest {

    private static boolean[] bits(BitSet b, int n) {
        boolean[] out = new boolean[n];
        for (int i = 0; i < n; i++) {
            out[i] = b.get(i);
        }
        return out;
    }

    @Test
    void equalsTheReferenceOnRandomScoresWithTiesNanAndInfinities() {
        SplittableRandom r = new SplittableRandom(11);
        double[] scratch = new double[0];
        BitSet chosen = new BitSet();
        for (int trial = 0; trial < 2000; trial++) {
            int n = 1 + r.nextInt(300);
            double[] d = new double[n];
            float[] f = new float[n];
            for (int i = 0; i < n; i++) {
                double v = switch (r.nextInt(12)) {
                    case 0 -> Double.NaN;
                    case 1 -> Double.POSITIVE_INFINITY;
                    case 2 -> Double.NEGATIVE_INFINITY;
                    case 3 -> 0.0;
                    case 4 -> -0.0;
                    case 5, 6 -> r.nextInt(4); // many ties
                    default -> r.nextDouble() * 10 - 5;
                };
                d[i] = v;
                f[i] = (float) v;
            }
            int k = r.nextInt(n + 3) - 1;
            scratch = TopK.scratch(scratch, n);
            TopK.mark(d, n, k, scratch, chosen);
            assertArrayEquals(TopK.reference(d, n, k), bits(chosen, n), "doubles, n=" + n + " k=" + k);
            double[] fd = new double[n];
            for (int i = 0; i < n; i++) {
                fd[i] = f[i];
            }
            TopK.mark(f, n, k, scratch, chosen);
            assertArrayEquals(TopK.reference(fd, n, k), bits(chosen, n), "floats, n=" + n + " k=" + k);
            assertArrayEquals(TopK.reference(fd, n, k), TopK.flags(f, n, k));
        }
    }

    /**
     * The radix select ({@link TopK#markFlags}) chooses exactly what the reference does: random
     * scores with ties, NaN, infinities and signed zeros; scores that differ only in their last
     * mantissa bits (every digit of the select decides); softmax-like probabilities of a 16,000-key
     * cache; sizes 1 to 20,000 and k from -1 to n + 1.
     */
    @Test
    void markFlagsEqualsTheReference() {
        SplittableRandom r = new SplittableRandom(12);
        int[] scratch = new int[0];
        for (int trial = 0; trial < 600; trial++) {
            int n = trial % 50 == 0 ? 16000 + r.nextInt(4000) : 1 + r.nextInt(trial % 3 == 0 ? 3000 : 300);
            float[] f = new float[n];
            int kind = trial % 4;
            float base = (float) (r.nextDouble() * 1e-3);
            for (int i = 0; i < n; i++) {
                f[i] = switch (kind) {
                    case 0 -> switch (r.nextInt(12)) {
                        case 0 -> Float.NaN;
                        case 1 -> Float.POSITIVE_INFINITY;
                        case 2 -> Float.NEGATIVE_INFINITY;
                        case 3 -> 0f;
                        case 4 -> -0f;
                        case 5, 6 -> r.nextInt(4) - 2; // many ties
                        default -> (float) (r.nextDouble() * 10 - 5);
                    };
                    // neighbours in the last bits of one float, negative ones too
                    case 1 -> Float.intBitsToFloat(Float.floatToRawIntBits(r.nextBoolean() ? base : -base) + r.nextInt(5000));
                    // probabilities of a peaked softmax over the keys
                    case 2 -> (float) Math.exp(-8 * r.nextDouble() * r.nextDouble()) / n;
                    default -> r.nextInt(7) == 0 ? Float.NEGATIVE_INFINITY : (float) r.nextGaussian();
                };
            }
            int k = switch (r.nextInt(4)) {
                case 0 -> r.nextInt(n + 3) - 1;
                case 1 -> n / 8;
                case 2 -> n - 1;
                default -> 1;
            };
            double[] fd = new double[n];
            for (int i = 0; i < n; i++) {
                fd[i] = f[i];
            }
            scratch = TopK.scratch(scratch, n);
            boolean[] chosen = new boolean[n + 1];
            chosen[n] = true; // past n: untouched
            TopK.markFlags(f, n, k, scratch, chosen);
            assertArrayEquals(TopK.reference(fd, n, k), java.util.Arrays.copyOf(chosen, n), "kind " + kind + ", n=" + n + " k=" + k);
            assertEquals(true, chosen[n]);
        }
    }

    @Test
    void floatKeysOrderLikeTheScores() {
        float[] ordered = {Float.NEGATIVE_INFINITY, -Float.MAX_VALUE, -1f, -Float.MIN_VALUE, 0f, Float.MIN_VALUE, 1e-30f, 1f,
            Float.MAX_VALUE, Float.POSITIVE_INFINITY};
        for (int i = 0; i + 1 < ordered.length; i++) {
            assertEquals(true, TopK.floatKey(ordered[i]) < TopK.floatKey(ordered[i + 1]), ordered[i] + " < " + ordered[i + 1]);
        }
        assertEquals(TopK.floatKey(0f), TopK.floatKey(-0f));
        assertEquals(TopK.floatKey(Float.POSITIVE_INFINITY), TopK.floatKey(Float.NaN));
    }

    @Test
    void theRuleItself() {
        // NaN ranks as +infinity; equal scores take the lower index; -0 equals +0
        assertArrayEquals(new boolean[] {false, true, true, false}, TopK.flags(new float[] {1, Float.NaN, 5, 5}, 4, 2));
        assertArrayEquals(new boolean[] {true, false, false}, TopK.flags(new float[] {-0f, 0f, -1f}, 3, 1));
        assertArrayEquals(new boolean[] {true, true}, TopK.flags(new float[] {1, 2}, 2, 5));
        assertArrayEquals(new boolean[] {false, false}, TopK.flags(new float[] {1, 2}, 2, 0));
        // eligibility is the caller's: only positive scores, at most k of them, indices increasing
        assertArrayEquals(new int[] {1, 4}, TopK.indices(new double[] {0, 3, -1, Double.NaN, 7, 2}, 2, s -> s > 0));
        assertArrayEquals(new int[] {1, 4, 5}, TopK.indices(new double[] {0, 3, -1, Double.NaN, 7, 2}, 9, s -> s > 0));
        assertEquals(0, TopK.indices(new double[] {0, -1}, 3, s -> s > 0).length);
    }
}
