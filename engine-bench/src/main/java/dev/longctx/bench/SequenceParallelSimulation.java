package dev.longctx.bench;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.PartialState;
import dev.longctx.attention.SplitKDecodeAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * Sequence-parallel decode simulated in one JVM (docs/distributed.md): one context's KV cache cut
 * into {@code workers} contiguous shards of positions, each in a {@link BlockPool} and
 * {@link SequenceKvCache} of its own, as N machines would hold it. A decode step sends the query of
 * each layer to every shard; each computes the partial attention state (output and log-sum-exp) of
 * that query over its keys with the decode kernel; the states are merged with
 * {@link PartialState#merge} into the layer's output. The same context is also held whole in one
 * pool, and every step is compared with single-pool attention.
 *
 * <p>Shards are cut at {@code context * i / workers}: not at page boundaries, so every shard but
 * the first starts and ends inside a page, and a shard may be shorter than one page.
 *
 * <p>Threading: one thread at a time (the kernels use the given pool); close it to free the pools.
 */
public final class SequenceParallelSimulation implements AutoCloseable {

    /**
     * The attention shape of a model.
     *
     * @param name for tables
     * @param layers transformer layers
     * @param queryHeads query heads
     * @param kvHeads key/value heads
     * @param headDim elements per head
     */
    public record Shape(String name, int layers, int queryHeads, int kvHeads, int headDim) {
        /** SmolLM2-135M (its config.json): 30 layers, 9 query and 3 KV heads of 64. */
        public static final Shape SMOLLM2_135M = new Shape("smollm2-135m", 30, 9, 3, 64);
        /** Llama 3.1 8B: 32 layers, 32 query and 8 KV heads of 128. */
        public static final Shape LLAMA3_8B = new Shape("llama3-8b", 32, 32, 8, 128);

        /** Bytes of keys and values per cached token, all layers, at {@code kvType}. */
        public long kvBytesPerToken(DType kvType) {
            return 2L * layers * kvHeads * headDim * kvType.blockBytes() / kvType.blockSize();
        }
    }

    /**
     * What one decode step costs and how far the merged result is from single-pool attention.
     *
     * @param shardNanos per shard, attention over all layers (what each worker computes)
     * @param mergeNanos merging the partial states of all layers (the coordinator's work)
     * @param wholeNanos single-pool attention over all layers
     * @param maxAbsDiff largest |merged - single pool| over every layer, head and element
     */
    public record Step(long[] shardNanos, long mergeNanos, long wholeNanos, double maxAbsDiff) {
        /** The slowest shard: the step's attention latency with one worker per shard. */
        public long slowestShardNanos() {
            long m = 0;
            for (long n : shardNanos) {
                m = Math.max(m, n);
            }
            return m;
        }
    }

    private final Shape shape;
    private final int context;
    private final int workers;
    private final AttentionKernel kernel;
    private final BlockPool wholePool;
    private final SequenceKvCache whole;
    private final BlockPool[] shardPools;
    private final SequenceKvCache[] shards;
    private final int[] shardStart;
    private final SplittableRandom random;
    private final float[] query;
    private final float[] wholeOut;
    private final float[][] shardOut;
    private final float[][] shardLse;
    private final float[] merged;

    /**
     * Fills the whole cache and the shards with the same random keys and values (Gaussian), token
     * by token, every layer.
     *
     * @param context cached tokens; the query sits at position {@code context}
     * @param workers shards (1 to {@code context})
     */
    public SequenceParallelSimulation(Shape shape, int context, int workers, DType kvType, TensorOps ops, long seed) {
        this.shape = Objects.requireNonNull(shape, "shape");
        if (context <= 0 || workers <= 0 || workers > context) {
            throw new IllegalArgumentException("need 0 < workers <= context, got " + workers + " workers for " + context + " tokens");
        }
        this.context = context;
        this.workers = workers;
        this.kernel = new SplitKDecodeAttention(ops);
        KvLayout layout = new KvLayout(shape.layers(), shape.kvHeads(), shape.headDim(), KvLayout.DEFAULT_PAGE_SIZE, kvType);
        this.wholePool = new BlockPool(layout, budget(layout, context));
        this.whole = SequenceKvCache.create(wholePool);
        this.shardPools = new BlockPool[workers];
        this.shards = new SequenceKvCache[workers];
        this.shardStart = new int[workers + 1];
        for (int i = 0; i <= workers; i++) {
            shardStart[i] = (int) ((long) context * i / workers);
        }
        for (int i = 0; i < workers; i++) {
            shardPools[i] = new BlockPool(layout, budget(layout, shardStart[i + 1] - shardStart[i]));
            shards[i] = SequenceKvCache.create(shardPools[i]);
        }
        this.random = new SplittableRandom(seed);
        int kvWidth = shape.kvHeads() * shape.headDim();
        float[] k = new float[kvWidth];
        float[] v = new float[kvWidth];
        int shard = 0;
        for (int t = 0; t < context; t++) {
            while (t >= shardStart[shard + 1]) {
                shard++;
            }
            for (int l = 0; l < shape.layers(); l++) {
                for (int i = 0; i < kvWidth; i++) {
                    k[i] = (float) random.nextGaussian();
                    v[i] = (float) random.nextGaussian();
                }
                whole.append(l, k, v, t);
                shards[shard].append(l, k, v, t);
            }
        }
        int qWidth = shape.queryHeads() * shape.headDim();
        this.query = new float[qWidth];
        this.wholeOut = new float[qWidth];
        this.shardOut = new float[workers][qWidth];
        this.shardLse = new float[workers][shape.queryHeads()];
        this.merged = new float[qWidth];
    }

    private static long budget(KvLayout layout, int tokens) {
        long pagesPerHead = tokens / layout.pageSize() + 2;
        return (long) layout.layers() * layout.kvHeads() * pagesPerHead * BlockPool.pageBytes(layout);
    }

    /** Tokens in shard {@code i}. */
    public int shardTokens(int i) {
        return shardStart[i + 1] - shardStart[i];
    }

    /** Shards. */
    public int workers() {
        return workers;
    }

    /** One decode step: a new random query per layer, attention per shard, merge, and single-pool attention. */
    public Step step() {
        long[] shardNanos = new long[workers];
        long mergeNanos = 0;
        long wholeNanos = 0;
        double diff = 0;
        long[] positions = {context};
        float scale = (float) (1 / Math.sqrt(shape.headDim()));
        int d = shape.headDim();
        for (int l = 0; l < shape.layers(); l++) {
            for (int i = 0; i < query.length; i++) {
                query[i] = (float) random.nextGaussian();
            }
            for (int w = 0; w < workers; w++) {
                AttentionProblem p = new AttentionProblem(query, 0, 1, shape.queryHeads(), shards[w].views(l), positions, scale,
                        0f, AttentionMask.CAUSAL);
                long t0 = System.nanoTime();
                kernel.attend(p, shardOut[w], shardLse[w], null);
                shardNanos[w] += System.nanoTime() - t0;
            }
            long t0 = System.nanoTime();
            System.arraycopy(shardOut[0], 0, merged, 0, merged.length);
            for (int h = 0; h < shape.queryHeads(); h++) {
                float lse = shardLse[0][h];
                for (int w = 1; w < workers; w++) {
                    lse = PartialState.merge(merged, h * d, lse, shardOut[w], h * d, shardLse[w][h], d);
                }
            }
            mergeNanos += System.nanoTime() - t0;
            AttentionProblem p = new AttentionProblem(query, 0, 1, shape.queryHeads(), whole.views(l), positions, scale, 0f,
                    AttentionMask.CAUSAL);
            t0 = System.nanoTime();
            kernel.attend(p, wholeOut, null, null);
            wholeNanos += System.nanoTime() - t0;
            for (int i = 0; i < merged.length; i++) {
                diff = Math.max(diff, Math.abs(merged[i] - wholeOut[i]));
            }
        }
        return new Step(shardNanos, mergeNanos, wholeNanos, diff);
    }

    /** The merged output of the last layer of the last step (for tests). */
    float[] lastMerged() {
        return merged;
    }

    /** The single-pool problem of {@code layer} for the last query (for tests). */
    AttentionProblem wholeProblem(int layer) {
        return new AttentionProblem(query, 0, 1, shape.queryHeads(), whole.views(layer), new long[] {context},
                (float) (1 / Math.sqrt(shape.headDim())), 0f, AttentionMask.CAUSAL);
    }

    /**
     * Bytes one decode step moves per layer between the coordinator and the workers.
     *
     * @param wireBytes bytes per element on the wire (4 for f32, 2 for bf16)
     * @return {sent, received}: the query to every worker plus the new token's key and value to
     *     the worker holding the tail; each worker's partial output and its log-sum-exp per head back
     */
    public static long[] bytesPerLayerPerToken(Shape s, int workers, int wireBytes) {
        long q = (long) s.queryHeads() * s.headDim() * wireBytes;
        long kv = 2L * s.kvHeads() * s.headDim() * wireBytes;
        long back = (long) s.queryHeads() * s.headDim() * wireBytes + (long) s.queryHeads() * 4;
        return new long[] {workers * q + kv, workers * back};
    }

    @Override
    public void close() {
        whole.close();
        wholePool.close();
        for (int i = 0; i < workers; i++) {
            shards[i].close();
            shardPools[i].close();
        }
    }
}
