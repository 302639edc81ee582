package dev.longctx.core.kernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.spi.Halfs;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Every elementwise kernel against the scalar reference, and the scalar one against double math. */
class ElementwiseKernelsTest {
    /** Awkward sizes: 1, odd, primes, not multiples of any vector length, long. */
    static final int[] SIZES = {1, 7, 16, 31, 64, 127, 1000, 4099};
    /** Offset into the arrays, so kernels are tested on unaligned starts too. */
    static final int OFF = 3;

    static Stream<org.junit.jupiter.params.provider.Arguments> providers() {
        return Providers.all();
    }

    static float[] random(SplittableRandom r, int n, float scale) {
        float[] a = new float[n + 2 * OFF];
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) ((r.nextDouble() * 2 - 1) * scale);
        }
        return a;
    }

    /** |x - y| <= rel * magnitude + abs: the bound for sums whose terms are reordered. */
    static void assertClose(double expected, double actual, double magnitude, String what) {
        double tol = 1e-5 * magnitude + 1e-6;
        assertTrue(Math.abs(expected - actual) <= tol,
                what + ": expected " + expected + " got " + actual + " (tolerance " + tol + ")");
    }

    static void assertAllClose(float[] expected, float[] actual, double rel, String what) {
        for (int i = 0; i < expected.length; i++) {
            double tol = rel * Math.max(1, Math.abs(expected[i]));
            assertTrue(Math.abs(expected[i] - actual[i]) <= tol || (Float.isNaN(expected[i]) && Float.isNaN(actual[i])),
                    what + " at " + i + ": expected " + expected[i] + " got " + actual[i]);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void dotAndSumOfSquares(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(1);
        for (int n : SIZES) {
            float[] a = random(r, n, 1);
            float[] b = random(r, n, 1);
            double exact = 0;
            double mag = 0;
            double ss = 0;
            for (int i = 0; i < n; i++) {
                exact += (double) a[OFF + i] * b[OFF + i];
                mag += Math.abs((double) a[OFF + i] * b[OFF + i]);
                ss += (double) a[OFF + i] * a[OFF + i];
            }
            assertClose(exact, ops.dot(a, OFF, b, OFF, n), mag, name + " dot n=" + n);
            assertClose(Providers.reference().dot(a, OFF, b, OFF, n), ops.dot(a, OFF, b, OFF, n), mag, name + " dot vs scalar n=" + n);
            assertClose(ss, ops.kernels().sumOfSquares(a, OFF, n), ss, name + " sumOfSquares n=" + n);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void pairedDotsOverARunOfVectorPairs(String name, TensorOps ops) {
        checkPairedDots(name, ops, 9, false);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void pairedDotsBf16OverARunOfVectorPairs(String name, TensorOps ops) {
        checkPairedDots(name, ops, 19, true);
    }

    /**
     * pairedDots (or pairedDotsBf16 with the vector pairs rounded to bfloat16) against double math
     * and the scalar kernel; entries outside [from, to) stay untouched.
     */
    private static void checkPairedDots(String name, TensorOps ops, long seed, boolean bf16) {
        SplittableRandom r = new SplittableRandom(seed);
        String kernel = bf16 ? "pairedDotsBf16" : "pairedDots";
        for (int n : SIZES) {
            for (int rows : new int[] {1, 3, 4}) {
                int pages = 5;
                int from = 1;
                int to = 4;
                float[] a = random(r, rows * n, 1);
                float[] b = random(r, rows * n, 1);
                float[] xs = random(r, pages * n, 2);
                float[] ys = random(r, pages * n, 2);
                short[] xs16 = bf16(xs);
                short[] ys16 = bf16(ys);
                if (bf16) {
                    // The exact values the kernel sees.
                    xs = widen(xs16);
                    ys = widen(ys16);
                }
                int stride = pages + 2;
                float[] out = new float[rows * stride];
                float[] ref = new float[rows * stride];
                Arrays.fill(out, -7f);
                Arrays.fill(ref, -7f);
                if (bf16) {
                    ops.kernels().pairedDotsBf16(a, OFF, b, OFF, rows, n, xs16, ys16, from, to, out, stride);
                    Providers.reference().kernels().pairedDotsBf16(a, OFF, b, OFF, rows, n, xs16, ys16, from, to, ref, stride);
                } else {
                    ops.kernels().pairedDots(a, OFF, b, OFF, rows, n, xs, ys, from, to, out, stride);
                    Providers.reference().kernels().pairedDots(a, OFF, b, OFF, rows, n, xs, ys, from, to, ref, stride);
                }
                for (int j = 0; j < rows; j++) {
                    for (int p = 0; p < stride; p++) {
                        int o = j * stride + p;
                        if (p < from || p >= to) {
                            assertEquals(-7f, out[o], name + ": untouched outside [from, to)");
                            continue;
                        }
                        double exact = 0;
                        double mag = 0;
                        for (int i = 0; i < n; i++) {
                            double t1 = (double) a[OFF + j * n + i] * xs[p * n + i];
                            double t2 = (double) b[OFF + j * n + i] * ys[p * n + i];
                            exact += t1 + t2;
                            mag += Math.abs(t1) + Math.abs(t2);
                        }
                        String what = name + " " + kernel + " n=" + n + " rows=" + rows + " j=" + j + " p=" + p;
                        assertClose(exact, out[o], mag, what);
                        assertClose(ref[o], out[o], mag, what + " vs scalar");
                    }
                }
            }
        }
    }

    private static short[] bf16(float[] x) {
        short[] s = new short[x.length];
        for (int i = 0; i < x.length; i++) {
            s[i] = Halfs.floatToBf16(x[i]);
        }
        return s;
    }

    private static float[] widen(short[] s) {
        float[] x = new float[s.length];
        for (int i = 0; i < s.length; i++) {
            x[i] = Halfs.bf16ToFloat(s[i]);
        }
        return x;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void axpyScaleAddMul(String name, TensorOps ops) {
        TensorOps ref = Providers.reference();
        SplittableRandom r = new SplittableRandom(2);
        for (int n : SIZES) {
            float[] x = random(r, n, 3);
            float[] y = random(r, n, 3);
            float[] y1 = y.clone();
            float[] y2 = y.clone();
            ops.axpy(0.37f, x, OFF, y1, OFF, n);
            ref.axpy(0.37f, x, OFF, y2, OFF, n);
            assertAllClose(y2, y1, 1e-6, name + " axpy n=" + n);

            float[] s1 = x.clone();
            float[] s2 = x.clone();
            ops.scale(s1, OFF, n, -1.5f);
            ref.scale(s2, OFF, n, -1.5f);
            assertArrayEquals(s2, s1, name + " scale n=" + n);

            float[] o1 = new float[x.length];
            float[] o2 = new float[x.length];
            ops.add(x, OFF, y, OFF, o1, OFF, n);
            ref.add(x, OFF, y, OFF, o2, OFF, n);
            assertArrayEquals(o2, o1, name + " add n=" + n);
            ops.mul(x, OFF, y, OFF, o1, OFF, n);
            ref.mul(x, OFF, y, OFF, o2, OFF, n);
            assertArrayEquals(o2, o1, name + " mul n=" + n);
            // Untouched outside the range.
            assertEquals(0f, o1[0]);
            assertEquals(0f, o1[o1.length - 1]);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void weightedRowSumMatchesReference(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(9);
        for (int d : SIZES) {
            if (d > 1000) {
                continue;
            }
            for (int n : new int[] {1, 7, 64}) {
                float[] w = random(r, n, 1);
                float[] rows = random(r, n * d, 1);
                float[] out = random(r, d, 1);
                float[] ref = out.clone();
                ops.kernels().weightedRowSum(w, OFF, n, rows, OFF, d, out, OFF);
                for (int c = 0; c < d; c++) {
                    double e = ref[OFF + c];
                    double mag = Math.abs(e);
                    for (int k = 0; k < n; k++) {
                        e += (double) w[OFF + k] * rows[OFF + k * d + c];
                        mag += Math.abs((double) w[OFF + k] * rows[OFF + k * d + c]);
                    }
                    assertClose(e, out[OFF + c], mag, name + " weightedRowSum d=" + d + " n=" + n + " c=" + c);
                }
                assertEquals(ref[0], out[0]);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void weightedRowSumsEqualsOneCallPerRow(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(10);
        for (int d : new int[] {1, 7, 16, 64, 127, 128}) {
            for (int m : new int[] {1, 3, 4, 9}) {
                int n = 13;
                float[] w = random(r, m * n, 1);
                float[] rows = random(r, n * d, 1);
                float[] out = random(r, m * d, 1);
                float[] expected = out.clone();
                for (int i = 0; i < m; i++) {
                    ops.kernels().weightedRowSum(w, OFF + i * n, n, rows, OFF, d, expected, OFF + i * d);
                }
                ops.kernels().weightedRowSums(w, OFF, n, m, n, rows, OFF, d, out, OFF);
                assertArrayEquals(expected, out, name + " d=" + d + " m=" + m);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void rmsnormMatchesDoubleFormula(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(3);
        for (int n : SIZES) {
            float[] x = random(r, n, 2);
            float[] w = random(r, n, 1);
            float[] out = new float[x.length];
            ops.rmsnorm(x, OFF, w, OFF, 1e-5f, out, OFF, n);
            double ms = 0;
            for (int i = 0; i < n; i++) {
                ms += (double) x[OFF + i] * x[OFF + i];
            }
            double inv = 1 / Math.sqrt(ms / n + 1e-5);
            for (int i = 0; i < n; i++) {
                double e = x[OFF + i] * inv * w[OFF + i];
                assertClose(e, out[OFF + i], Math.abs(e) * 10, name + " rmsnorm n=" + n + " i=" + i);
            }
            float[] inPlace = x.clone();
            ops.rmsnorm(inPlace, OFF, w, OFF, 1e-5f, inPlace, OFF, n);
            assertArrayEquals(Arrays.copyOfRange(out, OFF, OFF + n), Arrays.copyOfRange(inPlace, OFF, OFF + n));
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void softmaxIsStableAndReturnsLogSumExp(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(4);
        for (int n : SIZES) {
            float[] x = random(r, n, 20);
            x[OFF] = 500f; // would overflow exp without the max shift
            float[] y = x.clone();
            float lse = ops.softmax(y, OFF, n);
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                max = Math.max(max, x[OFF + i]);
            }
            double sum = 0;
            for (int i = 0; i < n; i++) {
                sum += Math.exp(x[OFF + i] - max);
            }
            double total = 0;
            for (int i = 0; i < n; i++) {
                double e = Math.exp(x[OFF + i] - max) / sum;
                assertClose(e, y[OFF + i], 10 * e + 1e-6, name + " softmax n=" + n);
                total += y[OFF + i];
            }
            assertClose(1.0, total, 1, name + " softmax sum n=" + n);
            assertClose(max + Math.log(sum), lse, Math.abs(max) + 1, name + " lse n=" + n);
        }
    }

    @Test
    void softmaxOfFullyMaskedRowIsZeroWithNegativeInfinityLse() {
        for (var args : Providers.all().toList()) {
            TensorOps ops = (TensorOps) args.get()[1];
            float[] x = new float[5];
            Arrays.fill(x, Float.NEGATIVE_INFINITY);
            assertEquals(Float.NEGATIVE_INFINITY, ops.softmax(x, 0, 5));
            assertArrayEquals(new float[5], x);
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void siluAndGelu(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(5);
        for (int n : SIZES) {
            float[] x = random(r, n, 8);
            float[] s = x.clone();
            float[] g = x.clone();
            ops.silu(s, OFF, n);
            ops.gelu(g, OFF, n);
            for (int i = 0; i < n; i++) {
                double v = x[OFF + i];
                double silu = v / (1 + Math.exp(-v));
                double gelu = 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
                assertClose(silu, s[OFF + i], 10 * Math.abs(silu) + 1, name + " silu x=" + v);
                assertClose(gelu, g[OFF + i], 10 * Math.abs(gelu) + 1, name + " gelu x=" + v);
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void argmaxFindsFirstMaximumIgnoringNaN(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(6);
        for (int n : SIZES) {
            float[] x = random(r, n, 1);
            int expected = Providers.reference().argmax(x, OFF, n);
            assertEquals(expected, ops.argmax(x, OFF, n), name + " n=" + n);
            if (n > 2) {
                x[OFF + n - 1] = 5f;
                x[OFF + 1] = 5f;
                x[OFF] = Float.NaN;
                assertEquals(1, ops.argmax(x, OFF, n), name + " first of ties, NaN ignored, n=" + n);
            }
        }
        float[] allNaN = {Float.NaN, Float.NaN};
        assertEquals(0, ops.argmax(allNaN, 0, 2));
    }

    @Test
    void badRangesNameTheOperation() {
        TensorOps ops = Providers.reference();
        var e = assertThrows(IllegalArgumentException.class, () -> ops.dot(new float[4], 0, new float[3], 0, 4));
        assertTrue(e.getMessage().contains("dot") && e.getMessage().contains("length 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ops.softmax(new float[4], -1, 2));
        assertTrue(e.getMessage().contains("softmax"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> ops.argmax(new float[4], 0, 0));
        assertTrue(e.getMessage().contains("empty"), e.getMessage());
    }
}
