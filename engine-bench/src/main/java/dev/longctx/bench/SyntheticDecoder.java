package dev.longctx.bench;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.Decoder;

/**
 * What the whole-model JMH benchmarks ({@link DecodeBench}, {@link PrefillBench}) run on: the
 * synthetic SmolLM2-135M-shaped model, a compute pool, its decoder and a pool of KV pages.
 */
final class SyntheticDecoder implements AutoCloseable {
    /** KV page pool size: far more than a benchmark's sequence needs (512 tokens x 30 layers x 3 heads). */
    private static final long KV_POOL_BYTES = 1L << 30;

    final SyntheticModel model;
    final ComputePool pool;
    final TensorOps ops;
    final Decoder decoder;
    final BlockPool blocks;

    SyntheticDecoder(DType weights, DType kvType, int threads) {
        model = SyntheticModel.smollm2(weights, BenchData.SEED);
        ModelConfig c = model.config();
        pool = ComputePool.create(threads);
        ops = new TensorOps(KernelProvider.get(), pool);
        decoder = new Decoder(model.weights(), ops);
        blocks = new BlockPool(new KvLayout(c.layers(), c.kvHeads(), c.headDim(), KvLayout.DEFAULT_PAGE_SIZE, kvType),
                KV_POOL_BYTES);
    }

    /** A prompt of {@code n} random token ids, the same for every benchmark. */
    int[] randomPrompt(int n) {
        return BenchData.randomTokens(n, model.config().vocabSize(), BenchData.SEED + 1);
    }

    @Override
    public void close() {
        blocks.close();
        pool.close();
        model.close();
    }
}
