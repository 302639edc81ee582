package dev.longctx.core.kernels;

import static dev.longctx.core.kernels.WeightKernelsTest.assertClose;
import static dev.longctx.core.kernels.WeightKernelsTest.exact;
import static dev.longctx.core.kernels.WeightKernelsTest.random;
import static dev.longctx.core.kernels.WeightKernelsTest.weights;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The small-batch matmul ({@link VectorKernels#matmulRowsSmallBatch}: weight blocks decoded in
 * registers once for a few tokens) against the scalar reference and the exact product, at awkward
 * token counts (around the kernel's groups of 4 and 2), row counts and row lengths.
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
        for (int cols : t.isQuantized() ? BLOCK_COLS : PLAIN_COLS) {
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
}
