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
 * @param options what only some families use (activation, attention scale, soft-caps, per-layer
 *     sliding window); {@link FamilyOptions#STANDARD} for the Llama family
 */
public record ModelConfig(Architecture architecture, int vocabSize, int hiddenSize, int intermediateSize, int layers,
                          int heads, int kvHeads, int headDim, int maxPositions, double rmsNormEps, double ropeTheta,
                          RopeScaling ropeScaling, double partialRotaryFactor, boolean tieEmbeddings,
                          boolean attentionBias, int slidingWindow, int bosTokenId, List<Integer> eosTokenIds,
                          FamilyOptions options) {

    /** Decoder families (one decoder implementation, parameterised by the config). */
    public enum Architecture {
        LLAMA, MISTRAL, QWEN2, QWEN3, PHI3, GEMMA2
    }

    /** The FFN activation applied to the gate projection. */
    public enum Activation {
        /** {@code x * sigmoid(x)} (Llama, Mistral, Qwen, Phi-3). */
        SILU,
        /** GELU with the tanh approximation (Gemma 2's {@code gelu_pytorch_tanh}). */
        GELU_TANH
    }

    /** Which attention a layer runs (HF {@code layer_types}). */
    public enum LayerType {
        /** Every earlier position. */
        FULL_ATTENTION,
        /** The last {@code slidingWindow} positions. */
        SLIDING_ATTENTION
    }

    /**
     * The options that only some families use.
     *
     * @param activation the FFN activation
     * @param queryPreAttnScalar attention logits are scaled by {@code 1 / sqrt(this)}; 0 means
     *     {@code head_dim} (Gemma 2 sets it explicitly)
     * @param attnLogitSoftcap attention logits become {@code cap * tanh(s / cap)}; 0 means none
     * @param finalLogitSoftcap output logits likewise; 0 means none
     * @param layerTypes per layer, when the config lists them; empty means every layer slides when
     *     {@code slidingWindow > 0}
     */
    public record FamilyOptions(Activation activation, double queryPreAttnScalar, double attnLogitSoftcap,
                                double finalLogitSoftcap, List<LayerType> layerTypes) {
        /** SiLU, 1/sqrt(head_dim), no soft-caps, one attention type for every layer. */
        public static final FamilyOptions STANDARD = new FamilyOptions(Activation.SILU, 0, 0, 0, List.of());

        /** Validates the numbers. */
        public FamilyOptions {
            Objects.requireNonNull(activation, "activation");
            layerTypes = List.copyOf(layerTypes);
            if (!(queryPreAttnScalar >= 0) || !(attnLogitSoftcap >= 0) || !(finalLogitSoftcap >= 0)
                    || Double.isInfinite(queryPreAttnScalar + attnLogitSoftcap + finalLogitSoftcap)) {
                throw new IllegalArgumentException("config: query_pre_attn_scalar and the soft-caps must be finite and >= 0, got "
                        + queryPreAttnScalar + ", " + attnLogitSoftcap + ", " + finalLogitSoftcap);
            }
        }
    }

    /** A config with {@link FamilyOptions#STANDARD} options (the Llama family). */
    public ModelConfig(Architecture architecture, int vocabSize, int hiddenSize, int intermediateSize, int layers, int heads,
                       int kvHeads, int headDim, int maxPositions, double rmsNormEps, double ropeTheta, RopeScaling ropeScaling,
                       double partialRotaryFactor, boolean tieEmbeddings, boolean attentionBias, int slidingWindow,
                       int bosTokenId, List<Integer> eosTokenIds) {
        this(architecture, vocabSize, hiddenSize, intermediateSize, layers, heads, kvHeads, headDim, maxPositions, rmsNormEps,
                ropeTheta, ropeScaling, partialRotaryFactor, tieEmbeddings, attentionBias, slidingWindow, bosTokenId, eosTokenIds,
                FamilyOptions.STANDARD);
    }

    /**
     * Most layers a config may declare: far above any published decoder (the deepest have about 160
     * layers), low enough that per-layer arrays sized from a hostile file stay small.
     */
    public static final int MAX_LAYERS = 4096;

    /** Gemma 2's pattern: sliding attention on even layers, full on odd ones (transformers and llama.cpp). */
    public static List<LayerType> alternatingLayerTypes(int layers) {
        return slidingFrom(layers, -1);
    }

    /**
     * Layer types for {@code layers} layers: full below {@code from}, sliding from it on; a negative
     * {@code from} alternates (sliding on even layers).
     */
    public static List<LayerType> slidingFrom(int layers, int from) {
        if (layers < 0 || layers > MAX_LAYERS) {
            throw new IllegalArgumentException("config: num_hidden_layers " + layers + " is outside 1.." + MAX_LAYERS);
        }
        LayerType[] out = new LayerType[layers];
        for (int i = 0; i < layers; i++) {
            boolean sliding = from < 0 ? i % 2 == 0 : i >= from;
            out[i] = sliding ? LayerType.SLIDING_ATTENTION : LayerType.FULL_ATTENTION;
        }
        return List.of(out);
    }

    /** Validates that the numbers describe a model. */
    public ModelConfig {
        Objects.requireNonNull(architecture, "architecture");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(ropeScaling, "ropeScaling");
        eosTokenIds = List.copyOf(eosTokenIds);
        positive("vocab_size", vocabSize);
        positive("hidden_size", hiddenSize);
        positive("intermediate_size", intermediateSize);
        positive("num_hidden_layers", layers);
        if (layers > MAX_LAYERS) {
            throw new IllegalArgumentException("config: num_hidden_layers " + layers + " is above the limit of " + MAX_LAYERS);
        }
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
        if (rotaryDim(headDim, partialRotaryFactor) < 2) { // fields are not assigned yet in a compact constructor
            throw new IllegalArgumentException("config: head_dim " + headDim + " x partial_rotary_factor " + partialRotaryFactor
                    + " leaves fewer than 2 rotated elements");
        }
        if (slidingWindow < 0) {
            throw new IllegalArgumentException("config: sliding_window must be >= 0, got " + slidingWindow);
        }
        if (!options.layerTypes().isEmpty() && options.layerTypes().size() != layers) {
            throw new IllegalArgumentException("config: layer_types lists " + options.layerTypes().size() + " layers, num_hidden_layers is "
                    + layers);
        }
    }

    /** The attention window of layer {@code layer}: {@link #slidingWindow()} where it slides, else 0 (full). */
    public int slidingWindow(int layer) {
        if (layer < 0 || layer >= layers) {
            throw new IllegalArgumentException("layer " + layer + " outside [0, " + layers + ")");
        }
        if (options.layerTypes().isEmpty()) {
            return slidingWindow;
        }
        return options.layerTypes().get(layer) == LayerType.SLIDING_ATTENTION ? slidingWindow : 0;
    }

    /** The factor applied to q.k before the softmax: {@code 1 / sqrt(query_pre_attn_scalar or head_dim)}. */
    public double attentionScale() {
        double d = options.queryPreAttnScalar() > 0 ? options.queryPreAttnScalar() : headDim;
        return 1 / Math.sqrt(d);
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
        return rotaryDim(headDim, partialRotaryFactor);
    }

    private static int rotaryDim(int headDim, double partialRotaryFactor) {
        int r = (int) (headDim * partialRotaryFactor);
        return r - (r & 1);
    }
}
