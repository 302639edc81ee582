package dev.longctx.models.config;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.rope.RopeScaling;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.internal.Utf8Text;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * Reads a Hugging Face model folder's {@code config.json} (and {@code generation_config.json}
 * when present, for the EOS ids) into a {@link ModelConfig}. Both RoPE key styles are read: the
 * older {@code rope_theta} + {@code rope_scaling} and the newer {@code rope_parameters}.
 */
public final class HfConfigReader {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** The {@code model_type} values this reader knows, for error messages. */
    private static final String SUPPORTED = "llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3_text, smollm3, granite, olmo2";

    private HfConfigReader() {
    }

    /** Reads {@code dir/config.json} and, if present, {@code dir/generation_config.json}. */
    public static ModelConfig read(Path dir) throws IOException {
        Path config = dir.resolve("config.json");
        JsonNode c = parse(config);
        Path gen = dir.resolve("generation_config.json");
        JsonNode g = Files.exists(gen) ? parse(gen) : null;
        return fromJson(c, g, config.toString());
    }

    private static JsonNode parse(Path file) throws IOException {
        return parse(Utf8Text.read(file), file.toString());
    }

    private static JsonNode parse(String json, String source) {
        try {
            JsonNode n = JSON.readTree(json);
            if (n == null || !n.isObject()) {
                throw new ModelFormatException(source, -1, "expected a JSON object");
            }
            return n;
        } catch (JsonProcessingException e) {
            throw new ModelFormatException(source, -1, "malformed JSON: " + e.getOriginalMessage());
        }
    }

    /** The config from the text of a {@code config.json} (no generation config); {@code source} names errors. */
    public static ModelConfig fromText(String configJson, String source) {
        return fromJson(parse(configJson, source), null, source);
    }

    /** The config from parsed JSON ({@code generation} may be null); {@code source} names errors. */
    public static ModelConfig fromJson(JsonNode c, JsonNode generation, String source) {
        String type = text(c, "model_type", source).toLowerCase(Locale.ROOT);
        ModelConfig.Architecture arch = switch (type) {
            case "llama" -> ModelConfig.Architecture.LLAMA;
            case "mistral" -> ModelConfig.Architecture.MISTRAL;
            case "qwen2" -> ModelConfig.Architecture.QWEN2;
            case "qwen3" -> ModelConfig.Architecture.QWEN3;
            case "phi3" -> ModelConfig.Architecture.PHI3;
            case "gemma2" -> ModelConfig.Architecture.GEMMA2;
            case "gemma3_text" -> ModelConfig.Architecture.GEMMA3;
            case "smollm3" -> ModelConfig.Architecture.SMOLLM3;
            case "granite" -> ModelConfig.Architecture.GRANITE;
            case "olmo2" -> ModelConfig.Architecture.OLMO2;
            default -> throw new ModelFormatException(source, -1, "model_type '" + type + "' is not supported (" + SUPPORTED + ")"
                    + (type.equals("gemma3") ? "; for Gemma 3's text model use a gemma3_text checkpoint (Gemma3ForCausalLM)"
                    : ""));
        };
        boolean gemma = arch == ModelConfig.Architecture.GEMMA2 || arch == ModelConfig.Architecture.GEMMA3;
        int hidden = integer(c, "hidden_size", source);
        int heads = integer(c, "num_attention_heads", source);
        int kvHeads = c.has("num_key_value_heads") && !c.get("num_key_value_heads").isNull()
                ? integer(c, "num_key_value_heads", source) : heads;
        if (heads <= 0) {
            throw new ModelFormatException(source, -1, "\"num_attention_heads\" must be positive, got " + heads);
        }
        int headDim = c.has("head_dim") && !c.get("head_dim").isNull() ? integer(c, "head_dim", source) : hidden / heads;
        int maxPos = integer(c, "max_position_embeddings", source);
        // Newer style: rope_parameters holds theta and the scaling; older: rope_theta + rope_scaling.
        // Gemma 3 nests one set per layer type (full_attention, sliding_attention), or in the older
        // style has rope_theta + rope_scaling for the global layers and rope_local_base_freq for the
        // local ones; transformers' defaults are 1e6 and 10000 (Gemma3TextConfig.default_theta).
        JsonNode params = c.get("rope_parameters");
        JsonNode slidingParams = null;
        if (params != null && params.isObject() && params.has("full_attention")) {
            slidingParams = params.get("sliding_attention");
            params = params.get("full_attention");
            if (!params.isObject() || (slidingParams != null && !slidingParams.isObject())) {
                throw new ModelFormatException(source, -1, "\"rope_parameters\" per layer type must hold objects, got "
                        + c.get("rope_parameters"));
            }
        }
        JsonNode scaling = params != null && params.isObject() ? params : c.get("rope_scaling");
        double defaultTheta = arch == ModelConfig.Architecture.GEMMA3 ? 1_000_000.0 : 10000.0;
        double theta = params != null && params.has("rope_theta") ? number(params, "rope_theta", source)
                : c.has("rope_theta") ? number(c, "rope_theta", source) : defaultTheta;
        double slidingTheta = 0;
        if (arch == ModelConfig.Architecture.GEMMA3) {
            slidingTheta = slidingRopeTheta(c, slidingParams, source);
        }
        RopeScaling rope = scaling(scaling, maxPos, source);
        int window = 0;
        boolean useWindow = !c.has("use_sliding_window") || c.get("use_sliding_window").asBoolean(true);
        if (useWindow && c.has("sliding_window") && !c.get("sliding_window").isNull()) {
            window = integer(c, "sliding_window", source);
        }
        boolean bias = arch == ModelConfig.Architecture.QWEN2
                || (c.has("attention_bias") && c.get("attention_bias").asBoolean(false));
        List<Integer> eos = ids(generation != null && generation.has("eos_token_id") ? generation.get("eos_token_id")
                : c.get("eos_token_id"));
        int bos = c.has("bos_token_id") && c.get("bos_token_id").canConvertToInt() ? c.get("bos_token_id").asInt() : -1;
        int layers = integer(c, "num_hidden_layers", source);
        // partial_rotary_factor sits at the top level (Phi-3, older configs) or inside rope_parameters (transformers 5)
        double partialRotary = c.has("partial_rotary_factor") ? number(c, "partial_rotary_factor", source)
                : params != null && params.has("partial_rotary_factor") ? number(params, "partial_rotary_factor", source) : 1.0;
        try {
            ModelConfig.FamilyOptions options = new ModelConfig.FamilyOptions(activation(c, arch, source),
                    optionalNumber(c, "query_pre_attn_scalar", source), optionalNumber(c, "attn_logit_softcapping", source),
                    optionalNumber(c, "final_logit_softcapping", source), layerTypes(c, arch, layers, window, source))
                    .withSlidingRopeTheta(slidingTheta)
                    .withRopeLayers(arch == ModelConfig.Architecture.SMOLLM3 ? ropeLayers(c, layers, source) : List.of())
                    .withMultipliers(arch == ModelConfig.Architecture.GRANITE ? graniteMultipliers(c, source)
                            : ModelConfig.Multipliers.NONE);
            return new ModelConfig(arch, integer(c, "vocab_size", source), hidden, integer(c, "intermediate_size", source),
                    layers, heads, kvHeads, headDim, maxPos,
                    c.has("rms_norm_eps") ? number(c, "rms_norm_eps", source) : 1e-6, theta, rope, partialRotary,
                    c.path("tie_word_embeddings").asBoolean(gemma || arch == ModelConfig.Architecture.SMOLLM3), bias, window, bos,
                    eos,
                    options);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source, -1, e.getMessage());
        }
    }

    /**
     * The RoPE base of Gemma 3's sliding layers: {@code rope_parameters.sliding_attention.rope_theta},
     * else {@code rope_local_base_freq}, else 10000 (transformers' Gemma3TextConfig). Those layers
     * rotate without scaling; a scaled local RoPE is refused rather than ignored.
     */
    private static double slidingRopeTheta(JsonNode c, JsonNode slidingParams, String source) {
        if (slidingParams != null) {
            String type = slidingParams.has("rope_type") ? slidingParams.get("rope_type").asText()
                    : slidingParams.path("type").asText("default");
            if (!type.equals("default")) {
                throw new ModelFormatException(source, -1, "rope_parameters.sliding_attention.rope_type '" + type
                        + "' is not supported (default)");
            }
            if (slidingParams.has("rope_theta")) {
                return number(slidingParams, "rope_theta", source);
            }
        }
        return c.has("rope_local_base_freq") ? number(c, "rope_local_base_freq", source) : 10000.0;
    }

    /**
     * SmolLM3's RoPE layers: {@code no_rope_layers} lists 1 for a layer that uses RoPE and 0 for one
     * that does not (the name is transformers'); absent, every {@code no_rope_layer_interval}-th
     * layer (default 4) skips it, as SmolLM3Config derives the list.
     */
    private static List<Boolean> ropeLayers(JsonNode c, int layers, String source) {
        List<Boolean> out = new ArrayList<>();
        JsonNode listed = c.get("no_rope_layers");
        if (listed != null && !listed.isNull()) {
            if (!listed.isArray()) {
                throw new ModelFormatException(source, -1, "\"no_rope_layers\" must be an array, got " + listed);
            }
            for (JsonNode v : listed) {
                if (!v.isIntegralNumber() || (v.asInt() != 0 && v.asInt() != 1)) {
                    throw new ModelFormatException(source, -1, "no_rope_layers entry " + v + " is not 0 or 1");
                }
                out.add(v.asInt() == 1);
            }
            if (out.size() != layers) {
                throw new ModelFormatException(source, -1, "no_rope_layers lists " + out.size() + " layers, num_hidden_layers is "
                        + layers);
            }
            return out;
        }
        int interval = c.hasNonNull("no_rope_layer_interval") ? integer(c, "no_rope_layer_interval", source) : 4;
        if (interval <= 0) {
            throw new ModelFormatException(source, -1, "\"no_rope_layer_interval\" must be positive, got " + interval);
        }
        for (int i = 0; i < layers; i++) {
            out.add((i + 1) % interval != 0);
        }
        return out;
    }

    /** Granite's four multipliers (transformers' GraniteConfig defaults: 1.0 each; the attention one replaces 1/sqrt(d)). */
    private static ModelConfig.Multipliers graniteMultipliers(JsonNode c, String source) {
        double embedding = c.hasNonNull("embedding_multiplier") ? number(c, "embedding_multiplier", source) : 1.0;
        double attention = c.hasNonNull("attention_multiplier") ? number(c, "attention_multiplier", source) : 1.0;
        double residual = c.hasNonNull("residual_multiplier") ? number(c, "residual_multiplier", source) : 1.0;
        double logits = c.hasNonNull("logits_scaling") ? number(c, "logits_scaling", source) : 1.0;
        if (!(embedding > 0) || !(attention > 0)) {
            throw new ModelFormatException(source, -1, "\"embedding_multiplier\" and \"attention_multiplier\" must be > 0, got "
                    + embedding + ", " + attention);
        }
        return new ModelConfig.Multipliers(embedding, attention, residual, logits);
    }

    /** The FFN activation: Gemma's {@code hidden_activation} (default GELU-tanh), else {@code hidden_act} (default SiLU). */
    private static ModelConfig.Activation activation(JsonNode c, ModelConfig.Architecture arch, String source) {
        boolean gemma = arch == ModelConfig.Architecture.GEMMA2 || arch == ModelConfig.Architecture.GEMMA3;
        String key = gemma && c.hasNonNull("hidden_activation") ? "hidden_activation" : "hidden_act";
        if (!c.hasNonNull(key)) {
            return gemma ? ModelConfig.Activation.GELU_TANH : ModelConfig.Activation.SILU;
        }
        String name = text(c, key, source);
        return switch (name) {
            case "silu", "swish" -> ModelConfig.Activation.SILU;
            // both are 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) in transformers' activations.py
            case "gelu_pytorch_tanh", "gelu_new" -> ModelConfig.Activation.GELU_TANH;
            default -> throw new ModelFormatException(source, -1, "\"" + key + "\" '" + name
                    + "' is not supported (silu, gelu_pytorch_tanh, gelu_new)");
        };
    }

    /**
     * Per-layer attention types: {@code layer_types} when listed; else as transformers derives them:
     * Gemma 2 alternates sliding (even layers) and full; Gemma 3 slides except on every
     * {@code sliding_window_pattern}-th layer (default 6); Qwen2/3 slide from {@code max_window_layers}
     * on; the others slide everywhere when they have a window.
     */
    private static List<ModelConfig.LayerType> layerTypes(JsonNode c, ModelConfig.Architecture arch, int layers, int window,
                                                          String source) {
        List<ModelConfig.LayerType> out = new ArrayList<>();
        JsonNode listed = c.get("layer_types");
        if (listed != null && !listed.isNull()) {
            if (!listed.isArray()) {
                throw new ModelFormatException(source, -1, "\"layer_types\" must be an array, got " + listed);
            }
            for (JsonNode t : listed) {
                out.add(switch (t.asText()) {
                    case "full_attention" -> ModelConfig.LayerType.FULL_ATTENTION;
                    case "sliding_attention" -> ModelConfig.LayerType.SLIDING_ATTENTION;
                    default -> throw new ModelFormatException(source, -1, "layer_types entry " + t
                            + " is not supported (full_attention, sliding_attention)");
                });
            }
            if (out.size() != layers) {
                throw new ModelFormatException(source, -1, "layer_types lists " + out.size() + " layers, num_hidden_layers is "
                        + layers);
            }
            return out;
        }
        if (arch == ModelConfig.Architecture.GEMMA2) {
            return ModelConfig.alternatingLayerTypes(layers);
        }
        if (arch == ModelConfig.Architecture.GEMMA3) {
            // older configs: sliding_window_pattern (transformers 5 writes it back as _sliding_window_pattern)
            String key = c.hasNonNull("sliding_window_pattern") ? "sliding_window_pattern" : "_sliding_window_pattern";
            int period = c.hasNonNull(key) ? integer(c, key, source) : 6;
            if (period <= 0) {
                throw new ModelFormatException(source, -1, "\"" + key + "\" must be positive, got " + period);
            }
            return ModelConfig.periodicLayerTypes(layers, period);
        }
        if (window > 0 && (arch == ModelConfig.Architecture.QWEN2 || arch == ModelConfig.Architecture.QWEN3)
                && c.hasNonNull("max_window_layers")) {
            return ModelConfig.slidingFrom(layers, Math.max(0, integer(c, "max_window_layers", source)));
        }
        return out;
    }

    private static double optionalNumber(JsonNode c, String key, String source) {
        return c.hasNonNull(key) ? number(c, key, source) : 0;
    }

    private static RopeScaling scaling(JsonNode s, int maxPos, String source) {
        if (s == null || s.isNull()) {
            return RopeScaling.none();
        }
        String type = s.has("rope_type") ? s.get("rope_type").asText() : s.path("type").asText("default");
        try {
            return switch (type) {
                case "default" -> RopeScaling.none();
                case "linear" -> new RopeScaling.Linear(number(s, "factor", source));
                case "dynamic" -> new RopeScaling.DynamicNtk(number(s, "factor", source),
                        s.has("original_max_position_embeddings") ? integer(s, "original_max_position_embeddings", source) : maxPos);
                case "yarn" -> new RopeScaling.Yarn(number(s, "factor", source),
                        s.has("original_max_position_embeddings") ? integer(s, "original_max_position_embeddings", source) : maxPos,
                        s.has("beta_fast") ? number(s, "beta_fast", source) : RopeScaling.Yarn.DEFAULT_BETA_FAST,
                        s.has("beta_slow") ? number(s, "beta_slow", source) : RopeScaling.Yarn.DEFAULT_BETA_SLOW,
                        s.path("mscale").asDouble(0), s.path("mscale_all_dim").asDouble(0),
                        s.has("attention_factor") && !s.get("attention_factor").isNull()
                                ? number(s, "attention_factor", source) : Double.NaN,
                        s.path("truncate").asBoolean(true));
                case "llama3" -> new RopeScaling.Llama3(number(s, "factor", source), number(s, "low_freq_factor", source),
                        number(s, "high_freq_factor", source), integer(s, "original_max_position_embeddings", source));
                default -> throw new ModelFormatException(source, -1, "rope type '" + type
                        + "' is not supported (default, linear, dynamic, yarn, llama3)");
            };
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source, -1, "rope scaling: " + e.getMessage());
        }
    }

    private static List<Integer> ids(JsonNode n) {
        List<Integer> out = new ArrayList<>();
        if (n == null || n.isNull()) {
            return out;
        }
        if (n.isArray()) {
            n.forEach(v -> {
                if (v.canConvertToInt()) {
                    out.add(v.asInt());
                }
            });
        } else if (n.canConvertToInt()) {
            out.add(n.asInt());
        }
        return out;
    }

    private static String text(JsonNode c, String key, String source) {
        JsonNode n = c.get(key);
        if (n == null || !n.isTextual()) {
            throw new ModelFormatException(source, -1, "\"" + key + "\" must be a string");
        }
        return n.asText();
    }

    private static int integer(JsonNode c, String key, String source) {
        JsonNode n = c.get(key);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToInt()) {
            throw new ModelFormatException(source, -1, "\"" + key + "\" must be an integer, got " + n);
        }
        return n.asInt();
    }

    private static double number(JsonNode c, String key, String source) {
        JsonNode n = c.get(key);
        if (n == null || !n.isNumber() || !Double.isFinite(n.asDouble())) {
            throw new ModelFormatException(source, -1, "\"" + key + "\" must be a finite number, got " + n);
        }
        return n.asDouble();
    }
}
