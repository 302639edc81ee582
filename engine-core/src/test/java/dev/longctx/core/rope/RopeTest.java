package dev.longctx.core.rope;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Properties of the rotation itself: layouts, norms, composition, partial rotary and bad input. */
class RopeTest {
    private static final int HEAD = 64;
    private static final int HEADS = 3;

    private static Rope yarn() {
        // attention factor 1.139, so any leak of it into rotateBy would show
        return new Rope(HEAD, HEAD, 10000, new RopeScaling.Yarn(4, 4096), 16384);
    }

    private static float[] random(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** ROTATE_HALF index of the element that ADJACENT stores at {@code j} (within the rotary part). */
    private static int halfIndex(int j, int rotaryDim) {
        return (j & 1) == 0 ? j / 2 : j / 2 + rotaryDim / 2;
    }

    @Test
    void adjacentAndRotateHalfAgreeUnderThePermutation() {
        int rotary = 48; // partial: the last 16 elements of each head must pass through
        Rope rope = new Rope(rotary, HEAD, 500000, new RopeScaling.Llama3(8, 1, 4, 8192), 131072);
        float[] adjacent = random(HEAD * HEADS, 1);
        float[] half = new float[adjacent.length];
        for (int h = 0; h < HEADS; h++) {
            for (int j = 0; j < HEAD; j++) {
                int to = j < rotary ? halfIndex(j, rotary) : j;
                half[h * HEAD + to] = adjacent[h * HEAD + j];
            }
        }
        float[] original = adjacent.clone();
        rope.rotateHeads(adjacent, 0, HEADS, 1234, 1235, RopePairing.ADJACENT);
        rope.rotateHeads(half, 0, HEADS, 1234, 1235, RopePairing.ROTATE_HALF);
        for (int h = 0; h < HEADS; h++) {
            for (int j = 0; j < HEAD; j++) {
                int to = j < rotary ? halfIndex(j, rotary) : j;
                // same pairs, same float operations: bit-identical
                assertEquals(adjacent[h * HEAD + j], half[h * HEAD + to], 0f, "head " + h + " element " + j);
                if (j >= rotary) {
                    assertEquals(original[h * HEAD + j], adjacent[h * HEAD + j], 0f, "non-rotary element " + j + " changed");
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(RopePairing.class)
    void rotationPreservesEveryPairNorm(RopePairing pairing) {
        Rope rope = Rope.standard(HEAD, 10000, 4096);
        float[] x = random(HEAD, 2);
        float[] y = x.clone();
        rope.rotateHeads(y, 0, 1, 777, 778, pairing);
        for (int i = 0; i < HEAD / 2; i++) {
            int a = pairing == RopePairing.ADJACENT ? 2 * i : i;
            int b = pairing == RopePairing.ADJACENT ? 2 * i + 1 : i + HEAD / 2;
            double before = Math.hypot(x[a], x[b]);
            double after = Math.hypot(y[a], y[b]);
            // four float roundings and |cos|,|sin| <= 1 with cos^2 + sin^2 = 1 within 2 ulps
            assertEquals(before, after, 1e-6 * Math.max(1, before), "pair " + i);
        }
    }

    @Test
    void yarnAttentionFactorScalesTheNormInRotateHeads() {
        Rope rope = yarn();
        float[] x = random(HEAD, 3);
        float[] y = x.clone();
        rope.rotateHeads(y, 0, 1, 5, 6, RopePairing.ROTATE_HALF);
        double af = rope.attentionFactor();
        assertEquals(0.1 * Math.log(4) + 1, af, 1e-6);
        assertEquals(norm(x) * af, norm(y), 1e-5 * norm(y));
    }

    @ParameterizedTest
    @EnumSource(RopePairing.class)
    void rotateByComposes(RopePairing pairing) {
        Rope rope = yarn();
        float[] x = random(HEAD * HEADS, 4);
        float[] ab = x.clone();
        rope.rotateBy(ab, 0, HEADS, 123_456, pairing);
        rope.rotateBy(ab, 0, HEADS, -98_765, pairing);
        float[] sum = x.clone();
        rope.rotateBy(sum, 0, HEADS, 123_456 - 98_765, pairing);
        assertClose(sum, ab, 1e-5, "rotateBy(a) then rotateBy(b) vs rotateBy(a + b)");
        assertEquals(norm(x), norm(ab), 1e-5 * norm(x), "rotateBy must not apply the attention factor");
        // and back to the start
        rope.rotateBy(ab, 0, HEADS, -(123_456 - 98_765), pairing);
        assertClose(x, ab, 1e-5, "rotating back by -(a + b)");
    }

    @ParameterizedTest
    @EnumSource(RopePairing.class)
    void rotateByOfAPositionedVectorEqualsTheLaterPosition(RopePairing pairing) {
        Rope rope = Rope.standard(HEAD, 10000, 4096);
        float[] x = random(HEAD * HEADS, 5);
        // small positions: the HF float32 angle p * inv_freq is exact to about 14 * 2^-24 rad
        float[] moved = x.clone();
        rope.rotateHeads(moved, 0, HEADS, 3, 4, pairing);
        rope.rotateBy(moved, 0, HEADS, 11, pairing);
        float[] direct = x.clone();
        rope.rotateHeads(direct, 0, HEADS, 14, 15, pairing);
        assertClose(direct, moved, 1e-5, "rotateBy(11) after position 3 vs position 14");

        // large positions: rotateHeads uses HF's float32 angle, which is itself only accurate to
        // half an ulp of p * inv_freq, i.e. up to 10050 * 2^-24 = 6e-4 rad for inv_freq = 1; the
        // two sides round different angles, so the bound is twice that times the pair's norm
        long p = 10_000;
        long d = 50;
        moved = x.clone();
        rope.rotateHeads(moved, 0, HEADS, p, (int) p + 1, pairing);
        rope.rotateBy(moved, 0, HEADS, d, pairing);
        direct = x.clone();
        rope.rotateHeads(direct, 0, HEADS, p + d, (int) (p + d) + 1, pairing);
        double halfUlpPerRadian = Math.ulp(1f) / 2; // 2^-24
        double bound = 2 * (p + d) * halfUlpPerRadian * Math.sqrt(2) * maxAbs(x) + 1e-5;
        assertClose(direct, moved, bound, "rotateBy(50) after position 10000 vs position 10050");
    }

    @Test
    void yarnRotateByIsAPureRotation() {
        Rope rope = yarn();
        float[] x = random(HEAD, 6);
        float[] moved = x.clone();
        rope.rotateHeads(moved, 0, 1, 2, 3, RopePairing.ADJACENT);
        rope.rotateBy(moved, 0, 1, 9, RopePairing.ADJACENT);
        float[] direct = x.clone();
        rope.rotateHeads(direct, 0, 1, 11, 12, RopePairing.ADJACENT);
        // the factor is applied once, at the original rotation, not again by rotateBy
        assertClose(direct, moved, 1e-5 * rope.attentionFactor(), "YaRN: rotateBy after rotateHeads");
    }

    @Test
    void positionZeroIsTheIdentityAndApplyMatchesRotateHeads() {
        Rope rope = Rope.standard(HEAD, 10000, 4096);
        float[] x = random(HEAD * HEADS, 7);
        float[] y = x.clone();
        rope.rotateHeads(y, 0, HEADS, 0, 1, RopePairing.ROTATE_HALF);
        assertArrayEquals(x, y);

        float[] cos = new float[HEAD / 2];
        float[] sin = new float[HEAD / 2];
        rope.cosSin(99, 100, cos, sin);
        float[] viaApply = x.clone();
        for (int h = 0; h < HEADS; h++) {
            rope.apply(viaApply, h * HEAD, cos, sin, RopePairing.ADJACENT);
        }
        float[] viaHeads = x.clone();
        rope.rotateHeads(viaHeads, 0, HEADS, 99, 100, RopePairing.ADJACENT);
        assertArrayEquals(viaHeads, viaApply);
    }

    @Test
    void inverseFrequenciesAreDefensiveCopies() {
        Rope rope = Rope.standard(HEAD, 10000, 4096);
        float[] f = rope.inverseFrequencies();
        assertEquals(1f, f[0]);
        f[0] = 42;
        assertEquals(1f, rope.inverseFrequencies()[0]);
    }

    @Test
    void dynamicNtkChangesOnlyAboveTheOriginalLength() {
        Rope rope = new Rope(HEAD, HEAD, 10000, new RopeScaling.DynamicNtk(2, 4096), 4096);
        assertArrayEquals(rope.inverseFrequencies(), rope.inverseFrequencies(4096));
        float[] longer = rope.inverseFrequencies(8192);
        assertEquals(1f, longer[0]);
        assertTrue(longer[HEAD / 2 - 1] < rope.inverseFrequencies()[HEAD / 2 - 1], "NTK lowers the low frequencies");
    }

    @Test
    void badInputIsRejectedWithTheArgumentNamed() {
        assertMessage(() -> new Rope(63, 64, 10000, RopeScaling.none(), 4096), "rotaryDim 63 must be even");
        assertMessage(() -> new Rope(128, 64, 10000, RopeScaling.none(), 4096), "rotaryDim 128 must be in [2, headDim = 64]");
        assertMessage(() -> new Rope(0, 64, 10000, RopeScaling.none(), 4096), "rotaryDim 0");
        assertMessage(() -> new Rope(64, 64, 1, RopeScaling.none(), 4096), "theta must be finite and > 1");
        assertMessage(() -> new Rope(64, 64, 10000, RopeScaling.none(), 0), "maxPositionEmbeddings must be > 0");
        assertMessage(() -> new Rope(2, 64, 10000, new RopeScaling.DynamicNtk(2, 4096), 4096), "rotaryDim > 2");
        assertMessage(() -> new RopeScaling.Linear(0), "Linear: factor must be finite and > 0, got 0.0");
        assertMessage(() -> new RopeScaling.Linear(-2), "Linear: factor");
        assertMessage(() -> new RopeScaling.Linear(Double.NaN), "Linear: factor");
        assertMessage(() -> new RopeScaling.DynamicNtk(0, 4096), "DynamicNtk: factor");
        assertMessage(() -> new RopeScaling.DynamicNtk(2, 0), "DynamicNtk: originalMaxPositions");
        assertMessage(() -> new RopeScaling.Yarn(-1, 4096), "Yarn: factor");
        assertMessage(() -> new RopeScaling.Yarn(4, 4096, 0, 1, 0, 0, Double.NaN, true), "Yarn: betaFast");
        assertMessage(() -> new RopeScaling.Yarn(4, 4096, 32, 1, 0, 0, 0, true), "Yarn: attentionFactor");
        assertMessage(() -> new RopeScaling.Llama3(0, 1, 4, 8192), "Llama3: factor");
        assertMessage(() -> new RopeScaling.Llama3(8, 4, 1, 8192), "highFreqFactor 1.0 must be greater than lowFreqFactor 4.0");

        Rope rope = Rope.standard(HEAD, 10000, 4096);
        float[] x = new float[HEAD * 2];
        float[] cos = new float[HEAD / 2];
        float[] sin = new float[HEAD / 2];
        assertMessage(() -> rope.cosSin(-1, 1, cos, sin), "cosSin: position must be >= 0, got -1");
        assertMessage(() -> rope.rotateHeads(x, 0, 1, -5, 1, RopePairing.ADJACENT), "position must be >= 0, got -5");
        assertMessage(() -> rope.cosSin(0, 1, new float[3], sin), "cos has 3 entries, needs rotaryDim / 2 = 32");
        assertMessage(() -> rope.rotateHeads(x, HEAD, 2, 1, 2, RopePairing.ADJACENT), "exceed the array length 128");
        assertMessage(() -> rope.rotateBy(x, -1, 1, 1, RopePairing.ADJACENT), "at offset -1");
        assertMessage(() -> rope.cosSin(0, -1, cos, sin), "seqLen must be >= 0");
    }

    /**
     * GGUF files carry Llama 3.1 scaling as divisors computed by llama.cpp's converter
     * ({@code LlamaModel.generate_extra_tensors}); dividing the default frequencies by them gives
     * HF's Llama 3 frequencies up to float rounding.
     */
    @Test
    void frequencyFactorsFromTheLlama3RuleReproduceLlama3() {
        int dim = 128;
        double base = 500000;
        float[] factors = new float[dim / 2];
        double lowWavelen = 8192 / 1.0;
        double highWavelen = 8192 / 4.0;
        for (int i = 0; i < factors.length; i++) {
            double freq = 1.0 / Math.pow(base, (2.0 * i) / dim);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) {
                factors[i] = 1;
            } else if (wavelen > lowWavelen) {
                factors[i] = 8;
            } else {
                double smooth = (8192 / wavelen - 1.0) / (4.0 - 1.0);
                factors[i] = (float) (1 / ((1 - smooth) / 8 + smooth));
            }
        }
        float[] expected = new Rope(dim, dim, base, new RopeScaling.Llama3(8, 1, 4, 8192), 131072).inverseFrequencies();
        float[] actual = new Rope(dim, dim, base, new RopeScaling.FrequencyFactors(factors), 131072).inverseFrequencies();
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], 2e-6 * expected[i], "pair " + i);
        }
        assertMessage(() -> new Rope(dim, dim, base, new RopeScaling.FrequencyFactors(new float[3]), 4096), "factors[0]");
        assertMessage(() -> new Rope(dim, dim, base, new RopeScaling.FrequencyFactors(new float[] {1, 2}), 4096),
                "FrequencyFactors has 2 factors, rotaryDim / 2 = 64 needed");
    }

    private static void assertMessage(Runnable r, String fragment) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, r::run);
        assertTrue(e.getMessage().contains(fragment), "message '" + e.getMessage() + "' should contain '" + fragment + "'");
    }

    private static void assertClose(float[] expected, float[] actual, double tol, String what) {
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tol, what + ": element " + i);
        }
    }

    private static double norm(float[] x) {
        double s = 0;
        for (float v : x) {
            s += (double) v * v;
        }
        return Math.sqrt(s);
    }

    private static double maxAbs(float[] x) {
        double m = 0;
        for (float v : x) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
