package dev.longctx.models.config;

import dev.longctx.core.rope.RopeScaling;
import java.util.List;
import java.util.Objects;

/**
 * One model configuration, whichever file it came from (HF {@code config.json} in either key
 * style, or GGUF metadata).
 *
 * @param architecture the decoder family
 * @param vocabSize vocabulary size
 * @param hiddenSize model width
 * @param intermediateSize FFN width
 * @param layers transformer layers
 * @param heads query heads
 * @param kvHeads key/value heads
 * @param headDim elements per head (explicit in the config, else hiddenSize / heads)
 * @param maxPositions trained context length
 * @param rmsNormEps RMSNorm epsilon
 * @param ropeTheta RoPE base
 * @param ropeScaling RoPE frequency scaling
 * @param partialRotaryFactor fraction of each head that is rotated (1 for most models)
 * @param tieEmbeddings whether the output projection is the token embedding
 * @param attentionBias whether q/k/v projections have biases (Qwen2)
 * @param slidingWindow attention window (0: none)
 * @param bosTokenId beginning-of-sequence id, or -1
 * @param eosTokenIds end-of-sequence ids (possibly several)
 */
public record ModelConfig(Architecture architecture, int vocabSize, int hiddenSize, int intermediateSize, int layers,
                          int heads, int kvHeads, int headDim, int maxPositions, double rmsNormEps, double ropeTheta,
                          RopeScaling ropeScaling, double partialRotaryFactor, boolean tieEmbeddings,
                          boolean attentionBias, int slidingWindow, int bosTokenId, List<Integer> eosTokenIds) {

    /** Decoder families (one decoder implementation, parameterised by the config). */
    public enum Architecture {
        LLAMA, MISTRAL, QWEN2, QWEN3, PHI3, GEMMA2
    }

    /** Validates that the numbers describe a model. */
    public ModelConfig {
        Objects.requireNonNull(architecture, "architecture");
        Objects.requireNonNull(ropeScaling, "ropeScaling");
        eosTokenIds = List.copyOf(eosTokenIds);
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", layers);
        positive("num_attention_heads", heads);
        positive("num_key_value_heads", kvHeads);
        positive("head_dim", headDim);
        positive("max_position_embeddings", maxPositions);
        if (heads % kvHeads != 0) {
            throw new IllegalArgumentException("config: num_attention_heads " + heads + " is not a multiple of num_key_value_heads "
                    + kvHeads);
        }
        if (!(rmsNormEps > 0) || !(ropeTheta > 1) || !(partialRotaryFactor > 0 && partialRotaryFactor <= 1)) {
            throw new IllegalArgumentException("config: need rms_norm_eps > 0, rope_theta > 1 and 0 < partial_rotary_factor <= 1, got "
                    + rmsNormEps + ", " + ropeTheta + ", " + partialRotaryFactor);
        }
        if (slidingWindow < 0) {
            throw new IllegalArgumentException("config: sliding_window must be >= 0, got " + slidingWindow);
        }
    }

    private static void positive(String name, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException("config: " + name + " must be positive, got " + v);
        }
    }

    /** Query heads per KV head. */
    public int groupSize() {
        return heads / kvHeads;
    }

    /** Rotated elements per head. */
    public int rotaryDim() {
        int r = (int) (headDim * partialRotaryFactor);
        return r - (r & 1);
    }
}
