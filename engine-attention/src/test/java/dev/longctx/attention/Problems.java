package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.IntStream;

/** Random problems and comparison helpers shared by the kernel tests. */
final class Problems {
    static final ComputePool ONE = ComputePool.create(1);
    static final ComputePool TWO = ComputePool.create(2);

    private Problems() {
    }

    /** Scalar and Panama kernels on 1 and 2 threads; asserts that Panama really is Panama. */
    static List<TensorOps> allOps() {
        VectorKernels panama = KernelProvider.panama();
        assertTrue(panama.isVectorized(), "expected Panama kernels, got " + panama.name());
        // Under -Dlongctx.vectorBits=N (the 128-bit execution of the build) the kernels must run at N bits.
        String bits = System.getProperty("longctx.vectorBits");
        if (bits != null && !bits.isBlank()) {
            assertTrue(panama.name().equals("panama-" + bits.trim()), "expected panama-" + bits.trim() + ", got " + panama.name());
        }
        List<TensorOps> out = new ArrayList<>();
        for (VectorKernels k : List.of(KernelProvider.scalar(), panama)) {
            out.add(new TensorOps(k, ONE));
            out.add(new TensorOps(k, TWO));
        }
        return out;
    }

    static TensorOps panamaOneThread() {
        return new TensorOps(KernelProvider.panama(), ONE);
    }

    static TensorOps panamaTwoThreads() {
        return new TensorOps(KernelProvider.panama(), TWO);
    }

    static float[] gaussian(SplittableRandom r, int n, double scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (r.nextGaussian() * scale);
        }
        return a;
    }

    /**
     * KV views with random keys and values; the first {@code sinks} keys get a large component
     * along the mean query direction so they draw attention, as attention sinks do in real models.
     */
    static KvView[] views(SplittableRandom r, int kvHeads, int lk, int d, DType dtype, int pageSize, int sinks) {
        KvView[] out = new KvView[kvHeads];
        for (int h = 0; h < kvHeads; h++) {
            float[] k = gaussian(r, lk * d, 1);
            float[] v = gaussian(r, lk * d, 1);
            for (int i = 0; i < Math.min(sinks, lk); i++) {
                k[i * d] += 4f;
            }
            out[h] = DenseKvView.of(k, v, d, dtype, pageSize);
        }
        return out;
    }

    /**
     * Checks that a kernel gives the same output on 1 and 2 threads: bit for bit with the scalar
     * kernels; within 1e-6 relative with the Panama ones, whose {@code reduceLanes(ADD)} sums lanes
     * in an order that depends on how the JIT compiled the caller (interpreter, C1, C2, inlined or
     * not), so the last bits can change between calls whatever the thread count (see TensorOps).
     */
    static void assertSameAcrossThreads(java.util.function.Function<TensorOps, AttentionKernel> make, AttentionProblem p) {
        List<TensorOps> ops = allOps();
        float[][] outs = new float[4][];
        for (int i = 0; i < 4; i++) {
            outs[i] = new float[p.outputLength()];
            make.apply(ops.get(i)).attend(p, outs[i], null, null);
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(outs[0], outs[1], "scalar kernels, 1 vs 2 threads");
        double err = relativeError(outs[3], outs[2], outs[2].length);
        assertTrue(err <= 1e-6, "Panama kernels, 1 vs 2 threads: relative difference " + err);
    }

    /** Normwise relative error: max |a - b| / max |b| (0 when both are zero). */
    static double relativeError(float[] actual, float[] expected, int n) {
        double maxDiff = 0;
        double maxRef = 0;
        for (int i = 0; i < n; i++) {
            if (Float.isNaN(actual[i]) != Float.isNaN(expected[i])) {
                return Double.POSITIVE_INFINITY;
            }
            if (Float.isNaN(actual[i])) {
                continue;
            }
            maxDiff = Math.max(maxDiff, Math.abs((double) actual[i] - expected[i]));
            maxRef = Math.max(maxRef, Math.abs(expected[i]));
        }
        return maxRef == 0 ? maxDiff : maxDiff / maxRef;
    }

    /** Runs a kernel and the naive reference and checks outputs and LSEs. */
    static void assertMatchesNaive(AttentionKernel kernel, AttentionProblem p, double tol, String what) {
        float[] out = new float[p.outputLength()];
        float[] lse = new float[p.queryRows() * p.queryHeads()];
        float[] refOut = new float[p.outputLength()];
        float[] refLse = new float[p.queryRows() * p.queryHeads()];
        kernel.attend(p, out, lse, null);
        new NaiveAttention().attend(p, refOut, refLse, null);
        double err = relativeError(out, refOut, out.length);
        assertTrue(err <= tol, what + " " + p + ": relative error " + err + " > " + tol);
        for (int i = 0; i < lse.length; i++) {
            boolean bothEmpty = lse[i] == Float.NEGATIVE_INFINITY && refLse[i] == Float.NEGATIVE_INFINITY;
            assertTrue(bothEmpty || Math.abs(lse[i] - refLse[i]) <= 1e-4 * Math.max(1, Math.abs(refLse[i])),
                    what + " " + p + ": lse[" + i + "] " + lse[i] + " vs " + refLse[i]);
        }
    }

    /**
     * The naive HiP score of one key (HipTokenAttentionTest's blocks, HipEstimatorTest's pages): the largest
     * {@code q . key} of the query heads of KV head {@code h}'s group over the query {@code rows} the mask lets see
     * {@code position}, dotted in float in channel order; a NaN product wins and stays (as in the kernels); -inf
     * when no row sees the position.
     */
    static float maxGroupDot(AttentionProblem p, int h, int[] rows, float[] key, long position) {
        int d = p.headDim();
        int g = p.groupSize();
        float best = Float.NEGATIVE_INFINITY;
        for (int r : rows) {
            if (!p.mask().allows(p.queryPositions()[r], position)) {
                continue;
            }
            for (int j = 0; j < g; j++) {
                int qi = p.queryIndex(r, h * g + j);
                float s = 0f;
                for (int c = 0; c < d; c++) {
                    s += p.queries()[qi + c] * key[c];
                }
                if (s > best || Float.isNaN(s)) {
                    best = s;
                }
            }
        }
        return best;
    }

    /** {@link #maxGroupDot(AttentionProblem, int, int[], float[], long)} for the cached key in {@code slot} of {@code page}. */
    static float maxGroupDot(AttentionProblem p, int h, int[] rows, int page, int slot) {
        KvView v = p.kv()[h];
        float[] key = new float[p.headDim()];
        Quantization.dequantize(v.dtype(), v.keys(page), slot * v.rowBytes(), key, 0, key.length);
        return maxGroupDot(p, h, rows, key, v.position(page, slot));
    }

    /** Rows {@code r0 .. r1 - 1}. */
    static int[] rowRange(int r0, int r1) {
        return IntStream.range(r0, r1).toArray();
    }
}
