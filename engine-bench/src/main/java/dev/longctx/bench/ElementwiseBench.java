package dev.longctx.bench;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.rope.Rope;
import dev.longctx.core.rope.RopePairing;
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

/**
 * Elementwise kernels of {@link TensorOps} on {@code n} floats (default 128K = 131072, a long
 * attention-score row): rmsnorm, softmax, silu and dot, plus RoPE ({@link Rope#rotateHeads}) over
 * {@code n / 64} heads of 64. These run on the calling thread (the pool is created for uniformity
 * with the other benchmarks). {@link Throughput} counts the bytes the
 * operation logically reads and writes; at 512 KiB per array the data stays in L2, so the figure can
 * exceed the DRAM read bandwidth it is compared with.
 *
 * <p>softmax runs in place on its own output every time, which is stable (the values stay near
 * {@code 1/n}, never denormal). silu is not (repeating it drives values to zero and into denormals),
 * so each silu operation first copies the input into the work array; its bytes count that copy's
 * read of the input and the in-place result. RoPE rotates in place too; a rotation keeps every
 * pair's norm, so repeating it is stable.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class ElementwiseBench {
    /** RMSNorm epsilon of Llama-3.2 and SmolLM2 configs. */
    private static final float EPS = 1e-5f;
    /** Head dimension of Llama-3.2-1B and SmolLM2-135M. */
    private static final int HEAD_DIM = 64;
    /** RoPE theta of Llama-3.2. */
    private static final double ROPE_THETA = 500_000;
    /** Context length of the RoPE tables (Llama-3.2's 128K). */
    private static final int ROPE_MAX_POSITIONS = 131_072;
    /** Position rotated to: mid-context, so the angles are not trivially small. */
    private static final long ROPE_POSITION = 4096;

    /** Elements per operation. */
    @Param({"131072"})
    public int n;

    /** Threads of the compute pool, the caller included. */
    @Param({"2"})
    public int threads;

    private ComputePool pool;
    private TensorOps ops;
    private float[] x;
    private float[] y;
    private float[] weight;
    private float[] out;
    private float[] work;
    private float[] heads;
    private Rope rope;

    /** Seeded inputs and the pool. */
    @Setup(Level.Trial)
    public void setup() {
        x = BenchData.randomFloats(n, BenchData.SEED);
        y = BenchData.randomFloats(n, BenchData.SEED + 1);
        weight = BenchData.randomFloats(n, BenchData.SEED + 2);
        out = new float[n];
        work = x.clone();
        if (n % HEAD_DIM != 0) {
            throw new IllegalArgumentException("n = " + n + " is not a whole number of " + HEAD_DIM + "-element heads");
        }
        heads = x.clone();
        rope = Rope.standard(HEAD_DIM, ROPE_THETA, ROPE_MAX_POSITIONS);
        pool = ComputePool.create(threads);
        ops = new TensorOps(KernelProvider.get(), pool);
    }

    /** Stops the pool. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (pool != null) {
            pool.close();
        }
    }

    /** RMSNorm of {@code x} with a weight into {@code out}. */
    @Benchmark
    public float[] rmsnorm() {
        ops.rmsnorm(x, 0, weight, 0, EPS, out, 0, n);
        return out;
    }

    /** Stable softmax in place (on its previous output; see the class comment). */
    @Benchmark
    public float softmax() {
        return ops.softmax(work, 0, n);
    }

    /** SiLU of a fresh copy of {@code x}, in place. */
    @Benchmark
    public float[] silu() {
        System.arraycopy(x, 0, out, 0, n);
        ops.silu(out, 0, n);
        return out;
    }

    /**
     * RoPE of {@code n / 64} heads at one position, in place, HF {@code rotate_half} pairing. This
     * is {@link Rope#rotateHeads}, which also computes the 32-entry cos/sin table each call (small
     * next to rotating 128K elements).
     */
    @Benchmark
    public float[] rope() {
        rope.rotateHeads(heads, 0, n / HEAD_DIM, ROPE_POSITION, 0, RopePairing.ROTATE_HALF);
        return heads;
    }

    /** Dot product of two vectors. */
    @Benchmark
    public float dot() {
        return ops.dot(x, 0, y, 0, n);
    }
}
