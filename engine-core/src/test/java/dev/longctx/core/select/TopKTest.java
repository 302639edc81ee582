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
