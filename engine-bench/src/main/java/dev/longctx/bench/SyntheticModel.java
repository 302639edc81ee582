package dev.longctx.bench;

import dev.longctx.core.rope.RopeScaling;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.ModelWeights;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * A model of a real shape with seeded random weights, for speed and memory measurements (not text
 * quality). Owns its weight tensors; close it to free them.
 */
public final class SyntheticModel implements AutoCloseable {
    private final ModelConfig config;
    private final Map<String, Tensor> weights = new HashMap<>();
    private final ModelWeights modelWeights;

    private SyntheticModel(ModelConfig config, DType type, long seed) {
        this.config = config;
        SplittableRandom r = new SplittableRandom(seed);
        ModelConfig c = config;
        put("token_embd.weight", type, c.vocabSize(), c.hiddenSize(), r, 0.02);
        put("output_norm.weight", DType.F32, 1, c.hiddenSize(), r, -1);
        for (int l = 0; l < c.layers(); l++) {
            String p = "blk." + l + ".";
            put(p + "attn_norm.weight", DType.F32, 1, c.hiddenSize(), r, -1);
            put(p + "ffn_norm.weight", DType.F32, 1, c.hiddenSize(), r, -1);
            put(p + "attn_q.weight", type, c.heads() * c.headDim(), c.hiddenSize(), r, 0.02);
            put(p + "attn_k.weight", type, c.kvHeads() * c.headDim(), c.hiddenSize(), r, 0.02);
            put(p + "attn_v.weight", type, c.kvHeads() * c.headDim(), c.hiddenSize(), r, 0.02);
            put(p + "attn_output.weight", type, c.hiddenSize(), c.heads() * c.headDim(), r, 0.02);
            put(p + "ffn_gate.weight", type, c.intermediateSize(), c.hiddenSize(), r, 0.02);
            put(p + "ffn_up.weight", type, c.intermediateSize(), c.hiddenSize(), r, 0.02);
            put(p + "ffn_down.weight", type, c.hiddenSize(), c.intermediateSize(), r, 0.02);
        }
        this.modelWeights = ModelWeights.fromGgufNames(c, weights::get, weights::containsKey);
    }

    /**
     * SmolLM2-135M's shape: 30 layers, hidden 576, 9 heads, 3 KV heads (head dim 64), FFN 1536,
     * vocabulary 49152, tied embeddings, RoPE theta 100000, context 8192 (HF config of
     * HuggingFaceTB/SmolLM2-135M).
     */
    public static SyntheticModel smollm2(DType weights, long seed) {
        return new SyntheticModel(new ModelConfig(ModelConfig.Architecture.LLAMA, 49152, 576, 1536, 30, 9, 3, 64, 8192, 1e-5,
                100000, RopeScaling.none(), 1.0, true, false, 0, 1, List.of(2)), weights, seed);
    }

    /** A weight filled with seeded Gaussian values times {@code scale}, or ones for scale < 0 (norms). */
    private void put(String name, DType t, int rows, int cols, SplittableRandom r, double scale) {
        weights.put(name, BenchData.randomWeight(t, rows, cols, r.nextLong(), scale));
    }

    public ModelConfig config() {
        return config;
    }

    public ModelWeights weights() {
        return modelWeights;
    }

    @Override
    public void close() {
        weights.values().forEach(Tensor::close);
    }
}
