package dev.longctx.bench;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.attention.QuestAttention;
import dev.longctx.attention.SplitKDecodeAttention;
import dev.longctx.attention.TiledAttention;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
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
 * The attention of one decode step of the SmolLM2-135M shape on the paged KV cache itself: 30
 * layers x 3 KV heads x 64 dims, 9 query heads (g = 3), pages of 64 slots, filled token by token
 * across every layer and head as a model fills it (so the pool's per-head page runs apply).
 *
 * <ul>
 *   <li>{@code splitK}: split-K decode attention over every layer, the whole-model decode's
 *       attention at {@code depth}.</li>
 *   <li>{@code readPages}: decoding every K and V page of every layer into a float buffer and
 *       nothing else: the floor for any exact kernel that reads this cache, measured in the same
 *       conditions. Bytes per op = layers x 3 x depth x 64 x 2 x (bytes per element).</li>
 *   <li>{@code quest}: Quest with a budget of {@code questBudget} keys per KV head over every
 *       layer (page scan, selection, split-K over the selected pages; at a depth the budget
 *       covers, split-K over every page). On random keys the selection is scattered over the
 *       cache, as on a long real context.</li>
 *   <li>{@code tiled}: the tiled (FlashAttention-2) kernel on the same problem, one task per KV
 *       head and query tile: with {@code queries} above 1 this is a few-row prefill chunk at
 *       {@code depth} (a serving step's prompt rows), the case {@code splitK} is compared on.</li>
 * </ul>
 * Score: ms per decode step.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
@Warmup(iterations = 4, time = 2)
@Measurement(iterations = 6, time = 2)
public class PagedDecodeAttentionBench {
    // SmolLM2-135M's attention shape (its config.json): 30 layers, 3 KV heads, 9 query heads of 64.
    static final int LAYERS = 30;
    static final int KV_HEADS = 3;
    static final int HEAD_DIM = 64;
    static final int GROUP = 3;

    /** Cached tokens per head. */
    @Param({"4096", "16384"})
    public int depth;

    /** KV page dtype. */
    @Param({"F16"})
    public String kvType;

    /** Threads of the compute pool. */
    @Param({"2"})
    public int threads;

    /** Quest's budget in keys per KV head (the 4K-token budget). */
    @Param({"4096"})
    public int questBudget = 4096;

    /** Query rows per problem: 1 is a decode step, more a prefill chunk's last rows at {@code depth}. */
    @Param({"1"})
    public int queries = 1;

    private BlockPool blocks;
    private SequenceKvCache cache;
    private ComputePool pool;
    private TensorOps ops;
    private SplitKDecodeAttention splitK;
    private QuestAttention quest;
    private TiledAttention tiled;
    AttentionProblem[] problems;
    private float[] out;
    private final ThreadLocal<float[]> pageBuffer =
            ThreadLocal.withInitial(() -> new float[KvLayout.DEFAULT_PAGE_SIZE * HEAD_DIM]);

    /** Fills the cache and builds one problem per layer. */
    @Setup(Level.Trial)
    public void setup() {
        KvLayout layout = new KvLayout(LAYERS, KV_HEADS, HEAD_DIM, KvLayout.DEFAULT_PAGE_SIZE, DType.valueOf(kvType));
        long pages = (long) LAYERS * KV_HEADS * (depth / layout.pageSize() + 2);
        blocks = new BlockPool(layout, pages * BlockPool.pageBytes(layout));
        cache = SequenceKvCache.create(blocks);
        SplittableRandom r = new SplittableRandom(BenchData.SEED);
        float[] k = new float[KV_HEADS * HEAD_DIM];
        float[] v = new float[KV_HEADS * HEAD_DIM];
        for (int t = 0; t < depth; t++) {
            for (int i = 0; i < k.length; i++) {
                k[i] = (float) r.nextGaussian();
                v[i] = (float) r.nextGaussian();
            }
            for (int l = 0; l < LAYERS; l++) {
                cache.append(l, k, v, t);
            }
        }
        pool = ComputePool.create(threads);
        ops = new TensorOps(KernelProvider.get(), pool);
        splitK = new SplitKDecodeAttention(ops);
        quest = new QuestAttention(ops, questBudget);
        tiled = new TiledAttention(ops);
        float[] q = new float[queries * KV_HEADS * GROUP * HEAD_DIM];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) r.nextGaussian();
        }
        out = new float[q.length];
        problems = new AttentionProblem[LAYERS];
        for (int l = 0; l < LAYERS; l++) {
            problems[l] = AttentionProblem.causal(q, queries, KV_HEADS * GROUP, cache.views(l));
        }
    }

    /** The kernels and pool the benchmark runs on (for tests). */
    TensorOps ops() {
        return ops;
    }

    /** Frees the cache and the pools. */
    @TearDown(Level.Trial)
    public void tearDown() {
        cache.close();
        blocks.close();
        pool.close();
    }

    /** Split-K decode attention over every layer. */
    @Benchmark
    public float[] splitK() {
        for (AttentionProblem p : problems) {
            splitK.attend(p, out, null, null);
        }
        return out;
    }

    /** The tiled kernel over every layer. */
    @Benchmark
    public float[] tiled() {
        for (AttentionProblem p : problems) {
            tiled.attend(p, out, null, null);
        }
        return out;
    }

    /** Quest decode attention over every layer. */
    @Benchmark
    public float[] quest() {
        for (AttentionProblem p : problems) {
            quest.attend(p, out, null, null);
        }
        return out;
    }

    /** Every page of every layer decoded once, cut per head into eight tasks as split-K would. */
    @Benchmark
    public float readPages() {
        VectorKernels k = ops.kernels();
        int tasksPerHead = 8;
        float[] lastDecoded = new float[KV_HEADS * tasksPerHead]; // keeps the decoding observable
        for (AttentionProblem p : problems) {
            KvView[] views = p.kv();
            pool.parallelFor(KV_HEADS * tasksPerHead, task -> {
                KvView view = views[task / tasksPerHead];
                int part = task % tasksPerHead;
                int n = view.pageCount();
                float[] buf = pageBuffer.get();
                int elements = view.pageSize() * HEAD_DIM;
                for (int page = n * part / tasksPerHead; page < n * (part + 1) / tasksPerHead; page++) {
                    k.dequantize(view.dtype(), view.keys(page), 0, buf, 0, elements);
                    k.dequantize(view.dtype(), view.values(page), 0, buf, 0, elements);
                }
                lastDecoded[task] += buf[task % elements];
            });
        }
        float sum = 0;
        for (float x : lastDecoded) {
            sum += x;
        }
        return sum;
    }
}
