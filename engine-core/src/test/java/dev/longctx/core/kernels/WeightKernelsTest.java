package dev.longctx.core.kernels;

import dev.longctx.core.kernels.spi.MatmulInput;

import dev.longctx.core.kernels.spi.KernelProvider;

import dev.longctx.core.kernels.spi.ScalarKernels;

import dev.longctx.core.kernels.spi.SyntheticBlocks;

import dev.longctx.core.kernels.spi.VectorKernels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** matvec, matmul and dequantisation for every weight dtype against the scalar reference. */
class WeightKernelsTest {
    static final int[] ROWS = {1, 7, 16, 31, 64, 127};
    /** Row lengths for plain dtypes: the awkward sizes. */
    static final int[] PLAIN_COLS = {1, 7, 16, 31, 64, 127, 1000, 4099};
    /** Row lengths for block dtypes: whole blocks of 32, 1 / odd / prime counts of blocks. */
    static final int[] BLOCK_COLS = {32, 96, 224, 1024, 4128};
    /** Row lengths for K-quant / IQ4_XS super-blocks of 256: one, three, seven and seventeen blocks. */
    static final int[] SUPER_BLOCK_COLS = {256, 768, 1792, 4352};

    static Stream<Arguments> providersAndDtypes() {
        return Providers.all().flatMap(a -> Stream.of(DType.values())
                .map(t -> Arguments.of(a.get()[0] + "/" + t, a.get()[1], t)));
    }

    static int[] colsFor(DType t) {
        return switch (t.blockSize()) {
            case 1 -> PLAIN_COLS;
            case 32 -> BLOCK_COLS;
            default -> SUPER_BLOCK_COLS;
        };
    }

    /** {@code plain} for plain types, else the smallest whole number of blocks at least {@code blocked}. */
    static int cols(DType t, int plain, int blocked) {
        int b = t.blockSize();
        return b == 1 ? plain : (blocked + b - 1) / b * b;
    }

    /** Whether the engine encodes this type (the KV cache types); the others are weight-only. */
    static boolean encodable(DType t) {
        return switch (t) {
            case F32, F16, BF16, Q8_0, Q4_0 -> true;
            default -> false;
        };
    }

    static float[] random(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian());
        }
        return a;
    }

    /**
     * A [rows, cols] weight tensor of type t: quantised Gaussian values for the types the engine
     * encodes, random valid blocks (every code pattern, values within about [-2, 2]) for the
     * weight-only types.
     */
    static Tensor weights(DType t, int rows, int cols, SplittableRandom r) {
        Tensor w = Tensor.allocate(t, rows, cols);
        if (!encodable(t)) {
            SyntheticBlocks.fill(t, r, w.segment(), 0, rows * cols, 2.0);
            return w;
        }
        float[] v = random(r, rows * cols);
        for (int i = 0; i < rows; i++) {
            Quantization.quantize(t, v, i * cols, cols, w.segment(), i * w.rowBytes());
        }
        return w;
    }

    /** Exact (double) product of the decoded weights with x, and the sum of |terms| for tolerances. */
    static double[][] exact(Tensor w, float[] x, int xOff) {
        int rows = (int) w.rows();
        int cols = (int) w.columns();
        float[] dec = w.toFloatArray();
        double[][] out = new double[2][rows];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) {
                double p = (double) dec[r * cols + c] * x[xOff + c];
                out[0][r] += p;
                out[1][r] += Math.abs(p);
            }
        }
        return out;
    }

    static void assertClose(double expected, double actual, double magnitude, String what) {
        double tol = 2e-6 * magnitude + 1e-6;
        assertTrue(Math.abs(expected - actual) <= tol,
                what + ": expected " + expected + " got " + actual + " (tolerance " + tol + ")");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndDtypes")
    void matvecMatchesReference(String name, TensorOps ops, DType t) {
        SplittableRandom r = new SplittableRandom(11);
        TensorOps ref = Providers.reference();
        for (int rows : ROWS) {
            for (int cols : colsFor(t)) {
                try (Tensor w = weights(t, rows, cols, r)) {
                    float[] x = random(r, cols + 5);
                    float[] out = new float[rows + 2];
                    float[] refOut = new float[rows + 2];
                    ops.matvec(w, x, 5, out, 2);
                    ref.matvec(w, x, 5, refOut, 2);
                    double[][] ex = exact(w, x, 5);
                    for (int i = 0; i < rows; i++) {
                        String what = name + " rows=" + rows + " cols=" + cols + " row " + i;
                        assertClose(refOut[2 + i], out[2 + i], ex[1][i], what + " vs scalar");
                        assertClose(ex[0][i], out[2 + i], ex[1][i], what + " vs exact");
                    }
                    assertEquals(0f, out[0]);
                    assertEquals(0f, out[1]);
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndDtypes")
    void matmulMatchesReference(String name, TensorOps ops, DType t) {
        SplittableRandom r = new SplittableRandom(12);
        TensorOps ref = Providers.reference();
        int[] tokensList = {1, 3, 4, 7, 17};
        int[] rowsList = {1, 7, 31, 64, 127};
        int[] colsList = switch (t.blockSize()) {
            case 1 -> new int[] {1, 7, 16, 31, 64, 127, 1000};
            case 32 -> new int[] {32, 96, 1024};
            default -> new int[] {256, 768, 1792};
        };
        for (int tokens : tokensList) {
            for (int rows : rowsList) {
                for (int cols : colsList) {
                    try (Tensor w = weights(t, rows, cols, r)) {
                        float[] x = random(r, tokens * cols);
                        float[] out = new float[tokens * rows];
                        float[] refOut = new float[tokens * rows];
                        ops.matmul(w, x, tokens, out);
                        ref.matmul(w, x, tokens, refOut);
                        for (int tk = 0; tk < tokens; tk++) {
                            double[][] ex = exact(w, x, tk * cols);
                            for (int i = 0; i < rows; i++) {
                                String what = name + " tokens=" + tokens + " rows=" + rows + " cols=" + cols
                                        + " [" + tk + "," + i + "]";
                                assertClose(refOut[tk * rows + i], out[tk * rows + i], ex[1][i], what + " vs scalar");
                                assertClose(ex[0][i], out[tk * rows + i], ex[1][i], what + " vs exact");
                            }
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndDtypes")
    void matmulHandlesLongRows(String name, TensorOps ops, DType t) {
        // The longest awkward size, through both matmul paths (fewer than 16 tokens: dot-product
        // kernel; 16 or more: outer-product kernel on transposed activations).
        SplittableRandom r = new SplittableRandom(15);
        int cols = cols(t, 4099, 4128);
        TensorOps ref = Providers.reference();
        for (int tokens : new int[] {3, 17}) {
            try (Tensor w = weights(t, 7, cols, r)) {
                float[] x = random(r, tokens * cols);
                float[] out = new float[tokens * 7];
                float[] refOut = new float[tokens * 7];
                ops.matmul(w, x, tokens, out);
                ref.matmul(w, x, tokens, refOut);
                for (int tk = 0; tk < tokens; tk++) {
                    double[][] ex = exact(w, x, tk * cols);
                    for (int i = 0; i < 7; i++) {
                        assertClose(ex[0][i], out[tk * 7 + i], ex[1][i], name + " tokens=" + tokens + " [" + tk + "," + i + "]");
                        assertClose(refOut[tk * 7 + i], out[tk * 7 + i], ex[1][i], name + " vs scalar");
                    }
                }
            }
        }
    }

    @Test
    void matmulTasksHoldWholeEightRowBlocks() {
        for (int cols : new int[] {1, 7, 576, 1536, 2048, 8192, 100_000}) {
            int r = TensorOps.matmulRowsPerTask(cols);
            assertEquals(0, r % TensorOps.MATMUL_ROW_MULTIPLE, "cols=" + cols + ": " + r + " rows per task");
            assertTrue(r >= 8 && r <= TensorOps.MATMUL_MAX_ROWS_PER_TASK, "cols=" + cols + ": " + r);
            assertTrue(r == 8 || (long) r * cols <= TensorOps.MATMUL_TILE_FLOATS, "cols=" + cols + ": tile of " + r + " rows");
        }
    }

    @Test
    void oneAndTwoThreadsGiveTheSameResults() {
        SplittableRandom r = new SplittableRandom(13);
        try (ComputePool one = ComputePool.create(1); ComputePool two = ComputePool.create(2)) {
            for (VectorKernels k : new VectorKernels[] {KernelProvider.scalar(), Providers.panama()}) {
                TensorOps a = new TensorOps(k, one);
                TensorOps b = new TensorOps(k, two);
                for (DType t : DType.values()) {
                    int cols = cols(t, 333, 320);
                    int rows = 203;
                    int tokens = 40; // >= 16: the outer-product matmul, which has no horizontal sums
                    try (Tensor w = weights(t, rows, cols, r)) {
                        float[] x = random(r, tokens * cols);
                        float[] o1 = new float[tokens * rows];
                        float[] o2 = new float[tokens * rows];
                        a.matmul(w, x, tokens, o1);
                        b.matmul(w, x, tokens, o2);
                        assertArrayEquals(o1, o2, k.name() + " " + t + " matmul");
                        float[] v1 = new float[rows];
                        float[] v2 = new float[rows];
                        a.matvec(w, x, 0, v1, 0);
                        b.matvec(w, x, 0, v2, 0);
                        if (!k.isVectorized()) {
                            assertArrayEquals(v1, v2, k.name() + " " + t + " matvec");
                        } else {
                            // reduceLanes(ADD) sums in a JIT-dependent order (see TensorOps): last bits only.
                            for (int i = 0; i < rows; i++) {
                                assertEquals(v1[i], v2[i], 1e-5f * Math.max(1f, Math.abs(v1[i])), t + " matvec row " + i);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void panamaDequantizeIsBitExactForEveryDtype() {
        VectorKernels p = Providers.panama();
        SplittableRandom r = new SplittableRandom(14);
        for (DType t : DType.values()) {
            int n = cols(t, 4099, 4128);
            float[] v = random(r, n);
            v[5] = 0f;
            v[6] = -0f;
            MemorySegment seg = MemorySegment.ofArray(new byte[(int) t.bytesFor(n)]);
            if (encodable(t)) {
                Quantization.quantize(t, v, 0, n, seg, 0);
            } else {
                SyntheticBlocks.fill(t, r, seg, 0, n, 2.0);
            }
            float[] a = new float[n];
            float[] b = new float[n];
            Quantization.dequantize(t, seg, 0, a, 0, n);
            p.dequantize(t, seg, 0, b, 0, n);
            assertArrayEquals(a, b, t.toString());
        }
    }

    @Test
    void panamaF16EncodingIsBitExactWithTheJdk() {
        VectorKernels p = Providers.panama();
        SplittableRandom r = new SplittableRandom(16);
        int n = 1 << 16;
        float[] v = new float[n + 3];
        for (int round = 0; round < 64; round++) {
            for (int i = 0; i < v.length; i++) {
                // Every bit pattern is fair game: subnormals, overflow, infinities, NaNs, ties.
                v[i] = round % 2 == 0 ? Float.intBitsToFloat(r.nextInt())
                        : (float) (r.nextGaussian() * Math.pow(2, r.nextInt(-30, 20)));
            }
            v[0] = 65504f;
            v[1] = 65520f;
            v[2] = 0x1p-24f * 1.5f;
            v[3] = -0f;
            MemorySegment a = MemorySegment.ofArray(new byte[2 * v.length]);
            MemorySegment b = MemorySegment.ofArray(new byte[2 * v.length]);
            Quantization.quantize(DType.F16, v, 0, v.length, a, 0);
            p.quantize(DType.F16, v, 0, v.length, b, 0);
            for (int i = 0; i < v.length; i++) {
                short x = a.get(Quantization.SHORT_LE, 2L * i);
                short y = b.get(Quantization.SHORT_LE, 2L * i);
                if (Float.isNaN(v[i])) {
                    assertTrue(Float.isNaN(Float.float16ToFloat(y)), "NaN stays NaN");
                } else {
                    assertEquals(x, y, "F16 of " + v[i] + " (0x" + Integer.toHexString(Float.floatToRawIntBits(v[i])) + ")");
                }
            }
        }
        for (DType t : DType.values()) {
            if (!encodable(t)) {
                continue; // weight-only types: see weightOnlyTypesDoNotEncode
            }
            float[] w = random(r, 96);
            MemorySegment a = MemorySegment.ofArray(new byte[(int) t.bytesFor(96)]);
            MemorySegment b = MemorySegment.ofArray(new byte[(int) t.bytesFor(96)]);
            Quantization.quantize(t, w, 0, 96, a, 0);
            p.quantize(t, w, 0, 96, b, 0);
            assertEquals(-1L, a.mismatch(b), t.toString());
        }
    }

    @Test
    void panamaHalfConversionIsExactForAll65536Values() {
        VectorKernels p = Providers.panama();
        MemorySegment seg = MemorySegment.ofArray(new byte[2 * 65536]);
        for (int h = 0; h < 65536; h++) {
            seg.set(Quantization.SHORT_LE, 2L * h, (short) h);
        }
        float[] f16 = new float[65536];
        float[] bf16 = new float[65536];
        p.dequantize(DType.F16, seg, 0, f16, 0, 65536);
        p.dequantize(DType.BF16, seg, 0, bf16, 0, 65536);
        for (int h = 0; h < 65536; h++) {
            float eb = Float.intBitsToFloat(h << 16);
            assertEquals(Float.floatToRawIntBits(eb), Float.floatToRawIntBits(bf16[h]), "BF16 0x" + Integer.toHexString(h));
            float e = Float.float16ToFloat((short) h);
            if (Float.isNaN(e)) {
                // NaN payloads are not meaningful (the JDK also sets the quiet bit); NaN-ness is.
                assertTrue(Float.isNaN(f16[h]), "F16 NaN 0x" + Integer.toHexString(h) + " decoded as " + f16[h]);
                continue;
            }
            assertEquals(Float.floatToRawIntBits(e), Float.floatToRawIntBits(f16[h]),
                    "F16 0x" + Integer.toHexString(h) + ": expected " + e + " got " + f16[h]);
        }
    }

    /**
     * A prepared input shared by several weights gives what a fresh matmul gives each: bit for bit
     * on the transposed (outer-product) path and with scalar kernels.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("providersAndDtypes")
    void sharedMatmulInputEqualsFreshMatmul(String name, TensorOps ops, DType t) {
        SplittableRandom r = new SplittableRandom(17);
        int cols = colsFor(t)[2];
        for (int tokens : new int[] {1, 7, 15, 16, 31, 64}) {
            float[] x = random(r, tokens * cols);
            MatmulInput in = ops.matmulInput(x, tokens, cols);
            assertEquals(TensorOps.transposes(tokens), in.transposed() != null, "transposed at " + tokens);
            for (int rows : new int[] {7, 64}) {
                try (Tensor w = weights(t, rows, cols, r)) {
                    float[] fresh = new float[tokens * rows];
                    float[] shared = new float[tokens * rows];
                    ops.matmul(w, x, tokens, fresh);
                    ops.matmul(w, in, shared);
                    if (in.transposed() != null || ops.kernels() instanceof ScalarKernels) {
                        assertArrayEquals(fresh, shared, name + " tokens=" + tokens + " rows=" + rows);
                    } else {
                        // Same code, but Panama's reduceLanes order may differ between calls (see TensorOps).
                        for (int tk = 0; tk < tokens; tk++) {
                            double[] magnitude = exact(w, x, tk * cols)[1];
                            for (int j = 0; j < rows; j++) {
                                assertClose(fresh[tk * rows + j], shared[tk * rows + j], magnitude[j],
                                        name + " tokens=" + tokens + " rows=" + rows + " at " + tk + "," + j);
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void badShapesAreClearErrors() {
        TensorOps ops = Providers.reference();
        try (Tensor w = Tensor.allocate(DType.F32, 4, 8)) {
            var e = assertThrows(IllegalArgumentException.class, () -> ops.matvec(w, new float[7], 0, new float[4], 0));
            assertTrue(e.getMessage().contains("matvec") && e.getMessage().contains("columns 8"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ops.matvec(w, new float[8], 0, new float[3], 0));
            assertTrue(e.getMessage().contains("rows 4"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ops.matmul(w, new float[8], 2, new float[8]));
            assertTrue(e.getMessage().contains("matmul") && e.getMessage().contains("tokens=2"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> ops.matmul(w, new float[16], -1, new float[8]));
            assertTrue(e.getMessage().contains("negative token count"), e.getMessage());
            MatmulInput narrow = ops.matmulInput(new float[14], 2, 7);
            e = assertThrows(IllegalArgumentException.class, () -> ops.matmul(w, narrow, new float[8]));
            assertTrue(e.getMessage().contains("7 columns") && e.getMessage().contains("has 8"), e.getMessage());
        }
    }
}
