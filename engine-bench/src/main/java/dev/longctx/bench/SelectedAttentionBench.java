package dev.longctx.bench;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.DenseKvView;
import dev.longctx.attention.KvView;
import dev.longctx.attention.QuestAttention;
import dev.longctx.attention.SelectedAttentionBudget;
import dev.longctx.attention.SplitKDecodeAttention;
import dev.longctx.attention.TiledAttention;
import dev.longctx.attention.TokenSelectAttention;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
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
 * Decode (one query row) with top-k selected attention against exact decode at long context:
 * {@code lk} cached tokens, 8 KV heads x 128 dims, g = 4 (32 query heads), F16 pages of
 * {@code pageSize} tokens.
 *
 * <ul>
 *   <li>{@code quest}: {@link QuestAttention} with a {@code budget}-token budget: reads the page
 *       bounds (2 x 128 f32 per page and head) and the K/V of the selected pages only.</li>
 *   <li>{@code tokenselect}: {@link TokenSelectAttention}, same budget: reads every key to score
 *       it (the same q.k work as exact decode), then selects and gathers the selected K/V: slower
 *       than exact on a CPU, a reference for selection quality.</li>
 *   <li>{@code splitk}: {@link SplitKDecodeAttention}, the exact decode kernel, and {@code tiled}:
 *       {@link TiledAttention}. Both read all of K and V: {@code 2 * lk * 8 * 128 * 2} bytes.</li>
 * </ul>
 * The target: Quest at 128K with a 4K budget at least 10x faster than exact split-K.
 * Quest calls the vector dot kernel about 130K times per op, so it needs a few seconds of warm-up
 * before C2 has compiled it: use warm-up iterations of 2 s or more. The views are built once per
 * trial (about 268 MB of F16 per K and per V at 128K, off-heap).
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx8g"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 4, time = 2)
public class SelectedAttentionBench {
    private static final Logger LOG = LoggerFactory.getLogger(SelectedAttentionBench.class);
    /** Query heads and KV heads of Llama-3-8B's layout (grouped-query attention, g = 4). */
    static final int QUERY_HEADS = 32;
    static final int KV_HEADS = 8;
    static final int HEAD_DIM = 128;

    /** Kernel: quest, tokenselect, splitk or tiled. */
    @Param({"quest", "tokenselect", "splitk", "tiled"})
    public String kernel;

    /** Decode context length (cached tokens per KV head). */
    @Param({"131072"})
    public int lk;

    /** Keys attended per KV head by the selected kernels (sinks and window included). */
    @Param({"4096"})
    public int budget;

    /** Tokens per KV page. */
    @Param({"64"})
    public int pageSize;

    /** KV page dtype. */
    @Param({"F16"})
    public String dtype;

    /** Threads of the compute pool, the caller included. */
    @Param({"2"})
    public int threads;

    private ComputePool pool;
    private AttentionKernel decode;
    private AttentionProblem problem;
    private float[] out;

    /** Builds the seeded views, the query row, the pool and the kernel. */
    @Setup(Level.Trial)
    public void setup() {
        pool = ComputePool.create(threads);
        TensorOps ops = new TensorOps(KernelProvider.get(), pool);
        SelectedAttentionBudget b = SelectedAttentionBudget.of(budget);
        decode = switch (kernel) {
            case "quest" -> new QuestAttention(ops, b);
            case "tokenselect" -> new TokenSelectAttention(ops, b);
            case "splitk" -> new SplitKDecodeAttention(ops);
            case "tiled" -> new TiledAttention(ops);
            default -> throw new IllegalArgumentException("kernel must be quest, tokenselect, splitk or tiled, got "
                    + kernel);
        };
        DType t = DType.valueOf(dtype);
        KvView[] views = new KvView[KV_HEADS];
        for (int h = 0; h < KV_HEADS; h++) {
            // Two seeds per head so K and V differ and heads differ; same inputs for every kernel.
            views[h] = DenseKvView.of(BenchData.randomFloats(lk * HEAD_DIM, BenchData.SEED + 2L * h),
                    BenchData.randomFloats(lk * HEAD_DIM, BenchData.SEED + 2L * h + 1), HEAD_DIM, t, pageSize);
        }
        float[] q = BenchData.randomFloats(QUERY_HEADS * HEAD_DIM, BenchData.SEED - 1);
        problem = AttentionProblem.causal(q, 1, QUERY_HEADS, views);
        out = new float[problem.outputLength()];
        LOG.info("selected decode {} lk={} budget={} page={} {} kernels {}, {} threads", kernel, lk, budget, pageSize,
                dtype, ops.kernels().name(), threads);
    }

    /** Stops the pool. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (pool != null) {
            pool.close();
        }
    }

    /** One decode step of one layer: 32 query heads against the 8 KV views. */
    @Benchmark
    public float[] decode() {
        decode.attend(problem, out, null, null);
        return out;
    }
}
