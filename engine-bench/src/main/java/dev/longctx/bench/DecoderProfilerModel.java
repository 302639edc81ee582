package dev.longctx.bench;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.HeadProfiler;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.AttentionPlan;
import dev.longctx.models.decoder.Decoder;
import dev.longctx.models.decoder.ModelWeights;

/**
 * The decoder behind {@link HeadProfiler.Model}, so the retrieval-head profiler can score a real
 * model's heads: exact attention over a full F32 cache, each teacher-forced step reporting its
 * probabilities to the profiler's observers. Not thread-safe.
 */
public final class DecoderProfilerModel implements HeadProfiler.Model, AutoCloseable {
    private final ModelConfig config;
    private final Decoder decoder;
    private final AttentionPlan exact;
    private final BlockPool pool;
    private SequenceKvCache cache;
    private long position;

    /**
     * @param maxContext the longest prompt plus needle the profiler will feed
     */
    public DecoderProfilerModel(ModelWeights weights, TensorOps ops, int maxContext) {
        this.config = weights.config();
        this.decoder = new Decoder(weights, ops);
        this.exact = AttentionPlan.exact(ops);
        KvLayout layout = new KvLayout(config.layers(), config.kvHeads(), config.headDim(), KvLayout.DEFAULT_PAGE_SIZE, DType.F32);
        long pagesPerHead = (maxContext + layout.pageSize() - 1) / layout.pageSize() + 1;
        this.pool = new BlockPool(layout, pagesPerHead * config.layers() * config.kvHeads() * BlockPool.pageBytes(layout));
    }

    @Override
    public int layers() {
        return config.layers();
    }

    @Override
    public int kvHeads() {
        return config.kvHeads();
    }

    @Override
    public int groupSize() {
        return config.groupSize();
    }

    @Override
    public int vocabularySize() {
        return config.vocabSize();
    }

    @Override
    public void prefill(int[] prompt) {
        reset();
        cache = SequenceKvCache.create(pool);
        decoder.forward(cache, prompt, 0, false);
        position = prompt.length;
    }

    @Override
    public void step(int token, HeadProfiler.ObserverFactory observers) {
        AttentionPlan observed = new AttentionPlan() {
            @Override
            public AttentionKernel kernel(int layer, int queryRows) {
                return exact.kernel(layer, queryRows);
            }

            @Override
            public AttentionObserver observer(SequenceKvCache c, int layer, int queryRows, boolean endsPrompt) {
                return observers.observer(layer, c.views(layer));
            }
        };
        decoder.forward(cache, new int[] {token}, position, false, observed, false);
        position++;
    }

    @Override
    public void reset() {
        if (cache != null) {
            cache.close();
            cache = null;
        }
    }

    @Override
    public void close() {
        reset();
        pool.close();
    }
}
