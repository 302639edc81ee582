package dev.longctx.core.kernels;

import dev.longctx.core.kernels.spi.VectorKernels;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The kernels of a prefill attention tile that keeps its logits key-major:
 * {@link VectorKernels#matmulRowsTransposedT}, {@link VectorKernels#onlineSoftmaxColumns},
 * {@link VectorKernels#expShiftColumns} and {@link VectorKernels#weightedRowSumsT}, for both
 * providers at awkward sizes.
 */
class AttentionTileKernelsTest {
    private static final int OFF = ElementwiseKernelsTest.OFF;
    private static final int B = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> providers() {
        return Providers.all();
    }

    static java.util.stream.Stream<org.junit.jupiter.params.provider.Arguments> providersAndDtypes() {
        return WeightKernelsTest.providersAndDtypes();
    }

    /** x [tokens][cols] in the blocked column-major layout of matmulRowsTransposed, zero-padded. */
    private static float[] pack(float[] x, int tokens, int cols, int tokenStride) {
        float[] xt = new float[tokenStride * cols];
        for (int t = 0; t < tokens; t++) {
            for (int c = 0; c < cols; c++) {
                xt[(t / B) * B * cols + c * B + t % B] = x[t * cols + c];
            }
        }
        return xt;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndDtypes")
    void matmulRowsTransposedTIsTheTransposeBitForBit(String name, TensorOps ops, DType t) {
        SplittableRandom r = new SplittableRandom(21);
        int[] colsList = Arrays.copyOf(WeightKernelsTest.colsFor(t), 3);
        for (int cols : colsList) {
            for (int rows : new int[] {1, 7, 8, 9, 64}) {
                for (int tokens : new int[] {1, 31, 32, 33, 126}) {
                    int tokenStride = (tokens + B - 1) / B * B;
                    float[] xt = pack(WeightKernelsTest.random(r, tokens * cols), tokens, cols, tokenStride);
                    try (Tensor w = WeightKernelsTest.weights(t, rows + 1, cols, r)) {
                        // Rows [1, rows + 1): a range that does not start at 0.
                        float[] out = new float[tokens * (rows + 1)];
                        ops.kernels().matmulRowsTransposed(t, w.segment(), w.rowBytes(), cols, 1, rows + 1, xt,
                                tokenStride, tokens, out, rows + 1);
                        int outStride = tokens + 5;
                        float[] outT = new float[(rows + 1) * outStride];
                        Arrays.fill(outT, Float.NaN);
                        ops.kernels().matmulRowsTransposedT(t, w.segment(), w.rowBytes(), cols, 1, rows + 1, xt,
                                tokenStride, tokens, outT, outStride);
                        String what = name + " cols=" + cols + " rows=" + rows + " tokens=" + tokens;
                        for (int row = 0; row <= rows; row++) {
                            for (int c = 0; c < outStride; c++) {
                                float got = outT[row * outStride + c];
                                if (row == 0 || c >= tokens) {
                                    assertTrue(Float.isNaN(got), what + ": wrote outside its rows and tokens at " + row + "," + c);
                                } else {
                                    assertEquals(out[c * (rows + 1) + row], got, what + " at row " + row + " token " + c);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void weightedRowSumsTEqualsWeightedRowSumsOnTheTranspose(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(22);
        for (int d : new int[] {1, 7, 16, 64, 127, 128}) {
            for (int m : new int[] {1, 3, 4, 9, 17}) {
                for (int n : new int[] {1, 13, 64}) {
                    int stride = m + 5;
                    float[] w = ElementwiseKernelsTest.random(r, m * n, 1);
                    float[] wT = new float[OFF + n * stride];
                    for (int i = 0; i < m; i++) {
                        for (int k = 0; k < n; k++) {
                            wT[OFF + k * stride + i] = w[OFF + i * n + k];
                        }
                    }
                    float[] rows = ElementwiseKernelsTest.random(r, n * d, 1);
                    float[] expected = ElementwiseKernelsTest.random(r, m * d, 1);
                    float[] out = expected.clone();
                    ops.kernels().weightedRowSums(w, OFF, n, m, n, rows, OFF, d, expected, OFF);
                    ops.kernels().weightedRowSumsT(wT, OFF, stride, m, n, rows, OFF, d, out, OFF);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(expected, out,
                            name + " d=" + d + " m=" + m + " n=" + n);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void onlineSoftmaxColumnsMatchesARowByRowReference(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(23);
        for (int m : new int[] {1, 7, 16, 17, 31, 126, 128}) {
            for (int n : new int[] {1, 5, 64}) {
                int stride = m + 3;
                float[] s = new float[OFF + n * stride];
                for (int i = 0; i < s.length; i++) {
                    // Logits in [-8, 8], a fifth of them masked, and some far below the rest.
                    double u = r.nextDouble();
                    s[i] = u < 0.2 ? Float.NEGATIVE_INFINITY : u < 0.25 ? -200f : (float) (r.nextDouble() * 16 - 8);
                }
                float[] max = new float[m];
                float[] sum = new float[m];
                for (int i = 0; i < m; i++) {
                    int kind = r.nextInt(4);
                    if (i % 5 == 2) {
                        // A row that sees no key of this page.
                        for (int j = 0; j < n; j++) {
                            s[OFF + j * stride + i] = Float.NEGATIVE_INFINITY;
                        }
                    }
                    // Fresh rows (-inf, sum 0), rows whose maximum this page raises, and rows
                    // whose maximum it cannot reach (their correction must be exactly 1).
                    max[i] = kind == 0 ? Float.NEGATIVE_INFINITY : kind == 1 ? -9f : kind == 2 ? 20f : (float) r.nextDouble();
                    sum[i] = kind == 0 ? 0f : (float) (1 + r.nextDouble() * 10);
                }
                float[] s0 = s.clone();
                float[] max0 = max.clone();
                float[] sum0 = sum.clone();
                float[] corr = new float[m];
                boolean any = ops.kernels().onlineSoftmaxColumns(s, OFF, stride, n, m, max, sum, corr);
                String what = name + " m=" + m + " n=" + n;
                boolean anyExpected = false;
                for (int i = 0; i < m; i++) {
                    double mx = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        mx = Math.max(mx, s0[OFF + j * stride + i]);
                    }
                    String row = what + " row " + i;
                    if (mx == Double.NEGATIVE_INFINITY) {
                        assertEquals(1f, corr[i], row + ": corr of a row that sees nothing");
                        assertEquals(max0[i], max[i], row);
                        assertEquals(sum0[i], sum[i], row);
                        for (int j = 0; j < n; j++) {
                            assertEquals(0f, s[OFF + j * stride + i], row + " key " + j);
                        }
                        continue;
                    }
                    anyExpected = true;
                    double mNew = Math.max(max0[i], mx);
                    assertEquals((float) mNew, max[i], row + ": max");
                    double c = max0[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp(max0[i] - (float) mNew);
                    if (max0[i] == mNew) {
                        assertEquals(1f, corr[i], row + ": an unchanged maximum must give exactly 1");
                    }
                    assertNear(c, corr[i], 1e-6, row + ": corr");
                    double total = 0;
                    for (int j = 0; j < n; j++) {
                        // The argument rounded to float, as a float kernel computes it.
                        double e = Math.exp(s0[OFF + j * stride + i] - (float) mNew);
                        total += e;
                        assertNear(e, s[OFF + j * stride + i], 1e-6, row + " key " + j);
                    }
                    assertNear(sum0[i] * c + total, sum[i], 1e-5, row + ": sum");
                }
                assertEquals(anyExpected, any, what + ": return value");
                for (int i = 0; i < OFF; i++) {
                    assertEquals(s0[i], s[i], what + ": wrote before the offset");
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providers")
    void expShiftColumnsGivesProbabilitiesFromEachRowsLogSumExp(String name, TensorOps ops) {
        SplittableRandom r = new SplittableRandom(24);
        for (int m : new int[] {1, 7, 16, 17, 126, 128}) {
            for (int n : new int[] {1, 5, 64}) {
                int stride = m + 3;
                float[] s = new float[OFF + n * stride];
                float[] shift = new float[m];
                for (int i = 0; i < s.length; i++) {
                    s[i] = r.nextDouble() < 0.2 ? Float.NEGATIVE_INFINITY : (float) (r.nextDouble() * 16 - 8);
                }
                for (int i = 0; i < m; i++) {
                    // A fully masked row has log-sum-exp -infinity and only -infinity logits; the
                    // kernel is also exact for arguments above 0 (shift 0: up to +8) and
                    // overflows to infinity past ln(Float.MAX_VALUE) (shift -100).
                    shift[i] = i % 7 == 3 ? Float.NEGATIVE_INFINITY : i % 5 == 1 ? 0f : i % 11 == 4 ? -100f
                            : (float) (8 + r.nextDouble() * 4);
                    if (shift[i] == Float.NEGATIVE_INFINITY) {
                        for (int j = 0; j < n; j++) {
                            s[OFF + j * stride + i] = Float.NEGATIVE_INFINITY;
                        }
                    }
                }
                if (m > 2 && n > 4) {
                    // Row 2, shift 0: arguments at the edges of the float range.
                    shift[2] = 0f;
                    float[] edges = {88.72f, 88.5f, -85.9f, -87.5f, -103f};
                    for (int j = 0; j < edges.length; j++) {
                        s[OFF + j * stride + 2] = edges[j];
                    }
                }
                float[] s0 = s.clone();
                ops.kernels().expShiftColumns(s, OFF, stride, n, m, shift);
                for (int i = 0; i < m; i++) {
                    for (int j = 0; j < n; j++) {
                        int at = OFF + j * stride + i;
                        double expected = shift[i] == Float.NEGATIVE_INFINITY ? 0 : Math.exp(s0[at] - shift[i]);
                        String what = name + " m=" + m + " n=" + n + " row " + i + " key " + j;
                        if (expected > Float.MAX_VALUE) {
                            assertEquals(Float.POSITIVE_INFINITY, s[at], what);
                        } else {
                            assertNear(expected, s[at], 1e-6, what);
                        }
                    }
                }
                for (int i = 0; i < OFF; i++) {
                    assertEquals(s0[i], s[i], name + ": wrote before the offset");
                }
            }
        }
    }

    /** Relative error at most rel, or an absolute one below exp(-86) (the flushed tail). */
    private static void assertNear(double expected, float actual, double rel, String what) {
        double err = Math.abs(expected - actual);
        assertTrue(err <= rel * Math.abs(expected) || err <= 4.5e-38,
                what + ": expected " + expected + " got " + actual);
    }
}
