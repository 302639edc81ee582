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
 * Decode-time matrix-vector product {@code out = W x} through {@link TensorOps#matvec} for every
 * weight dtype, on weight shapes {@code rows x cols} in PyTorch {@code [out, in]} layout: the
 * Llama-3.2-1B projections (2048x2048, 2048x8192, 8192x2048) and SmolLM2-135M's FFN (576x1536) and
 * tied embedding / LM head (49152x576).
 *
 * <p>Reported as time per operation; {@link Throughput} turns it into GB/s of weight bytes read,
 * compared with the read bandwidth {@link RooflineBench#read} measures.
 *
 * <p>With {@code cold=true} (the default) each operation uses the next of several copies of the
 * weights, together at least {@link #COLD_WORKING_SET_BYTES}, so the weights come from DRAM as they
 * do in decode, where a layer's matrices are evicted by the rest of the model before they are read
 * again. {@code -p cold=false} measures one matrix that may stay in cache.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class MatvecBench {
    /**
     * Total bytes of weight copies a cold run rotates over: 256 MiB, several times the last-level
     * cache of the machines this project targets (Zen 4 has 32 MiB of L3 per CCD).
     */
    static final long COLD_WORKING_SET_BYTES = 256L << 20;

    private static final Logger LOG = LoggerFactory.getLogger(MatvecBench.class);

    /** Weight dtype. */
    @Param({"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q6_K"})
    public String dtype;

    /** Weight shape, {@code ROWSxCOLS}. */
    @Param({"2048x2048", "2048x8192", "8192x2048", "576x1536", "49152x576"})
    public String shape;

    /** Whether to rotate over copies of the weights so they are read from DRAM (see class comment). */
    @Param({"true"})
    public boolean cold;

    /** Threads of the compute pool, the caller included. */
    @Param({"2"})
    public int threads;

    private ComputePool pool;
    private TensorOps ops;
    private Tensor[] weights;
    private int next;
    private float[] x;
    private float[] out;

    /** Builds the seeded weights (and their copies), the activations and the pool. */
    @Setup(Level.Trial)
    public void setup() {
        int[] s = Throughput.parseShape(shape);
        DType t = DType.valueOf(dtype);
        Tensor first = BenchData.randomWeight(t, s[0], s[1], BenchData.SEED);
        int copies = cold ? (int) Math.max(1, (COLD_WORKING_SET_BYTES + first.byteSize() - 1) / first.byteSize()) : 1;
        weights = new Tensor[copies];
        weights[0] = first;
        for (int i = 1; i < copies; i++) {
            weights[i] = BenchData.copyOf(first);
        }
        x = BenchData.randomFloats(s[1], BenchData.SEED + 1);
        out = new float[s[0]];
        pool = ComputePool.create(threads);
        ops = new TensorOps(KernelProvider.get(), pool);
        LOG.info("matvec {} {}: {} copies of {} bytes, kernels {}, {} threads",
                dtype, shape, copies, first.byteSize(), ops.kernels().name(), threads);
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

    /** One matrix-vector product. */
    @Benchmark
    public float[] matvec() {
        Tensor w = weights[next];
        next = next + 1 == weights.length ? 0 : next + 1;
        ops.matvec(w, x, 0, out, 0);
        return out;
    }
}
