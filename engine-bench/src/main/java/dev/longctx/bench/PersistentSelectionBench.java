package dev.longctx.bench;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.attention.PersistentSelection;
import dev.longctx.attention.PersistentSelectionAttention;
import dev.longctx.attention.RecordingAttention;
import dev.longctx.attention.SplitKDecodeAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
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
 * rest scattered uniformly: the worst case for locality). The sparse step
 * reads {@code selected / lk} of the keys, but each scattered key is a separate 128-byte row
 * somewhere in the cache: its time shows what reading rows out of order costs next to streaming
 * whole pages. Each operation runs {@code layers} layers of their own caches (8: the model's; 64 MiB
 * of BF16 K/V at 16K, more than a last-level cache, as in the real decode step, where a layer's
 * keys are long evicted when the next token reaches it), held in the engine's block pool. Compare
 * the kernels within one run. Threading: JMH benchmark state, one benchmark thread; the kernels
 * use their own pool of {@code threads}.
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
     * Kernel: splitk (exact, every key), persistent (the recorded selection, read in place),
     * gathered (the same selection copied row by row into dense pages, then exact split-K over
     * them: what the sparse step did before it read in place, {@link GatheredPages}) or recording
     * (exact plus recording a selection of {@code selected} keys: TidalDecode's selection layers,
     * Recycled Attention's full steps).
     */
    @Param({"splitk", "persistent", "gathered", "recording"})
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
    private BlockPool kvPool;
    private SequenceKvCache cache;
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
        // The engine's own paged cache (BF16 pages of 64 in a block pool, on huge pages where the
        // OS gives them): a scattered read pays the cache's TLB and memory behaviour, not a test view's.
        KvLayout layout = new KvLayout(layers, KV_HEADS, HEAD_DIM, 64, DType.BF16);
        long pages = (long) layers * KV_HEADS * ((lk + 63) / 64 + 1);
        kvPool = new BlockPool(layout, BlockPool.pageBytes(layout) * pages);
        cache = SequenceKvCache.create(kvPool);
        float[] k = new float[KV_HEADS * HEAD_DIM];
        float[] v = new float[KV_HEADS * HEAD_DIM];
        for (int layer = 0; layer < layers; layer++) {
            for (int pos = 0; pos < lk; pos++) {
                for (int i = 0; i < k.length; i++) {
                    k[i] = (float) (r.nextDouble() * 2 - 1);
                    v[i] = (float) (r.nextDouble() * 2 - 1);
                }
                cache.append(layer, k, v, pos);
            }
        }
        for (int layer = 0; layer < layers; layer++) {
            KvView[] views = cache.views(layer).clone();
            PersistentSelection sel = new PersistentSelection(KV_HEADS);
            for (int h = 0; h < KV_HEADS; h++) {
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
                case "gathered" -> new GatheredPages(views, sel, new SplitKDecodeAttention(ops));
                case "recording" -> new RecordingAttention(ops, new SplitKDecodeAttention(ops),
                        RecordingAttention.withLocalWindow(selected)).over(new PersistentSelection(KV_HEADS));
                default -> throw new IllegalArgumentException("kernel must be splitk, persistent, gathered or recording, got " + kernel);
            };
            float[] q = BenchData.randomFloats(QUERY_HEADS * HEAD_DIM, BenchData.SEED - 1 - layer);
            problem[layer] = AttentionProblem.causal(q, 1, QUERY_HEADS, views);
        }
        out = new float[problem[0].outputLength()];
    }

    /**
     * The sparse step as it was before it read in place: per call, each KV head's selected rows
     * (sorted positions; sinks, scattered keys and the recent window) copied key by key and value by
     * value into dense pages of the cache's page size, runs of consecutive rows in one copy, then
     * exact attention over those pages. Bench-only; one caller at a time.
     */
    static final class GatheredPages implements AttentionKernel {
        private final KvView[] base;
        private final int[][] keys;
        private final Dense[] dense;
        private final AttentionKernel exact;

        GatheredPages(KvView[] base, PersistentSelection sel, AttentionKernel exact) {
            this.base = base;
            this.exact = exact;
            this.keys = new int[base.length][];
            this.dense = new Dense[base.length];
            for (int h = 0; h < base.length; h++) {
                long[] pos = sel.positions(h);
                keys[h] = java.util.Arrays.stream(pos).mapToInt(x -> (int) x).toArray(); // a dense view: key index = position
                dense[h] = new Dense(base[h], keys[h].length);
            }
        }

        @Override
        public void attend(AttentionProblem p, float[] out, float[] lse, dev.longctx.attention.AttentionObserver observer) {
            KvView[] views = new KvView[base.length];
            for (int h = 0; h < base.length; h++) {
                views[h] = dense[h].fill(base[h], keys[h]);
            }
            exact.attend(new AttentionProblem(p.queries(), p.queryOffset(), p.queryRows(), p.queryHeads(), views,
                    p.queryPositions(), p.scale(), p.softCap(), p.mask()), out, lse, observer);
        }

        @Override
        public String name() {
            return "gathered";
        }
    }

    /** Dense off-heap pages holding copies of selected rows. */
    static final class Dense implements KvView {
        private final int ps;
        private final int d;
        private final DType t;
        private final long rowBytes;
        private final int n;
        private final java.lang.foreign.MemorySegment[] k;
        private final java.lang.foreign.MemorySegment[] v;
        private final long[] positions;

        Dense(KvView base, int n) {
            this.ps = base.pageSize();
            this.d = base.headDim();
            this.t = base.dtype();
            this.rowBytes = base.rowBytes();
            this.n = n;
            int pages = (n + ps - 1) / ps;
            java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofAuto();
            this.k = new java.lang.foreign.MemorySegment[pages];
            this.v = new java.lang.foreign.MemorySegment[pages];
            for (int i = 0; i < pages; i++) {
                k[i] = arena.allocate(rowBytes * ps, 64);
                v[i] = arena.allocate(rowBytes * ps, 64);
            }
            this.positions = new long[n];
        }

        Dense fill(KvView base, int[] keys) {
            int i = 0;
            while (i < keys.length) {
                int run = 1;
                int bp = keys[i] / ps;
                while (i + run < keys.length && keys[i + run] == keys[i] + run && (keys[i] + run) / ps == bp
                        && (i + run) / ps == i / ps) {
                    run++;
                }
                long src = (long) (keys[i] % ps) * rowBytes;
                long dst = (long) (i % ps) * rowBytes;
                java.lang.foreign.MemorySegment.copy(base.keys(bp), src, k[i / ps], dst, run * rowBytes);
                java.lang.foreign.MemorySegment.copy(base.values(bp), src, v[i / ps], dst, run * rowBytes);
                for (int j = 0; j < run; j++) {
                    positions[i + j] = base.position(bp, keys[i] % ps + j);
                }
                i += run;
            }
            return this;
        }

        @Override
        public int headDim() {
            return d;
        }

        @Override
        public DType dtype() {
            return t;
        }

        @Override
        public int pageSize() {
            return ps;
        }

        @Override
        public int pageCount() {
            return k.length;
        }

        @Override
        public int pageLength(int page) {
            return Math.min(ps, n - page * ps);
        }

        @Override
        public java.lang.foreign.MemorySegment keys(int page) {
            return k[page];
        }

        @Override
        public java.lang.foreign.MemorySegment values(int page) {
            return v[page];
        }

        @Override
        public long position(int page, int slot) {
            return positions[page * ps + slot];
        }

        @Override
        public boolean isValid(int page, int slot) {
            return slot < pageLength(page);
        }

        @Override
        public boolean allValid(int page) {
            return true;
        }
    }

    /** Stops the pool. */
    @TearDown(Level.Trial)
    public void tearDown() {
        if (cache != null) {
            cache.close();
        }
        if (kvPool != null) {
            kvPool.close();
        }
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
