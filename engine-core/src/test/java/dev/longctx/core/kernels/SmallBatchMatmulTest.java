package dev.longctx.core.kernels;

import static dev.longctx.core.kernels.WeightKernelsTest.assertClose;
import static dev.longctx.core.kernels.WeightKernelsTest.cols;
import static dev.longctx.core.kernels.WeightKernelsTest.exact;
import static dev.longctx.core.kernels.WeightKernelsTest.random;
import static dev.longctx.core.kernels.WeightKernelsTest.weights;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.MatmulInput;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The small-batch matmul ({@link VectorKernels#matmulRowsSmallBatch}: weight blocks decoded in
 * registers once for a few tokens) against the scalar reference and the exact product, at awkward
 * token counts (around the kernel's groups of 4 and 2 and around {@link TensorOps}' cutoff), row
 * counts and row lengths; and that {@link TensorOps#matmul} really takes it up to the cutoff.
 */
class SmallBatchMatmulTest {
    /** Around the groups of 4 + 2 + 1 tokens, and one past the cutoff (the kernel takes any count). */
    static final int[] TOKENS = {1, 2, 3, 5, 7, 8, 9, 15, 16, 17};
    /** Plain dtypes: lengths that are not multiples of any vector width, next to ones that are. */
    static final int[] PLAIN_COLS = {1, 7, 16, 33, 100, 576, 1001};
    /** Block dtypes: one, odd and many blocks of 32. */
    static final int[] BLOCK_COLS = {32, 96, 576, 1056};

    static Stream<Arguments> dtypes() {
        return Stream.of(DType.values()).map(Arguments::of);
    }

    /**
     * The Panama kernel called directly on a range of rows that is not a multiple of anything, with an
     * output stride wider than the rows: every output equals the scalar reference and the exact
     * product to the matvec tests' tolerance, and nothing outside the range is written.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("dtypes")
    void panamaKernelMatchesTheScalarReference(DType t) {
        VectorKernels panama = Providers.panama();
        VectorKernels scalar = KernelProvider.scalar();
        SplittableRandom r = new SplittableRandom(21);
        int rows = 13;
        int rowFrom = 2;
        int rowTo = 11;
        int outStride = rows + 3;
        int[] colsList = switch (t.blockSize()) {
            case 1 -> PLAIN_COLS;
            case 32 -> BLOCK_COLS;
            default -> new int[] {256, 768, 1792}; // one, three and seven super-blocks
        };
        for (int cols : colsList) {
            try (Tensor w = weights(t, rows, cols, r)) {
                for (int tokens : TOKENS) {
                    float[] x = random(r, tokens * cols);
                    float[] out = new float[tokens * outStride];
                    float[] ref = new float[tokens * outStride];
                    panama.matmulRowsSmallBatch(t, w.segment(), w.rowBytes(), cols, rowFrom, rowTo, x, tokens, out, outStride);
                    scalar.matmulRowsSmallBatch(t, w.segment(), w.rowBytes(), cols, rowFrom, rowTo, x, tokens, ref, outStride);
                    for (int tk = 0; tk < tokens; tk++) {
                        double[][] ex = exact(w, x, tk * cols);
                        for (int i = 0; i < outStride; i++) {
                            String what = t + " cols=" + cols + " tokens=" + tokens + " [" + tk + "," + i + "]";
                            float got = out[tk * outStride + i];
                            if (i < rowFrom || i >= rowTo) {
                                assertEquals(0f, got, what + " is outside the rows and must stay untouched");
                                continue;
                            }
                            assertClose(ref[tk * outStride + i], got, ex[1][i], what + " vs scalar");
                            assertClose(ex[0][i], got, ex[1][i], what + " vs exact");
                        }
                    }
                }
            }
        }
    }

    static Stream<Arguments> providersAndDtypes() {
        return WeightKernelsTest.providersAndDtypes();
    }

    /**
     * Through {@link TensorOps#matmul} (both providers, 1 and 2 threads): rows that are not a multiple
     * of the 16-row tasks, every awkward token count, the same results as the scalar reference.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndDtypes")
    void matmulMatchesTheReferenceAtAwkwardTokenCounts(String name, TensorOps ops, DType t) {
        SplittableRandom r = new SplittableRandom(22);
        TensorOps ref = Providers.reference();
        int cols = cols(t, 77, 96);
        for (int rows : new int[] {5, 67}) {
            try (Tensor w = weights(t, rows, cols, r)) {
                for (int tokens : TOKENS) {
                    float[] x = random(r, tokens * cols);
                    float[] out = new float[tokens * rows];
                    float[] refOut = new float[tokens * rows];
                    ops.matmul(w, x, tokens, out);
                    ref.matmul(w, x, tokens, refOut);
                    for (int tk = 0; tk < tokens; tk++) {
                        double[][] ex = exact(w, x, tk * cols);
                        for (int i = 0; i < rows; i++) {
                            String what = name + " rows=" + rows + " tokens=" + tokens + " [" + tk + "," + i + "]";
                            assertClose(refOut[tk * rows + i], out[tk * rows + i], ex[1][i], what + " vs scalar");
                            assertClose(ex[0][i], out[tk * rows + i], ex[1][i], what + " vs exact");
                        }
                    }
                }
            }
        }
    }

    /** The Panama kernels with a count of the calls of each method. */
    static VectorKernels counting(VectorKernels k, Map<String, AtomicInteger> calls) {
        return (VectorKernels) Proxy.newProxyInstance(VectorKernels.class.getClassLoader(), new Class<?>[] {VectorKernels.class},
                (proxy, m, args) -> {
                    calls.computeIfAbsent(m.getName(), n -> new AtomicInteger()).incrementAndGet();
                    try {
                        return m.invoke(k, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }

    static int count(Map<String, AtomicInteger> calls, String method) {
        AtomicInteger n = calls.get(method);
        return n == null ? 0 : n.get();
    }

    /**
     * The dispatch: from 2 tokens to {@link TensorOps#SMALL_BATCH_MAX_TOKENS} every row task of
     * {@link TensorOps#matmul} and {@link TensorOps#matmuls} runs the small-batch kernel of the
     * Panama provider (never the tiled kernel that decodes weights to memory); one more token takes
     * the outer-product kernel.
     */
    @Test
    void matmulTakesTheSmallBatchKernelUpToTheCutoff() {
        Map<String, AtomicInteger> calls = new ConcurrentHashMap<>();
        SplittableRandom r = new SplittableRandom(23);
        int rows = 100;
        int cols = 64;
        int tasks = (rows + 15) / 16; // at least: row tasks are multiples of 16 rows
        try (ComputePool two = ComputePool.create(2); Tensor w = weights(DType.Q8_0, rows, cols, r)) {
            TensorOps ops = new TensorOps(counting(Providers.panama(), calls), two);
            for (int tokens = 2; tokens <= TensorOps.SMALL_BATCH_MAX_TOKENS + 1; tokens++) {
                calls.clear();
                float[] x = random(r, tokens * cols);
                MatmulInput in = ops.matmulInput(x, tokens, cols);
                ops.matmul(w, in, new float[tokens * rows]);
                ops.matmuls(new Tensor[] {w, w}, in, new float[][] {new float[tokens * rows], new float[tokens * rows]});
                if (tokens <= TensorOps.SMALL_BATCH_MAX_TOKENS) {
                    assertTrue(in.transposed() == null, "no transposition for " + tokens + " tokens");
                    assertTrue(count(calls, "matmulRowsSmallBatch") >= 3 * Math.min(tasks, 2), tokens + " tokens: " + calls);
                    assertEquals(0, count(calls, "matmulRows"), tokens + " tokens: " + calls);
                    assertEquals(0, count(calls, "matmulRowsTransposed"), tokens + " tokens: " + calls);
                } else {
                    assertEquals(0, count(calls, "matmulRowsSmallBatch"), tokens + " tokens: " + calls);
                    assertTrue(count(calls, "matmulRowsTransposed") > 0, tokens + " tokens: " + calls);
                }
            }
        }
    }

    /**
     * {@link TensorOps#matmuls} (one dispatch for several weights) gives what one {@link
     * TensorOps#matmul} per weight gives, below and above the cutoff, for weights of different row
     * counts (Q and K of a grouped-query layer).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndDtypes")
    void matmulsEqualsOneMatmulPerWeight(String name, TensorOps ops, DType t) {
        SplittableRandom r = new SplittableRandom(24);
        int cols = cols(t, 40, 64);
        try (Tensor a = weights(t, 48, cols, r); Tensor b = weights(t, 17, cols, r)) {
            for (int tokens : new int[] {2, 8, TensorOps.SMALL_BATCH_MAX_TOKENS + 3}) {
                float[] x = random(r, tokens * cols);
                MatmulInput in = ops.matmulInput(x, tokens, cols);
                float[][] together = {new float[tokens * 48], new float[tokens * 17]};
                ops.matmuls(new Tensor[] {a, b}, in, together);
                float[] oa = new float[tokens * 48];
                float[] ob = new float[tokens * 17];
                ops.matmul(a, in, oa);
                ops.matmul(b, in, ob);
                for (int tk = 0; tk < tokens; tk++) {
                    double[] ma = exact(a, x, tk * cols)[1];
                    double[] mb = exact(b, x, tk * cols)[1];
                    for (int i = 0; i < 48; i++) {
                        assertClose(oa[tk * 48 + i], together[0][tk * 48 + i], ma[i], name + " a " + tokens + " [" + tk + "," + i + "]");
                    }
                    for (int i = 0; i < 17; i++) {
                        assertClose(ob[tk * 17 + i], together[1][tk * 17 + i], mb[i], name + " b " + tokens + " [" + tk + "," + i + "]");
                    }
                }
            }
        }
    }
}
