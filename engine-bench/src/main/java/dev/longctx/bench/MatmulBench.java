package dev.longctx.bench;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import java.util.concurrent.TimeUnit;
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
 * Prefill matrix product {@code out[t, r] = sum_c W[r, c] x[t, c]} through
 * {@link TensorOps#matmul} for every weight dtype: {@code tokens} activation rows times the same
 * weight shapes as {@link MatvecBench} ({@code rows x cols}, PyTorch {@code [out, in]} layout). The
 * issue's "512x2048 times 2048x8192" is {@code tokens=512, shape=8192x2048}.
 *
 * <p>Reported as time per operation; {@link Throughput} turns it into GFLOP/s
 * ({@code 2 tokens rows cols} per operation), compared with the FMA peak {@link RooflineBench#fma}
 * measures. Prefill is compute-bound, so one copy of the weights is enough.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class MatmulBench {
    private static final Logger LOG = LoggerFactory.getLogger(MatmulBench.class);

    /** Weight dtype. */
    @Param({"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q6_K"})
    public String dtype;

    /** Weight shape, {@code ROWSxCOLS}. */
    @Param({"2048x2048", "2048x8192", "8192x2048", "576x1536", "49152x576"})
    public String shape;

    /** Activation rows (prompt tokens) multiplied at once: the pp512 of llama-bench. */
    @Param({"512"})
    public int tokens;

    /** Threads of the compute pool, the caller included. */
    @Param({"2"})
    public int threads;

    private ComputePool pool;
    private TensorOps ops;
    private Tensor weight;
    private float[] x;
    private float[] out;

    /** Builds the seeded weights, the activations and the pool. */
    @Setup(Level.Trial)
    public void setup() {
        int[] s = Throughput.parseShape(shape);
        weight = BenchData.randomWeight(DType.valueOf(dtype), s[0], s[1], BenchData.SEED);
        x = BenchData.randomFloats(Math.multiplyExact(tokens, s[1]), BenchData.SEED + 1);
        out = new float[Math.multiplyExact(tokens, s[0])];
        pool = ComputePool.create(threads);
        ops = new TensorOps(KernelProvider.get(), pool);
        LOG.info("matmul {} {} x {} tokens, kernels {}, {} threads", dtype, shape, tokens, ops.kernels().name(), threads);
    }

    /** Frees the weights and stops the pool. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (weight != null) {
            weight.close();
        }
        if (pool != null) {
            pool.close();
        }
    }

    /** One prefill matrix product. */
    @Benchmark
    public float[] matmul() {
        ops.matmul(weight, x, tokens, out);
        return out;
    }
}
