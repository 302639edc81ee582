package dev.longctx.bench;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.attention.SplitKDecodeAttention;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.H2oPolicy;
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
 * The KV cache's per-step costs on the KV-cache issue's shapes: 8 KV heads x 128 dims, F16 pages.
 *
 * <ul>
 *   <li>{@code append}: one token's keys and values for every head of a layer (4 KiB of F16),
 *       quantised and written with page metadata; bytes written per op = 2 x 8 x 128 x 2.</li>
 *   <li>{@code h2oBookkeeping}: one H2O step at {@code depth} cached tokens: the observer's score
 *       updates for one query per head (as a decode kernel reports them) and the eviction.</li>
 *   <li>{@code exactDecode}: split-K decode attention at the same depth (g = 4), the yardstick the
 *       bookkeeping is compared with.</li>
 * </ul>
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
@Warmup(iterations = 2, time = 2)
@Measurement(iterations = 4, time = 2)
public class KvCacheBench {
    static final int KV_HEADS = 8;
    static final int HEAD_DIM = 128;
    /** Query heads per KV head for the decode yardstick (Llama-3-8B's 32 / 8). */
    static final int GROUP = 4;

    /** Cached tokens for the H2O and decode benchmarks. */
    @Param({"32768"})
    public int depth;

    /** Threads of the compute pool (decode yardstick). */
    @Param({"2"})
    public int threads;

    private final KvLayout layout = new KvLayout(1, KV_HEADS, HEAD_DIM, 64, DType.F16);
    private BlockPool pool;
    private SequenceKvCache appendCache;
    private long nextAppend;
    private SequenceKvCache deep;
    private H2oPolicy h2o;
    private long nextDeep;
    private float[] keys;
    private float[] values;
    private float[] probs;
    private ComputePool computePool;
    private SplitKDecodeAttention decode;
    private float[] query;
    private float[] out;

    /** Builds a deep cache and the inputs. */
    @Setup(Level.Trial)
    public void setup() {
        pool = new BlockPool(layout, 3L << 30);
        SplittableRandom r = new SplittableRandom(BenchData.SEED);
        keys = new float[KV_HEADS * HEAD_DIM];
        values = new float[KV_HEADS * HEAD_DIM];
        for (int i = 0; i < keys.length; i++) {
            keys[i] = (float) r.nextGaussian();
            values[i] = (float) r.nextGaussian();
        }
        appendCache = SequenceKvCache.create(pool);
        deep = SequenceKvCache.create(pool);
        for (int t = 0; t < depth; t++) {
            deep.append(0, keys, values, t);
        }
        nextDeep = depth;
        h2o = new H2oPolicy(depth / 2, depth / 2);
        probs = new float[layout.pageSize()];
        java.util.Arrays.fill(probs, 1f / depth);
        computePool = ComputePool.create(threads);
        decode = new SplitKDecodeAttention(new TensorOps(KernelProvider.get(), computePool));
        query = new float[KV_HEADS * GROUP * HEAD_DIM];
        for (int i = 0; i < query.length; i++) {
            query[i] = (float) r.nextGaussian();
        }
        out = new float[query.length];
    }

    /** Frees the caches and the pool. */
    @TearDown(Level.Trial)
    public void tearDown() {
        appendCache.close();
        deep.close();
        pool.close();
        computePool.close();
    }

    /** Appends one token to all 8 heads; starts a fresh sequence every 64K tokens. */
    @Benchmark
    public long append() {
        if (nextAppend == 65536) {
            appendCache.close();
            appendCache = SequenceKvCache.create(pool);
            nextAppend = 0;
        }
        appendCache.append(0, keys, values, nextAppend++);
        return nextAppend;
    }

    /** One H2O step at depth: a new token, one query's scores for every page and head, one eviction per head. */
    @Benchmark
    public int h2oBookkeeping() {
        deep.append(0, keys, values, nextDeep++);
        var observer = h2o.observer(deep, 0);
        for (int h = 0; h < KV_HEADS; h++) {
            KvView v = deep.view(0, h);
            for (int g = 0; g < GROUP; g++) {
                for (int p = 0; p < v.pageCount(); p++) {
                    observer.observe(0, h * GROUP + g, h, p, probs, v.pageLength(p));
                }
            }
        }
        h2o.afterStep(deep, 0);
        return deep.validLength(0, 0);
    }

    /** Exact split-K decode attention at depth (the yardstick). */
    @Benchmark
    public float[] exactDecode() {
        decode.attend(AttentionProblem.causal(query, 1, KV_HEADS * GROUP, deep.views(0)), out, null, null);
        return out;
    }
}
