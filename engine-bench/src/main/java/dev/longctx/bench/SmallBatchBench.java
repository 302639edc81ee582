package dev.longctx.bench;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.MatmulInput;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import java.util.concurrent.TimeUnit;
import java.util.function.IntConsumer;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A batched decode step's projection: {@code tokens} rows of activations (one per sequence) times a
 * weight matrix read from DRAM, three ways:
 * <ul>
 *   <li>{@link #matvecs}: one {@link TensorOps#matvec} per token, the weights read {@code tokens}
 *       times;</li>
 *   <li>{@link #tiledMatmul}: the matmul before the small-batch kernel, reproduced here: below 16
 *       tokens {@link VectorKernels#matmulRows} (each task's weight tile decoded to floats in memory,
 *       then 4 x 4 dot kernels) in tasks of {@code 32768 / cols} rows (8 to 64, multiples of 8); from
 *       16 tokens the outer-product kernel on activations transposed beforehand (the transposition,
 *       shared by Q, K and V in a decoder, is not timed);</li>
 *   <li>{@link #smallBatch}: {@link TensorOps#matmul} now, which up to its cutoff runs
 *       {@link VectorKernels#matmulRowsSmallBatch} (each weight block decoded in registers once for
 *       all tokens) in the matvec's row tasks.</li>
 * </ul>
 * Shapes are SmolLM2-135M's ({@code rows x cols}, PyTorch {@code [out, in]}): the gate / up
 * projection 1536x576, the down projection 576x1536 and the tied LM head 49152x576. Time per
 * operation; divide by {@code tokens} for the time per token row. Weights rotate over copies of
 * together 256 MiB as in {@link MatvecBench}, so they come from DRAM as in a decode step.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class SmallBatchBench {
    private static final Logger LOG = LoggerFactory.getLogger(SmallBatchBench.class);

    /** Weight dtype. */
    @Param({"Q8_0"})
    public String dtype;

    /** Weight shape, {@code ROWSxCOLS}. */
    @Param({"1536x576", "576x1536", "49152x576"})
    public String shape;

    /** Activation rows: sequences in the batched decode step. */
    @Param({"1", "2", "4", "8", "16"})
    public int tokens;

    /** Threads of the compute pool, the caller included. */
    @Param({"1", "2"})
    public int threads;

    /** The old matmul's tiled kernel below this many tokens, its outer-product kernel from it on. */
    static final int OLD_TRANSPOSE_MIN_TOKENS = 16;

    private ComputePool pool;
    private TensorOps ops;
    private VectorKernels kernels;
    private Tensor[] weights;
    private int next;
    private int rows;
    private int cols;
    private float[] x;
    private float[] xt;
    private int stride;
    private MatmulInput input;
    private float[] out;
    private int oldRowsPerTask;
    private Tensor current;
    private IntConsumer oldTask;

    /** Builds the seeded weights (and their copies), the activations and the pool. */
    @Setup(Level.Trial)
    public void setup() {
        int[] s = Throughput.parseShape(shape);
        rows = s[0];
        cols = s[1];
        DType t = DType.valueOf(dtype);
        Tensor first = BenchData.randomWeight(t, rows, cols, BenchData.SEED);
        int copies = (int) Math.max(1, (MatvecBench.COLD_WORKING_SET_BYTES + first.byteSize() - 1) / first.byteSize());
        weights = new Tensor[copies];
        weights[0] = first;
        for (int i = 1; i < copies; i++) {
            weights[i] = BenchData.copyOf(first);
        }
        x = BenchData.randomFloats(tokens * cols, BenchData.SEED + 1);
        out = new float[tokens * rows];
        pool = ComputePool.create(threads);
        ops = new TensorOps(KernelProvider.get(), pool);
        kernels = ops.kernels();
        input = ops.matmulInput(x, tokens, cols);
        int b = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;
        stride = (tokens + b - 1) / b * b;
        xt = transpose(x, tokens, cols, stride);
        int r = 32 * 1024 / cols;
        oldRowsPerTask = Math.max(8, Math.min(64, r)) / 8 * 8;
        oldTask = task -> {
            Tensor w = current;
            int from = task * oldRowsPerTask;
            int to = Math.min(rows, from + oldRowsPerTask);
            if (tokens < OLD_TRANSPOSE_MIN_TOKENS) {
                kernels.matmulRows(w.dtype(), w.segment(), w.rowBytes(), cols, from, to, x, tokens, out, rows);
            } else {
                kernels.matmulRowsTransposed(w.dtype(), w.segment(), w.rowBytes(), cols, from, to, xt, stride, tokens,
                        out, rows);
            }
        };
        LOG.info("small batch {} {} x {} tokens: {} copies of {} bytes, kernels {}, {} threads",
                dtype, shape, tokens, copies, first.byteSize(), kernels.name(), threads);
    }

    /** The blocked column-major layout of {@link VectorKernels#matmulRowsTransposed}. */
    static float[] transpose(float[] x, int tokens, int cols, int stride) {
        int b = VectorKernels.TRANSPOSED_TOKEN_MULTIPLE;
        float[] xt = new float[cols * stride];
        for (int t = 0; t < tokens; t++) {
            int base = (t / b) * b * cols + t % b;
            for (int c = 0; c < cols; c++) {
                xt[base + c * b] = x[t * cols + c];
            }
        }
        return xt;
    }

    /** Frees the weights and stops the pool. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (weights != null) {
            for (Tensor w : weights) {
                if (w != null) {
                    w.close();
                }
            }
        }
        if (pool != null) {
            pool.close();
        }
    }

    private Tensor nextWeight() {
        Tensor w = weights[next];
        next = next + 1 == weights.length ? 0 : next + 1;
        return w;
    }

    /** One matvec per token. */
    @Benchmark
    public float[] matvecs() {
        Tensor w = nextWeight();
        for (int t = 0; t < tokens; t++) {
            ops.matvec(w, x, t * cols, out, t * rows);
        }
        return out;
    }

    /** The matmul before the small-batch kernel (see the class comment). */
    @Benchmark
    public float[] tiledMatmul() {
        current = nextWeight();
        pool.parallelFor((rows + oldRowsPerTask - 1) / oldRowsPerTask, oldTask);
        current = null;
        return out;
    }

    /** {@link TensorOps#matmul}: the small-batch kernel up to its cutoff. */
    @Benchmark
    public float[] smallBatch() {
        ops.matmul(nextWeight(), input, out);
        return out;
    }
}
