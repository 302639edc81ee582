package dev.longctx.bench;

import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.kernels.spi.SyntheticBlocks;
import dev.longctx.core.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;

/** Seeded inputs shared by the benchmarks: random weight tensors and activation vectors. */
final class BenchData {
    /** Seed of every random input, so runs and forks compare like with like. */
    static final long SEED = 0x10C7C7L;

    private BenchData() {
    }

    /**
     * An off-heap {@code [rows, cols]} tensor of {@code dtype} holding uniform values in [-1, 1)
     * quantised through {@link Quantization#quantize}, row by row so no float copy of the whole
     * matrix is needed.
     */
    static Tensor randomWeight(DType dtype, int rows, int cols, long seed) {
        Tensor t = Tensor.allocate(dtype, rows, cols);
        try {
            SplittableRandom rnd = new SplittableRandom(seed);
            if (!encodes(dtype)) {
                // Weight-only types (K-quants, IQ4, Q5_x, Q4_1): random valid blocks.
                SyntheticBlocks.fill(dtype, rnd, t.segment(), 0, rows * cols, 1.0);
                return t;
            }
            float[] row = new float[cols];
            MemorySegment seg = t.segment();
            long rowBytes = t.rowBytes();
            for (int r = 0; r < rows; r++) {
                fill(rnd, row);
                Quantization.quantize(dtype, row, 0, cols, seg, r * rowBytes);
            }
            return t;
        } catch (RuntimeException e) {
            t.close();
            throw e;
        }
    }

    /**
     * A weight of uniform values in [-scale, scale) (a model-like magnitude keeps activations
     * finite through many layers), or all ones for {@code scale < 0} (norm vectors).
     */
    static Tensor randomWeight(DType dtype, int rows, int cols, long seed, double scale) {
        Tensor t = Tensor.allocate(dtype, rows, cols);
        SplittableRandom rnd = new SplittableRandom(seed);
        if (!encodes(dtype) && scale >= 0) {
            SyntheticBlocks.fill(dtype, rnd, t.segment(), 0, rows * cols, scale);
            return t;
        }
        float[] row = new float[cols];
        for (int r = 0; r < rows; r++) {
            for (int i = 0; i < cols; i++) {
                row[i] = scale < 0 ? 1f : (float) ((rnd.nextDouble() * 2.0 - 1.0) * scale);
            }
            Quantization.quantize(dtype, row, 0, cols, t.segment(), r * t.rowBytes());
        }
        return t;
    }

    /** Whether the engine encodes {@code t} (the KV cache types); the others are read from files only. */
    static boolean encodes(DType t) {
        return switch (t) {
            case F32, F16, BF16, Q8_0, Q4_0 -> true;
            default -> false;
        };
    }

    /** A new off-heap tensor with the same dtype, shape and bytes as {@code src}. */
    static Tensor copyOf(Tensor src) {
        Tensor t = Tensor.allocate(src.dtype(), src.shape());
        MemorySegment.copy(src.segment(), 0, t.segment(), 0, src.byteSize());
        return t;
    }

    /** {@code n} uniform values in [-1, 1). */
    /** {@code n} token ids drawn uniformly from {@code [0, vocab)}: the prompts of the speed benchmarks. */
    static int[] randomTokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] ids = new int[n];
        for (int i = 0; i < n; i++) {
            ids[i] = r.nextInt(vocab);
        }
        return ids;
    }

    static float[] randomFloats(int n, long seed) {
        float[] a = new float[n];
        fill(new SplittableRandom(seed), a);
        return a;
    }

    private static void fill(SplittableRandom rnd, float[] a) {
        for (int i = 0; i < a.length; i++) {
            a[i] = (float) (rnd.nextDouble() * 2.0 - 1.0);
        }
    }
}
