package dev.longctx.core.kernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.tensor.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@link VectorKernels#decodeAttentionPage}, the fused decode-attention page, for both providers
 * and every KV page dtype (F32, F16, BF16, Q8_0), at awkward sizes: 1-7 and 12 query rows, pages
 * of 1-65 keys (chunk remainders, fewer than 4 keys), head dims that are not a whole number of
 * vectors, rows further apart than their bytes, and runs of pages whose maximum rises, stays or
 * starts at -infinity. The reference is the definition in double precision (a softmax over every
 * key of every page, from the exactly decoded keys and values); Panama and scalar are also compared
 * with each other. The build runs this class at 128, 256 and 512 bits.
 */
class DecodeAttentionPageTest {
    static Stream<Arguments> providersAndPageTypes() {
        return Providers.all().flatMap(a -> Stream.of(DType.F32, DType.F16, DType.BF16, DType.Q8_0)
                .map(t -> Arguments.of(a.get()[0] + "/" + t, a.get()[1], t)));
    }

    /** Head dims per type: Q8_0 needs whole blocks of 32. */
    private static int[] dims(DType t) {
        return t == DType.Q8_0 ? new int[] {32, 64, 96} : new int[] {4, 20, 64, 72};
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndPageTypes")
    void aRunOfPagesEqualsTheSoftmaxOverAllTheirKeys(String name, TensorOps ops, DType t) {
        SplittableRandom r = new SplittableRandom(31);
        VectorKernels k = ops.kernels();
        int[][] pageLengths = {{1}, {3, 64, 7}, {64, 64, 64}, {65, 13}, {8, 9, 16, 17}};
        for (int d : dims(t)) {
            for (int m : new int[] {1, 2, 3, 4, 5, 6, 7, 12}) {
                for (int[] lengths : pageLengths) {
                    for (int padBytes : new int[] {0, 16}) {
                        check(k, t, d, m, lengths, padBytes, r, name + " d=" + d + " m=" + m + " pages="
                                + Arrays.toString(lengths) + " pad=" + padBytes);
                    }
                }
            }
        }
    }

    /**
     * {@link VectorKernels#decodeAttentionRows}: rows picked by index from several pages (scattered
     * single rows, runs of consecutive slots, a run that crosses into the next page, rows of the
     * same page out of page order), in calls of awkward sizes, equal the softmax over exactly those
     * rows (double precision, from the decoded keys and values) and, for Panama, the scalar twin.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndPageTypes")
    void rowsPickedByIndexEqualTheSoftmaxOverThoseRows(String name, TensorOps ops, DType t) {
        SplittableRandom r = new SplittableRandom(47);
        VectorKernels k = ops.kernels();
        int pageSize = 16;
        int pages = 5;
        for (int d : dims(t)) {
            for (int m : new int[] {1, 2, 3, 5, 8}) {
                for (int padBytes : new int[] {0, 16}) {
                    long rowBytes = t.bytesFor(d) + padBytes;
                    // Index lists: scattered, runs (one crossing pages 1 -> 2), a page revisited, single rows.
                    int[][] picks = {
                        {0}, {3, 4, 5, 6, 7, 8, 9, 30, 31, 32, 33, 50, 79},
                        {1, 17, 33, 49, 65, 2, 18, 34, 50, 66, 11, 12},
                        java.util.stream.IntStream.range(0, pages * pageSize).filter(i -> i % 3 != 1).toArray()};
                    for (int[] pick : picks) {
                        for (int[] calls : new int[][] {{pick.length}, split(pick.length, 7), split(pick.length, 9)}) {
                            checkRows(k, t, d, m, pageSize, pages, rowBytes, pick, calls, r, name + " d=" + d + " m=" + m
                                    + " pad=" + padBytes + " picks=" + pick.length + " calls=" + Arrays.toString(calls));
                        }
                    }
                }
            }
        }
    }

    /**
     * Relative difference allowed between two kernels' results for the same inputs: a few float ulps over a
     * sum of up to 128 products (2^-23 is one ulp at 1; 1e-5 is about 84 ulps), far below any real error.
     */
    private static final float SAME_ROUNDING = 1e-5f;

    private static void assertSameUpToRounding(float[] want, float[] got, String what) {
        assertEquals(want.length, got.length, what);
        for (int i = 0; i < want.length; i++) {
            assertEquals(want[i], got[i], SAME_ROUNDING * Math.max(1f, Math.abs(want[i])), what + " [" + i + "]");
        }
    }

    /**
     * {@link VectorKernels#decodeAttentionPageLogits}: the same step as {@link VectorKernels#decodeAttentionPage}
     * (max, sum and output), and the logits it hands out are what {@link VectorKernels#matmulRows} computes for the
     * same queries and keys (what a token-level selection computes in its own pass), at a stride and offset, nothing
     * else written; 1-7 and 12 query rows, pages of 1-65 keys, padded rows. Compared to {@link #SAME_ROUNDING}, not
     * bit for bit: they are different methods, and while one runs interpreted and another compiled they can,
     * presumably, round differently (a fresh-clone CI run failed once on the bitwise comparison of the step:
     * panama-512, F32, d=64, m=5, n=13; five other runs passed it).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndPageTypes")
    void theLogitsHandedOutAreMatmulRowsOwn(String name, TensorOps ops, DType t) {
        SplittableRandom r = new SplittableRandom(53);
        VectorKernels k = ops.kernels();
        try (Arena arena = Arena.ofConfined()) {
            for (int d : dims(t)) {
                for (int m : new int[] {1, 2, 3, 4, 5, 6, 7, 12}) {
                    for (int n : new int[] {1, 3, 8, 13, 64, 65}) {
                        for (int padBytes : new int[] {0, 16}) {
                            long rowBytes = t.bytesFor(d) + padBytes;
                            Pages pg = Pages.random(arena, t, d, new int[] {n}, rowBytes, r);
                            float[] q = new float[m * d];
                            for (int i = 0; i < q.length; i++) {
                                q[i] = (float) r.nextGaussian() * 0.3f;
                            }
                            String what = name + " d=" + d + " m=" + m + " n=" + n + " pad=" + padBytes;
                            float[] max = new float[m];
                            float[] sum = new float[m];
                            float[] out = new float[m * d];
                            float[] max2 = new float[m];
                            float[] sum2 = new float[m];
                            float[] out2 = new float[m * d];
                            for (int i = 0; i < m; i++) {
                                // a running state from an earlier page: a finite maximum, a sum and an output
                                max[i] = max2[i] = (float) r.nextGaussian();
                                sum[i] = sum2[i] = 1.5f;
                                for (int c = 0; c < d; c++) {
                                    out[i * d + c] = out2[i * d + c] = (float) r.nextGaussian();
                                }
                            }
                            float[] scratch = new float[VectorKernels.decodeAttentionScratch(n, d, m)];
                            k.decodeAttentionPage(t, pg.keys()[0], pg.values()[0], rowBytes, n, d, q, m, max, sum, out, scratch);
                            int stride = n + 5;
                            int offset = 3;
                            float[] logits = new float[offset + m * stride + 2];
                            Arrays.fill(logits, 42f);
                            k.decodeAttentionPageLogits(t, pg.keys()[0], pg.values()[0], rowBytes, n, d, q, m, max2, sum2, out2,
                                    new float[VectorKernels.decodeAttentionScratch(n, d, m)], logits, offset, stride);
                            assertSameUpToRounding(max, max2, what + ": not the plain step's max");
                            assertSameUpToRounding(sum, sum2, what + ": not the plain step's sum");
                            assertSameUpToRounding(out, out2, what + ": not the plain step's output");
                            float[] want = new float[m * n];
                            k.matmulRows(t, pg.keys()[0], rowBytes, d, 0, n, q, m, want, n);
                            for (int i = 0; i < m; i++) {
                                for (int j = 0; j < n; j++) {
                                    float w = want[i * n + j];
                                    assertEquals(w, logits[offset + i * stride + j], SAME_ROUNDING * Math.max(1f, Math.abs(w)),
                                            what + ": logit " + i + "," + j);
                                }
                                for (int j = n; j < stride && offset + i * stride + j < logits.length; j++) {
                                    assertEquals(42f, logits[offset + i * stride + j], what + ": wrote past row " + i);
                                }
                            }
                            assertEquals(42f, logits[offset - 1], what + ": wrote before the offset");
                        }
                    }
                }
            }
        }
    }

    /** {@code n} cut into calls of {@code size} rows and a remainder. */
    private static int[] split(int n, int size) {
        int[] out = new int[(n + size - 1) / size];
        for (int i = 0; i < out.length; i++) {
            out[i] = Math.min(size, n - i * size);
        }
        return out;
    }

    private static void checkRows(VectorKernels k, DType t, int d, int m, int pageSize, int pages, long rowBytes, int[] pick,
                                  int[] calls, SplittableRandom r, String what) {
        float[] q = new float[m * d];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (r.nextGaussian() * 2 / Math.sqrt(d));
        }
        try (Arena arena = Arena.ofConfined()) {
            int[] lengths = new int[pages];
            Arrays.fill(lengths, pageSize);
            Pages kv = Pages.random(arena, t, d, lengths, rowBytes, r);
            MemorySegment[] keys = kv.keys();
            MemorySegment[] values = kv.values();
            double[][] kd = kv.kd();
            double[][] vd = kv.vd();
            // Index lists with a leading offset, so that off != 0 is exercised.
            int lead = 3;
            int[] pageOf = new int[lead + pick.length];
            int[] slotOf = new int[lead + pick.length];
            for (int j = 0; j < pick.length; j++) {
                pageOf[lead + j] = pick[j] / pageSize;
                slotOf[lead + j] = pick[j] % pageSize;
            }
            float[] max = new float[m];
            float[] sum = new float[m];
            float[] out = new float[m * d];
            Arrays.fill(max, Float.NEGATIVE_INFINITY);
            float[] refMax = new float[m];
            float[] refSum = new float[m];
            float[] ref = new float[m * d];
            Arrays.fill(refMax, Float.NEGATIVE_INFINITY);
            int biggest = Arrays.stream(calls).max().orElseThrow();
            float[] scratch = new float[VectorKernels.decodeAttentionScratch(biggest, d, m)];
            float[] refScratch = scratch.clone();
            int off = lead;
            for (int n : calls) {
                k.decodeAttentionRows(t, keys, values, pageOf, slotOf, off, n, rowBytes, d, q, m, max, sum, out, scratch);
                KernelProvider.scalar().decodeAttentionRows(t, keys, values, pageOf, slotOf, off, n, rowBytes, d, q, m, refMax,
                        refSum, ref, refScratch);
                off += n;
            }
            for (int i = 0; i < m; i++) {
                double mx = Double.NEGATIVE_INFINITY;
                double[] s = new double[pick.length];
                for (int j = 0; j < pick.length; j++) {
                    for (int c = 0; c < d; c++) {
                        s[j] += q[i * d + c] * kd[pick[j]][c];
                    }
                    mx = Math.max(mx, s[j]);
                }
                double l = 0;
                double[] o = new double[d];
                for (int j = 0; j < pick.length; j++) {
                    double e = Math.exp(s[j] - mx);
                    l += e;
                    for (int c = 0; c < d; c++) {
                        o[c] += e * vd[pick[j]][c];
                    }
                }
                assertEquals(mx, max[i], 1e-5 * Math.max(1, Math.abs(mx)), what + ": max of row " + i);
                assertEquals(1.0, sum[i] / (l * Math.exp(mx - max[i])), 1e-5, what + ": sum of row " + i);
                double scale = 0;
                for (int c = 0; c < d; c++) {
                    scale = Math.max(scale, Math.abs(o[c] / l));
                }
                for (int c = 0; c < d; c++) {
                    assertEquals(o[c] / l, out[i * d + c] / sum[i], 1e-5 * Math.max(1, scale), what + ": row " + i + " column " + c);
                    assertEquals(ref[i * d + c] / refSum[i], out[i * d + c] / sum[i], 1e-5 * Math.max(1, scale),
                            what + ": vs scalar, row " + i + " column " + c);
                }
            }
        }
    }

    private static void check(VectorKernels k, DType t, int d, int m, int[] lengths, int padBytes, SplittableRandom r,
                              String what) {
        long rowBytes = t.bytesFor(d) + padBytes;
        int total = Arrays.stream(lengths).sum();
        // Queries pre-scaled; large enough that the maximum moves between pages.
        float[] q = new float[m * d];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) (r.nextGaussian() * 2 / Math.sqrt(d));
        }
        try (Arena arena = Arena.ofConfined()) {
            Pages kv = Pages.random(arena, t, d, lengths, rowBytes, r);
            MemorySegment[] keys = kv.keys();
            MemorySegment[] values = kv.values();
            double[][] kd = kv.kd();
            double[][] vd = kv.vd();
            float[] max = new float[m];
            float[] sum = new float[m];
            float[] out = new float[m * d];
            Arrays.fill(max, Float.NEGATIVE_INFINITY);
            int maxLen = Arrays.stream(lengths).max().orElseThrow();
            float[] scratch = new float[VectorKernels.decodeAttentionScratch(maxLen, d, m)];
            float[] ref = k.isVectorized() ? new float[m * d] : null;
            float[] refMax = new float[m];
            float[] refSum = new float[m];
            float[] refScratch = scratch.clone();
            if (ref != null) {
                Arrays.fill(refMax, Float.NEGATIVE_INFINITY);
            }
            for (int p = 0; p < lengths.length; p++) {
                k.decodeAttentionPage(t, keys[p], values[p], rowBytes, lengths[p], d, q, m, max, sum, out, scratch);
                if (ref != null) {
                    KernelProvider.scalar().decodeAttentionPage(t, keys[p], values[p], rowBytes, lengths[p], d, q, m,
                            refMax, refSum, ref, refScratch);
                }
            }
            for (int i = 0; i < m; i++) {
                double mx = Double.NEGATIVE_INFINITY;
                double[] s = new double[total];
                for (int j = 0; j < total; j++) {
                    for (int c = 0; c < d; c++) {
                        s[j] += q[i * d + c] * kd[j][c];
                    }
                    mx = Math.max(mx, s[j]);
                }
                double l = 0;
                double[] o = new double[d];
                for (int j = 0; j < total; j++) {
                    double e = Math.exp(s[j] - mx);
                    l += e;
                    for (int c = 0; c < d; c++) {
                        o[c] += e * vd[j][c];
                    }
                }
                assertEquals(mx, max[i], 1e-5 * Math.max(1, Math.abs(mx)), what + ": max of row " + i);
                assertEquals(1.0, sum[i] / (l * Math.exp(mx - max[i])), 1e-5, what + ": sum of row " + i);
                double worst = 0;
                double scale = 0;
                for (int c = 0; c < d; c++) {
                    double expect = o[c] / l;
                    worst = Math.max(worst, Math.abs(out[i * d + c] / sum[i] - expect));
                    scale = Math.max(scale, Math.abs(expect));
                }
                assertTrue(worst <= 1e-5 * Math.max(1, scale), what + ": row " + i + " output off by " + worst);
                if (ref != null) {
                    assertEquals(refMax[i], max[i], 1e-5 * Math.max(1, Math.abs(refMax[i])), what + ": max vs scalar");
                    for (int c = 0; c < d; c++) {
                        assertEquals(ref[i * d + c] / refSum[i], out[i * d + c] / sum[i], 1e-5 * Math.max(1, scale),
                                what + ": vs scalar, row " + i + " column " + c);
                    }
                }
            }
        }
    }

    /** Pages of random keys and values in {@code t}, and their decoded values in double for the reference. */
    private record Pages(MemorySegment[] keys, MemorySegment[] values, double[][] kd, double[][] vd) {
        /**
         * Page p holds {@code lengths[p]} rows {@code rowBytes} apart; per row its key (with a rising
         * trend over the run, so that later pages raise the maximum), then its value, drawn from {@code r}.
         */
        static Pages random(Arena arena, DType t, int d, int[] lengths, long rowBytes, SplittableRandom r) {
            int total = Arrays.stream(lengths).sum();
            MemorySegment[] keys = new MemorySegment[lengths.length];
            MemorySegment[] values = new MemorySegment[lengths.length];
            double[][] kd = new double[total][d];
            double[][] vd = new double[total][d];
            int at = 0;
            float[] row = new float[d];
            float[] decoded = new float[d];
            for (int p = 0; p < lengths.length; p++) {
                keys[p] = arena.allocate(rowBytes * lengths[p], 64);
                values[p] = arena.allocate(rowBytes * lengths[p], 64);
                for (int j = 0; j < lengths[p]; j++, at++) {
                    for (int c = 0; c < d; c++) {
                        row[c] = (float) (r.nextGaussian() + 0.02 * at);
                    }
                    Quantization.quantize(t, row, 0, d, keys[p], j * rowBytes);
                    Quantization.dequantize(t, keys[p], j * rowBytes, decoded, 0, d);
                    for (int c = 0; c < d; c++) {
                        kd[at][c] = decoded[c];
                        row[c] = (float) r.nextGaussian();
                    }
                    Quantization.quantize(t, row, 0, d, values[p], j * rowBytes);
                    Quantization.dequantize(t, values[p], j * rowBytes, decoded, 0, d);
                    for (int c = 0; c < d; c++) {
                        vd[at][c] = decoded[c];
                    }
                }
            }
            return new Pages(keys, values, kd, vd);
        }
    }
}
