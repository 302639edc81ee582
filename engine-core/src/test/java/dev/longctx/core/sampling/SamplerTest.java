package dev.longctx.core.sampling;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

class SamplerTest {
    /** Logits whose softmax is exactly proportional to {@code probs}. */
    private static float[] logitsOf(double... probs) {
        float[] l = new float[probs.length];
        for (int i = 0; i < l.length; i++) {
            l[i] = (float) Math.log(probs[i]);
        }
        return l;
    }

    private static float[] randomLogits(int n, long seed) {
        Random r = new Random(seed);
        float[] l = new float[n];
        for (int i = 0; i < n; i++) {
            l[i] = (float) (3 * r.nextGaussian());
        }
        return l;
    }

    private static float[] probabilities(SamplerConfig c, float[] logits, int... history) {
        float[] out = new float[logits.length];
        new Sampler(c).probabilities(logits, 0, logits.length, history, history.length, out, 0);
        return out;
    }

    private static int[] kept(float[] probs) {
        return java.util.stream.IntStream.range(0, probs.length).filter(i -> probs[i] > 0).toArray();
    }

    @Test
    void greedyIsTheArgmaxWithTiesToTheLowestIdAndNaNIgnored() {
        Sampler s = new Sampler(SamplerConfig.greedy());
        assertEquals(1, s.sample(new float[] {0.1f, 2.5f, -1f, 2.5f, 0.3f}, 0, 5, null, 0));
        assertEquals(2, s.sample(new float[] {Float.NaN, 1f, 3f, Float.NaN}, 0, 4, null, 0));
        // offset: the row starts at 2
        assertEquals(1, s.sample(new float[] {99f, 99f, 0f, 5f, 1f}, 2, 3, null, 0));
        float[] big = randomLogits(5000, 1);
        int expected = 0;
        for (int i = 1; i < big.length; i++) {
            if (big[i] > big[expected]) {
                expected = i;
            }
        }
        assertEquals(expected, s.sample(big, 0, big.length, null, 0));
    }

    @Test
    void sameSeedSameSequenceDifferentSeedDifferentSequence() {
        SamplerConfig c = SamplerConfig.sampling(1234).withTemperature(0.9f).withTopK(20).withTopP(0.95f);
        int[] a = draw(c, 200);
        int[] b = draw(c, 200);
        int[] other = draw(c.withSeed(1235), 200);
        assertArrayEquals(a, b);
        // 200 draws over a flat-ish 64-token distribution: equal sequences have probability ~1e-300
        assertNotEquals(Arrays.toString(a), Arrays.toString(other));
    }

    private static int[] draw(SamplerConfig c, int n) {
        Sampler s = new Sampler(c);
        float[] logits = randomLogits(64, 9);
        for (int i = 0; i < logits.length; i++) {
            logits[i] *= 0.3f; // flatten so that many tokens are likely
        }
        int[] out = new int[n];
        for (int i = 0; i < n; i++) {
            out[i] = s.sample(logits, 0, logits.length, out, i);
        }
        return out;
    }

    @Test
    void topKOfOneIsGreedy() {
        Sampler greedy = new Sampler(SamplerConfig.greedy());
        Sampler top1 = new Sampler(SamplerConfig.sampling(5).withTopK(1).withTemperature(1.7f));
        for (int row = 0; row < 100; row++) {
            float[] l = randomLogits(1000, 100 + row);
            assertEquals(greedy.sample(l, 0, l.length, null, 0), top1.sample(l, 0, l.length, null, 0), "row " + row);
        }
    }

    @Test
    void plainSamplingFollowsTheSoftmax() {
        float[] logits = {1.0f, 0.5f, 0f, -0.5f, -1f, 2.0f, -3f, 0.25f};
        double[] p = new double[logits.length];
        double z = 0;
        for (int i = 0; i < p.length; i++) {
            p[i] = Math.exp(logits[i]);
            z += p[i];
        }
        Sampler s = new Sampler(SamplerConfig.sampling(2024));
        int n = 20_000;
        int[] count = new int[logits.length];
        for (int i = 0; i < n; i++) {
            count[s.sample(logits, 0, logits.length, null, 0)]++;
        }
        for (int i = 0; i < p.length; i++) {
            double pi = p[i] / z;
            // a count is Binomial(n, p): its frequency has standard deviation sqrt(p(1-p)/n),
            // at most 3.5e-3 here; 5 sigma fails a correct sampler with probability ~6e-7 per token
            double sigma = Math.sqrt(pi * (1 - pi) / n);
            assertEquals(pi, (double) count[i] / n, 5 * sigma, "token " + i + " (p = " + pi + ")");
        }
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        float[] l = logitsOf(0.5, 0.3, 0.15, 0.05);
        SamplerConfig c = SamplerConfig.sampling(1);
        assertArrayEquals(new int[] {0}, kept(probabilities(c.withTopP(0.45f), l)));
        float[] two = probabilities(c.withTopP(0.75f), l);
        assertArrayEquals(new int[] {0, 1}, kept(two));
        assertEquals(0.625f, two[0], 1e-6f); // 0.5 / 0.8, renormalised
        assertEquals(0.375f, two[1], 1e-6f);
        assertArrayEquals(new int[] {0, 1, 2}, kept(probabilities(c.withTopP(0.9f), l)));
        assertArrayEquals(new int[] {0, 1, 2, 3}, kept(probabilities(c.withTopP(0.99f), l)));
        // order in the array does not matter: the same set when shuffled
        float[] shuffled = {l[3], l[1], l[0], l[2]};
        assertArrayEquals(new int[] {1, 2}, kept(probabilities(c.withTopP(0.75f), shuffled)));
        // never fewer than one, however small topP is
        assertArrayEquals(new int[] {0}, kept(probabilities(c.withTopP(1e-6f), l)));
    }

    @Test
    void topKKeepsTiesWithTheKthLargestAsHuggingFace() {
        SamplerConfig c = SamplerConfig.sampling(1);
        float[] l = {1f, 3f, 3f, 2f};
        assertArrayEquals(new int[] {1, 2}, kept(probabilities(c.withTopK(2), l)));
        assertArrayEquals(new int[] {1, 2, 3}, kept(probabilities(c.withTopK(3), l)));
        float[] ties = {3f, 3f, 3f, 1f};
        assertArrayEquals(new int[] {0, 1, 2}, kept(probabilities(c.withTopK(2), ties)));
        assertArrayEquals(new int[] {0, 1, 2, 3}, kept(probabilities(c.withTopK(10), ties)));
    }

    @Test
    void topKOnALargeVocabularyKeepsExactlyK() {
        float[] l = randomLogits(150_000, 3); // distinct values almost surely
        float[] p = probabilities(SamplerConfig.sampling(1).withTopK(40), l);
        int[] k = kept(p);
        assertEquals(40, k.length);
        float[] sorted = l.clone();
        Arrays.sort(sorted);
        float fortieth = sorted[sorted.length - 40];
        for (int t : k) {
            assertTrue(l[t] >= fortieth);
        }
    }

    @Test
    void minPDropsTokensBelowAFractionOfTheTopProbability() {
        float[] l = logitsOf(0.5, 0.3, 0.15, 0.05);
        SamplerConfig c = SamplerConfig.sampling(1);
        assertArrayEquals(new int[] {0, 1, 2}, kept(probabilities(c.withMinP(0.2f), l)));   // cut at 0.10
        assertArrayEquals(new int[] {0, 1}, kept(probabilities(c.withMinP(0.35f), l)));     // cut at 0.175
        assertArrayEquals(new int[] {0}, kept(probabilities(c.withMinP(0.61f), l)));        // cut at 0.305
        assertArrayEquals(new int[] {0, 1, 2, 3}, kept(probabilities(c.withMinP(0.05f), l))); // cut at 0.025
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOncePerToken() {
        float[] l = {2.0f, -1.0f, 0.5f, 3.0f};
        SamplerConfig c = SamplerConfig.sampling(1).withRepetitionPenalty(2f);
        // token 1 appears twice but is penalised once, as HF's gather/scatter does
        assertArrayEquals(new float[] {1.0f, -2.0f, 0.5f, 3.0f},
                new Sampler(c).adjustedScores(l, 0, 4, new int[] {0, 1, 1}, 3));
        // a window of 1 looks at the last token only
        assertArrayEquals(new float[] {2.0f, -2.0f, 0.5f, 3.0f},
                new Sampler(c.withRepetitionWindow(1)).adjustedScores(l, 0, 4, new int[] {0, 1, 1}, 3));
        // historyLength limits the valid part of the array
        assertArrayEquals(new float[] {1.0f, -1.0f, 0.5f, 3.0f},
                new Sampler(c).adjustedScores(l, 0, 4, new int[] {0, 1, 1}, 1));
        // the temperature comes after the penalty
        assertArrayEquals(new float[] {2.0f, -4.0f, 1.0f, 6.0f},
                new Sampler(c.withTemperature(0.5f)).adjustedScores(l, 0, 4, new int[] {0, 1}, 2));

        // and it changes greedy choices both ways
        Sampler g = new Sampler(SamplerConfig.greedy().withRepetitionPenalty(2f));
        assertEquals(1, g.sample(new float[] {3.0f, 2.0f}, 0, 2, new int[] {0}, 1));    // 3 / 2 = 1.5 < 2
        assertEquals(1, g.sample(new float[] {-1.0f, -1.5f}, 0, 2, new int[] {0}, 1));  // -1 * 2 = -2 < -1.5
        assertEquals(0, g.sample(new float[] {3.0f, 2.0f}, 0, 2, new int[] {1}, 1));
    }

    @Test
    void theCallersLogitsAreNeverModified() {
        float[] l = randomLogits(500, 4);
        l[7] = Float.NaN;
        l[8] = Float.NEGATIVE_INFINITY;
        float[] copy = l.clone();
        int[] history = {1, 2, 3, 7, 9};
        SamplerConfig c = new SamplerConfig(0.7f, 50, 0.9f, 0.05f, 1.3f, 0, 11);
        Sampler s = new Sampler(c);
        for (int i = 0; i < 20; i++) {
            s.sample(l, 0, l.length, history, history.length);
        }
        new Sampler(SamplerConfig.greedy().withRepetitionPenalty(1.5f)).sample(l, 0, l.length, history, 5);
        s.probabilities(l, 0, l.length, history, 5, new float[l.length], 0);
        assertArrayEquals(copy, l);
    }

    @Test
    void positiveInfinityWinsAndNaNNeverDoes() {
        Sampler s = new Sampler(SamplerConfig.sampling(3));
        float[] l = {0f, Float.POSITIVE_INFINITY, 1f, Float.POSITIVE_INFINITY, Float.NaN};
        for (int i = 0; i < 100; i++) {
            int t = s.sample(l, 0, l.length, null, 0);
            assertTrue(t == 1 || t == 3, "got " + t);
        }
        float[] p = probabilities(SamplerConfig.sampling(3), new float[] {Float.NaN, 0f, Float.NaN});
        assertArrayEquals(new float[] {0f, 1f, 0f}, p);
    }

    @Test
    void badConfigsAreRejected() {
        assertMessage(() -> SamplerConfig.greedy().withTemperature(-1f), "temperature must be finite and >= 0");
        assertMessage(() -> SamplerConfig.greedy().withTemperature(Float.NaN), "temperature");
        assertMessage(() -> SamplerConfig.greedy().withTopK(-1), "topK must be >= 0");
        assertMessage(() -> SamplerConfig.greedy().withTopP(0f), "topP must be in (0, 1]");
        assertMessage(() -> SamplerConfig.greedy().withTopP(1.5f), "topP must be in (0, 1]");
        assertMessage(() -> SamplerConfig.greedy().withMinP(1f), "minP must be in [0, 1)");
        assertMessage(() -> SamplerConfig.greedy().withMinP(-0.1f), "minP must be in [0, 1)");
        assertMessage(() -> SamplerConfig.greedy().withRepetitionPenalty(0f), "repetitionPenalty must be finite and > 0");
        assertMessage(() -> SamplerConfig.greedy().withRepetitionWindow(-3), "repetitionWindow must be >= 0");
    }

    @Test
    void badSampleArgumentsAreRejected() {
        Sampler s = new Sampler(SamplerConfig.sampling(1).withRepetitionPenalty(1.2f));
        float[] l = {1f, 2f, 3f};
        assertMessage(() -> s.sample(l, 0, 0, null, 0), "vocab must be > 0");
        assertMessage(() -> s.sample(l, 1, 3, null, 0), "logits range [1, 4) is outside the array of length 3");
        assertMessage(() -> s.sample(l, 0, 3, new int[] {5}, 1), "history[0] = 5 is outside the vocabulary [0, 3)");
        assertMessage(() -> s.sample(l, 0, 3, new int[] {1}, 2), "historyLength 2");
        float[] dead = {Float.NaN, Float.NEGATIVE_INFINITY};
        assertMessage(() -> s.sample(dead, 0, 2, null, 0), "all 2 logits are NaN or -infinity");
        assertMessage(() -> new Sampler(SamplerConfig.greedy()).sample(dead, 0, 2, null, 0), "NaN or -infinity");
    }

    private static void assertMessage(Runnable r, String fragment) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should contain '" + fragment + "'");
    }
}
