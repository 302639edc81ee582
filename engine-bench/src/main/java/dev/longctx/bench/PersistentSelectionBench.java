package dev.longctx.bench;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.DenseKvView;
import dev.longctx.attention.KvView;
import dev.longctx.attention.PersistentSelection;
import dev.longctx.attention.PersistentSelectionAttention;
import dev.longctx.attention.RecordingAttention;
import dev.longctx.attention.SplitKDecodeAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import java.util.BitSet;
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
 * One decode step of one layer on the retrieval model's shape (2 KV heads x 64 dims, g = 2, BF16
 * pages of 64) at {@code lk} cached tokens: {@code splitk}, the full cache's exact kernel
 * ({@link SplitKDecodeAttention}, every key), against {@code persistent}, the sparse step of
 * TidalDecode and Recycled Attention ({@link PersistentSelectionAttention} over a recorded
 * selection of {@code selected} keys per KV head: 4 sinks, the 64 most recent positions and the
 * rest scattered uniformly, as a top-k of attention scores lands on this model). The sparse step
 * reads {@code selected / lk} of the keys, but each scattered key is a separate 128-byte row
 * somewhere in the cache: its time shows what reading rows out of order costs next to streaming
 * whole pages. Each operation runs {@code layers} layers of their own caches (8: the model's; 64 MiB
 * of BF16 K/V at 16K, more than a last-level cache, as in the real decode step, where a layer's
 * keys are long evicted when the next token reaches it). Compare the two within one run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Xmx4g"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class PersistentSelectionBench {
    /** The retrieval model's attention (tools/retrieval-model: 4 query heads, 2 KV heads, head dim 64). */
    static final int QUERY_HEADS = 4;
    static final int KV_HEADS = 2;
    static final int HEAD_DIM = 64;
    /** Sinks and recent window a recorded selection holds (RecordingAttention.withLocalWindow's defaults). */
    static final int SINKS = 4;
    static final int WINDOW = 64;

    /**
     * Kernel: splitk (exact, every key), persistent (the recorded selection) or recording (exact plus
     * recording a selection of {@code selected} keys: TidalDecode's selection layers, Recycled
     * Attention's full steps).
     */
    @Param({"splitk", "persistent", "recording"})
    public String kernel;

    /** Cached tokens per KV head. */
    @Param({"16000"})
    public int lk;

    /** Keys per KV head in the selection (1/8 of 16K: the budget). */
    @Param({"2048"})
    public int selected;

    /** Layers, each with its own cache and selection. */
    @Param({"8"})
    public int layers;

    /** Threads of the compute pool, the caller included. */
    @Param({"1"})
    public int threads;

    private ComputePool pool;
    private AttentionKernel[] decode;
    private AttentionProblem[] problem;
    private float[] out;

    /** Builds the views, the selection, the query and the kernel. */
    @Setup(Level.Trial)
    public void setup() {
        pool = ComputePool.create(threads);
        TensorOps ops = new TensorOps(KernelProvider.get(), pool);
        SplittableRandom r = new SplittableRandom(BenchData.SEED);
        decode = new AttentionKernel[layers];
        problem = new AttentionProblem[layers];
        for (int layer = 0; layer < layers; layer++) {
            KvView[] views = new KvView[KV_HEADS];
            PersistentSelection sel = new PersistentSelection(KV_HEADS);
            for (int h = 0; h < KV_HEADS; h++) {
                long seed = BenchData.SEED + 2L * (layer * KV_HEADS + h);
                views[h] = DenseKvView.of(BenchData.randomFloats(lk * HEAD_DIM, seed), BenchData.randomFloats(lk * HEAD_DIM, seed + 1),
                        HEAD_DIM, DType.BF16, 64);
                BitSet keys = new BitSet();
                keys.set(0, Math.min(SINKS, lk));
                keys.set(Math.max(0, lk - WINDOW), lk);
                while (keys.cardinality() < Math.min(selected, lk)) {
                    keys.set(r.nextInt(lk));
                }
                sel.record(h, views[h], keys);
            }
            sel.keepFrom(lk - 1);
            decode[layer] = switch (kernel) {
                case "splitk" -> new SplitKDecodeAttention(ops);
                case "persistent" -> new PersistentSelectionAttention(ops).over(sel);
                case "recording" -> new RecordingAttention(ops, new SplitKDecodeAttention(ops),
                        RecordingAttention.withLocalWindow(selected)).over(new PersistentSelection(KV_HEADS));
                default -> throw new IllegalArgumentException("kernel must be splitk, persistent or recording, got " + kernel);
            };
            float[] q = BenchData.randomFloats(QUERY_HEADS * HEAD_DIM, BenchData.SEED - 1 - layer);
            problem[layer] = AttentionProblem.causal(q, 1, QUERY_HEADS, views);
        }
        out = new float[problem[0].outputLength()];
    }

    /** Stops the pool. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (pool != null) {
            pool.close();
        }
    }

    /** One decode step: every layer once. */
    @Benchmark
    public float[] decode() {
        for (int layer = 0; layer < layers; layer++) {
            decode[layer].attend(problem[layer], out, null, null);
        }
        return out;
    }
}
