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
        if (type != DType.F32 && config.hiddenSize() % type.blockSize() != 0) {
            throw new IllegalArgumentException(type + " weights need rows that are a multiple of " + type.blockSize());
        }
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
            if (c.attentionBias()) {
                put(p + "attn_q.bias", DType.F32, 1, c.heads() * c.headDim(), r, 0.02);
                put(p + "attn_k.bias", DType.F32, 1, c.kvHeads() * c.headDim(), r, 0.02);
                put(p + "attn_v.bias", DType.F32, 1, c.kvHeads() * c.headDim(), r, 0.02);
            }
            put(p + "attn_output.weight", type, c.hiddenSize(), c.heads() * c.headDim(), r, 0.02);
            put(p + "ffn_gate.weight", type, c.intermediateSize(), c.hiddenSize(), r, 0.02);
            put(p + "ffn_up.weight", type, c.intermediateSize(), c.hiddenSize(), r, 0.02);
            put(p + "ffn_down.weight", type, c.hiddenSize(), c.intermediateSize(), r, 0.02);
        }
        this.modelWeights = ModelWeights.fromGgufNames(c, weights::get, weights::containsKey);
    }

    /**
     * SmolLM2-135M's shape: 30 layers, hidden 576, 9 heads, 3 KV heads (head dim 64), FFN 1536,
     * vocabulary 49152, tied embeddings, RoPE theta 100000 (HF config of HuggingFaceTB/SmolLM2-135M);
     * context {@link #SYNTHETIC_CONTEXT}.
     */
    public static SyntheticModel smollm2(DType weights, long seed) {
        return new SyntheticModel(new ModelConfig(ModelConfig.Architecture.LLAMA, 49152, 576, 1536, 30, 9, 3, 64, SYNTHETIC_CONTEXT, 1e-5,
                100000, RopeScaling.none(), 1.0, true, false, 0, 1, List.of(2)), weights, seed);
    }

    /**
     * The context length the presets declare: random weights have no trained length, so the
     * benchmarks may run any strategy as deep as memory allows (the real checkpoints declare 8192,
     * 32768 and 131072).
     */
    public static final int SYNTHETIC_CONTEXT = 1 << 20;

    /** The built-in presets, by name. */
    public static final java.util.List<String> PRESETS = java.util.List.of("smollm2-135m", "qwen2.5-0.5b", "llama-3.2-1b", "tiny");

    /**
     * A preset by name: {@code smollm2-135m} ({@link #smollm2}), {@code qwen2.5-0.5b} (24 layers,
     * hidden 896, 14 heads, 2 KV heads, head dim 64, FFN 4864, vocabulary 151936, tied, q/k/v bias,
     * theta 1e6; HF Qwen/Qwen2.5-0.5B) or {@code llama-3.2-1b} (16 layers, hidden 2048, 32 heads,
     * 8 KV heads, head dim 64, FFN 8192, vocabulary 128256, tied, theta 500000 with Llama 3 scaling
     * 32 / 1 / 4 / 8192; HF meta-llama/Llama-3.2-1B); {@code tiny} (2 layers, hidden 64, 4 heads,
     * 2 KV heads, FFN 128, vocabulary 256: smoke tests).
     *
     * @throws IllegalArgumentException naming the presets for an unknown name
     */
    public static SyntheticModel preset(String name, DType weights, long seed) {
        return switch (name) {
            case "smollm2-135m" -> smollm2(weights, seed);
            case "qwen2.5-0.5b" -> new SyntheticModel(new ModelConfig(ModelConfig.Architecture.QWEN2, 151936, 896, 4864, 24, 14, 2,
                    64, SYNTHETIC_CONTEXT, 1e-6, 1e6, RopeScaling.none(), 1.0, true, true, 0, 151643, List.of(151643)), weights, seed);
            case "llama-3.2-1b" -> new SyntheticModel(new ModelConfig(ModelConfig.Architecture.LLAMA, 128256, 2048, 8192, 16, 32, 8,
                    64, SYNTHETIC_CONTEXT, 1e-5, 500000, new RopeScaling.Llama3(32, 1, 4, 8192), 1.0, true, false, 0, 128000,
                    List.of(128001)), weights, seed);
            case "tiny" -> new SyntheticModel(new ModelConfig(ModelConfig.Architecture.LLAMA, 256, 64, 128, 2, 4, 2, 16, 4096, 1e-5,
                    10000, RopeScaling.none(), 1.0, true, false, 0, 1, List.of(2)), weights, seed);
            default -> throw new IllegalArgumentException("unknown preset '" + name + "' (" + String.join(", ", PRESETS) + ")");
        };
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
