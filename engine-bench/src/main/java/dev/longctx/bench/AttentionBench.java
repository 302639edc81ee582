package dev.longctx.bench;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.DenseKvView;
import dev.longctx.attention.KvView;
import dev.longctx.attention.NaiveAttention;
import dev.longctx.attention.SplitKDecodeAttention;
import dev.longctx.attention.TiledAttention;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import java.util.SplittableRandom;
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
 * Exact attention kernels on the shapes of the attention issue's targets.
 *
 * <ul>
 *   <li>{@code prefill}: causal prefill of {@code n} tokens, 32 query heads over 8 KV heads,
 *       head_dim 128 (Llama-3-8B's layout). FLOPs per op: {@code 2 * 2 * Hq * D * n(n+1)/2}
 *       (Q.K^T and P.V over the causal half). {@code kernel=naive} is the reference; compare the
 *       two at the same {@code n}.</li>
 *   <li>{@code decode}: one query row against {@code lk} cached tokens, 8 KV heads x 128 dims,
 *       g = 4. Bytes per op: {@code 2 * lk * 8 * 128 * bytesPerElement} (K and V, read once per
 *       group), compared with the read bandwidth of {@link RooflineBench}.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx6g"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 4, time = 2)
public class AttentionBench {
    /** Query heads and KV heads of the target shapes (grouped-query attention, g = 4). */
    static final int QUERY_HEADS = 32;
    static final int KV_HEADS = 8;
    static final int HEAD_DIM = 128;
    /** Tokens per KV page. */
    static final int PAGE_SIZE = 64;

    /** Prefill kernel: tiled or naive. */
    @Param({"tiled"})
    public String kernel;

    /** Prefill length. */
    @Param({"4096"})
    public int n;

    /** Decode context length. */
    @Param({"131072"})
    public int lk;

    /** KV page dtype. */
    @Param({"F16"})
    public String dtype;

    /** Threads of the compute pool, the caller included. */
    @Param({"2"})
    public int threads;

    private ComputePool pool;
    private AttentionKernel prefillKernel;
    private AttentionKernel decodeKernel;
    private AttentionProblem prefillProblem;
    private AttentionProblem decodeProblem;
    private float[] prefillOut;
    private float[] decodeOut;

    /** Builds seeded views and queries. */
    @Setup(Level.Trial)
    public void setup() {
        pool = ComputePool.create(threads);
        TensorOps ops = new TensorOps(KernelProvider.get(), pool);
        prefillKernel = kernel.equals("naive") ? new NaiveAttention() : new TiledAttention(ops);
        decodeKernel = new SplitKDecodeAttention(ops);
        DType t = DType.valueOf(dtype);
        SplittableRandom r = new SplittableRandom(BenchData.SEED);
        KvView[] prefillViews = views(r, n, t);
        prefillProblem = AttentionProblem.causal(floats(r, n * QUERY_HEADS * HEAD_DIM), n, QUERY_HEADS, prefillViews);
        prefillOut = new float[prefillProblem.outputLength()];
        KvView[] decodeViews = views(r, lk, t);
        decodeProblem = AttentionProblem.causal(floats(r, QUERY_HEADS * HEAD_DIM), 1, QUERY_HEADS, decodeViews);
        decodeOut = new float[decodeProblem.outputLength()];
    }

    private static KvView[] views(SplittableRandom r, int tokens, DType t) {
        KvView[] v = new KvView[KV_HEADS];
        for (int h = 0; h < KV_HEADS; h++) {
            v[h] = DenseKvView.of(floats(r, tokens * HEAD_DIM), floats(r, tokens * HEAD_DIM), HEAD_DIM, t, PAGE_SIZE);
        }
        return v;
    }

    private static float[] floats(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    /** Stops the pool. */
    @TearDown(Level.Trial)
    public void tearDown() {
        pool.close();
    }

    /** Causal prefill of n tokens. */
    @Benchmark
    public float[] prefill() {
        prefillKernel.attend(prefillProblem, prefillOut, null, null);
        return prefillOut;
    }

    /** One decode step against lk cached tokens (split-K). */
    @Benchmark
    public float[] decode() {
        decodeKernel.attend(decodeProblem, decodeOut, null, null);
        return decodeOut;
    }
}
