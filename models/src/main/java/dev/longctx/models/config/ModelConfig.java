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
        LLAMA, MISTRAL, QWEN2, QWEN3, PHI3, GEMMA2,
        /** Gemma 3 text ({@code gemma3_text}): Gemma 2's layer, q/k norms, a RoPE base per layer type. */
        GEMMA3,
        /** SmolLM3: Llama with no RoPE on some layers ({@code no_rope_layers}). */
        SMOLLM3,
        /** Granite: Llama with embedding, attention and residual multipliers and a logits divisor. */
        GRANITE,
        /** OLMo 2: norms after attention and FFN (none before), q/k norms over the whole projection. */
        OLMO2
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
     *     {@code head_dim} (Gemma 2 and 3 set it explicitly)
     * @param attnLogitSoftcap attention logits become {@code cap * tanh(s / cap)}; 0 means none
     * @param finalLogitSoftcap output logits likewise; 0 means none
     * @param layerTypes per layer, when the config lists them; empty means every layer slides when
     *     {@code slidingWindow > 0}
     * @param slidingRopeTheta the RoPE base of the sliding layers, which then rotate without the
     *     config's scaling (Gemma 3: 10000 locally, {@code ropeTheta} with its scaling globally);
     *     0 means the sliding layers share the global RoPE
     * @param ropeLayers per layer, whether it applies RoPE at all (SmolLM3's {@code no_rope_layers});
     *     empty means every layer does
     * @param multipliers Granite's scale factors; {@link Multipliers#NONE} elsewhere
     */
    public record FamilyOptions(Activation activation, double queryPreAttnScalar, double attnLogitSoftcap,
                                double finalLogitSoftcap, List<LayerType> layerTypes, double slidingRopeTheta,
                                List<Boolean> ropeLayers, Multipliers multipliers) {
        /** SiLU, 1/sqrt(head_dim), no soft-caps, one attention type and one RoPE for every layer. */
        public static final FamilyOptions STANDARD = new FamilyOptions(Activation.SILU, 0, 0, 0, List.of());

        /** Validates the numbers. */
        public FamilyOptions {
            Objects.requireNonNull(activation, "activation");
            Objects.requireNonNull(multipliers, "multipliers");
            layerTypes = List.copyOf(layerTypes);
            ropeLayers = List.copyOf(ropeLayers);
            if (!(queryPreAttnScalar >= 0) || !(attnLogitSoftcap >= 0) || !(finalLogitSoftcap >= 0)
                    || Double.isInfinite(queryPreAttnScalar + attnLogitSoftcap + finalLogitSoftcap)) {
                throw new IllegalArgumentException("config: query_pre_attn_scalar and the soft-caps must be finite and >= 0, got "
                        + queryPreAttnScalar + ", " + attnLogitSoftcap + ", " + finalLogitSoftcap);
            }
            if (slidingRopeTheta != 0 && !(slidingRopeTheta > 1 && Double.isFinite(slidingRopeTheta))) {
                throw new IllegalArgumentException("config: the sliding layers' rope_theta must be finite and > 1, got "
                        + slidingRopeTheta);
            }
        }

        /** Options with one RoPE for every layer and no multipliers (the families before Gemma 3). */
        public FamilyOptions(Activation activation, double queryPreAttnScalar, double attnLogitSoftcap, double finalLogitSoftcap,
                             List<LayerType> layerTypes) {
            this(activation, queryPreAttnScalar, attnLogitSoftcap, finalLogitSoftcap, layerTypes, 0, List.of(), Multipliers.NONE);
        }

        /** These options with the sliding layers rotating by base {@code theta}, unscaled (0: the global RoPE). */
        public FamilyOptions withSlidingRopeTheta(double theta) {
            return new FamilyOptions(activation, queryPreAttnScalar, attnLogitSoftcap, finalLogitSoftcap, layerTypes, theta,
                    ropeLayers, multipliers);
        }

        /** These options with RoPE only on the layers {@code ropeLayers} marks true (empty: every layer). */
        public FamilyOptions withRopeLayers(List<Boolean> ropeLayers) {
            return new FamilyOptions(activation, queryPreAttnScalar, attnLogitSoftcap, finalLogitSoftcap, layerTypes,
                    slidingRopeTheta, ropeLayers, multipliers);
        }

        /** These options with {@code multipliers}. */
        public FamilyOptions withMultipliers(Multipliers multipliers) {
            return new FamilyOptions(activation, queryPreAttnScalar, attnLogitSoftcap, finalLogitSoftcap, layerTypes,
                    slidingRopeTheta, ropeLayers, multipliers);
        }
    }

    /**
     * Scale factors of the forward pass (Granite's {@code embedding_multiplier},
     * {@code attention_multiplier}, {@code residual_multiplier} and {@code logits_scaling}; GGUF
     * {@code <arch>.embedding_scale}, {@code .attention.scale}, {@code .residual_scale},
     * {@code .logit_scale}).
     *
     * @param embedding token embeddings are multiplied by this; 0 means the family's own (Gemma:
     *     {@code sqrt(hidden)}, others 1)
     * @param attention the attention-logit scale itself, replacing {@code 1/sqrt(d)}; 0 means none
     * @param residual attention and FFN outputs are multiplied by this before each residual add
     * @param logitsDivisor output logits are divided by this
     */
    public record Multipliers(double embedding, double attention, double residual, double logitsDivisor) {
        /** No scaling beyond the family's defaults. */
        public static final Multipliers NONE = new Multipliers(0, 0, 1, 1);

        /** Validates the numbers. */
        public Multipliers {
            if (!(embedding >= 0) || !(attention >= 0) || !(residual > 0) || !(logitsDivisor > 0)
                    || Double.isInfinite(embedding + attention + residual + logitsDivisor)) {
                throw new IllegalArgumentException("config: embedding and attention multipliers must be finite and >= 0, the "
                        + "residual multiplier and logits scaling finite and > 0, got " + embedding + ", " + attention + ", "
                        + residual + ", " + logitsDivisor);
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
     * Gemma 3's pattern: in every run of {@code period} layers the last is full and the others
     * slide ({@code sliding_window_pattern}, default 6: five local layers, then one global).
     * transformers' Gemma3TextConfig ({@code (i + 1) % period != 0}) and llama.cpp's
     * {@code set_swa_pattern} ({@code i % period < period - 1}) agree on it.
     */
    public static List<LayerType> periodicLayerTypes(int layers, int period) {
        if (layers < 0 || layers > MAX_LAYERS) {
            throw new IllegalArgumentException("config: num_hidden_layers " + layers + " is outside 1.." + MAX_LAYERS);
        }
        if (period <= 0) {
            throw new IllegalArgumentException("config: sliding_window_pattern must be positive, got " + period);
        }
        LayerType[] out = new LayerType[layers];
        for (int i = 0; i < layers; i++) {
            out[i] = (i + 1) % period != 0 ? LayerType.SLIDING_ATTENTION : LayerType.FULL_ATTENTION;
        }
        return List.of(out);
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
        if (!options.ropeLayers().isEmpty() && options.ropeLayers().size() != layers) {
            throw new IllegalArgumentException("config: no_rope_layers lists " + options.ropeLayers().size()
                    + " layers, num_hidden_layers is " + layers);
        }
    }

    /** Whether layer {@code layer} applies RoPE (all but SmolLM3's no-RoPE layers). */
    public boolean usesRope(int layer) {
        checkLayer(layer);
        return options.ropeLayers().isEmpty() || options.ropeLayers().get(layer);
    }

    /**
     * Whether layer {@code layer} rotates with the sliding layers' own RoPE base
     * ({@link FamilyOptions#slidingRopeTheta()}, unscaled) rather than the global one.
     */
    public boolean usesSlidingRope(int layer) {
        return options.slidingRopeTheta() > 0 && slidingWindow(layer) > 0;
    }

    /** The factor token embeddings are multiplied by: Granite's multiplier, Gemma's {@code sqrt(hidden)}, else 1. */
    public double embeddingScale() {
        if (options.multipliers().embedding() > 0) {
            return options.multipliers().embedding();
        }
        boolean gemma = architecture == Architecture.GEMMA2 || architecture == Architecture.GEMMA3;
        return gemma ? Math.sqrt(hiddenSize) : 1;
    }

    private void checkLayer(int layer) {
        if (layer < 0 || layer >= layers) {
            throw new IllegalArgumentException("layer " + layer + " outside [0, " + layers + ")");
        }
    }

    /** The attention window of layer {@code layer}: {@link #slidingWindow()} where it slides, else 0 (full). */
    public int slidingWindow(int layer) {
        checkLayer(layer);
        if (options.layerTypes().isEmpty()) {
            return slidingWindow;
        }
        return options.layerTypes().get(layer) == LayerType.SLIDING_ATTENTION ? slidingWindow : 0;
    }

    /**
     * The factor applied to q.k before the softmax: Granite's attention multiplier where set, else
     * {@code 1 / sqrt(query_pre_attn_scalar or head_dim)}.
     */
    public double attentionScale() {
        if (options.multipliers().attention() > 0) {
            return options.multipliers().attention();
        }
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
