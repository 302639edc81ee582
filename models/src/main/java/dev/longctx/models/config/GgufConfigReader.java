package dev.longctx.models.config;

import dev.longctx.core.rope.RopeScaling;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.gguf.GgufFile;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads a {@link ModelConfig} from GGUF metadata ({@code general.architecture} and the
 * {@code <arch>.*} keys llama.cpp writes). The output projection is tied when the file has no
 * {@code output.weight} tensor; a {@code rope_freqs.weight} tensor (Llama 3.1 scaling as
 * llama.cpp's converter stores it) becomes {@link RopeScaling.FrequencyFactors}.
 */
public final class GgufConfigReader {
    private GgufConfigReader() {
    }

    /** The config of an open GGUF file. */
    public static ModelConfig read(GgufFile g) {
        String source = g.toString();
        String arch = g.string("general.architecture").toLowerCase(Locale.ROOT);
        ModelConfig.Architecture a = switch (arch) {
            case "llama" -> ModelConfig.Architecture.LLAMA;
            case "mistral" -> ModelConfig.Architecture.MISTRAL;
            case "qwen2" -> ModelConfig.Architecture.QWEN2;
            case "qwen3" -> ModelConfig.Architecture.QWEN3;
            case "phi3" -> ModelConfig.Architecture.PHI3;
            case "gemma2" -> ModelConfig.Architecture.GEMMA2;
            case "gemma3" -> ModelConfig.Architecture.GEMMA3;
            case "smollm3" -> ModelConfig.Architecture.SMOLLM3;
            case "granite" -> ModelConfig.Architecture.GRANITE;
            case "olmo2" -> ModelConfig.Architecture.OLMO2;
            default -> throw new ModelFormatException(source, -1, "general.architecture '" + arch
                    + "' is not supported (llama, mistral, qwen2, qwen3, phi3, gemma2, gemma3, smollm3, granite, olmo2)");
        };
        Map<String, Object> m = g.metadata();
        int hidden = (int) integer(g, arch + ".embedding_length");
        int heads = (int) integer(g, arch + ".attention.head_count");
        int kvHeads = m.containsKey(arch + ".attention.head_count_kv") ? (int) integer(g, arch + ".attention.head_count_kv")
                : heads;
        int headDim = m.containsKey(arch + ".attention.key_length") ? (int) integer(g, arch + ".attention.key_length")
                : hidden / Math.max(1, heads);
        int rotary = m.containsKey(arch + ".rope.dimension_count") ? (int) integer(g, arch + ".rope.dimension_count")
                : headDim;
        int vocab;
        if (m.containsKey(arch + ".vocab_size")) {
            vocab = (int) integer(g, arch + ".vocab_size");
        } else if (m.get("tokenizer.ggml.tokens") instanceof List<?> tokens) {
            vocab = tokens.size();
        } else {
            throw new ModelFormatException(source, -1, "neither " + arch + ".vocab_size nor tokenizer.ggml.tokens is present");
        }
        int maxPos = (int) integer(g, arch + ".context_length");
        double eps = m.containsKey(arch + ".attention.layer_norm_rms_epsilon")
                ? number(g, arch + ".attention.layer_norm_rms_epsilon") : 1e-5;
        double theta = m.containsKey(arch + ".rope.freq_base") ? number(g, arch + ".rope.freq_base") : 10000.0;
        RopeScaling scaling = RopeScaling.none();
        Object type = m.get(arch + ".rope.scaling.type");
        if (type instanceof String t && !t.equals("none")) {
            double factor = number(g, arch + ".rope.scaling.factor");
            int original = m.containsKey(arch + ".rope.scaling.original_context_length")
                    ? (int) integer(g, arch + ".rope.scaling.original_context_length") : maxPos;
            try {
                scaling = switch (t) {
                    case "linear" -> new RopeScaling.Linear(factor);
                    case "yarn" -> new RopeScaling.Yarn(factor, original);
                    default -> throw new ModelFormatException(source, -1, "rope scaling type '" + t + "' is not supported");
                };
            } catch (IllegalArgumentException e) {
                // a factor of 0, a negative or infinite one, an original length of 0 (found by GgufFuzzTest)
                throw new ModelFormatException(source, -1, "metadata '" + arch + ".rope.scaling.factor' = " + factor
                        + " / '" + arch + ".rope.scaling.original_context_length' = " + original + ": " + e.getMessage());
            }
        }
        GgufFile.TensorInfo freqs = g.tensors().get("rope_freqs.weight");
        if (freqs != null) {
            // Llama 3.1-style scaling as llama.cpp's converter stores it: one divisor per rotated pair
            long count = java.util.Arrays.stream(freqs.shape()).reduce(1, Math::multiplyExact);
            if (!(scaling instanceof RopeScaling.None) || count != rotary / 2) {
                throw new ModelFormatException(source, freqs.offset(), "tensor rope_freqs.weight has " + count
                        + " elements, rope.dimension_count / 2 = " + rotary / 2 + " needed, and no other rope scaling");
            }
            try {
                scaling = new RopeScaling.FrequencyFactors(g.tensor("rope_freqs.weight").toFloatArray());
            } catch (IllegalArgumentException e) {
                throw new ModelFormatException(source, freqs.offset(), "tensor rope_freqs.weight: " + e.getMessage());
            }
        }
        int window = m.containsKey(arch + ".attention.sliding_window") ? (int) integer(g, arch + ".attention.sliding_window") : 0;
        int bos = m.containsKey("tokenizer.ggml.bos_token_id") ? tokenId(g, "tokenizer.ggml.bos_token_id", vocab) : -1;
        List<Integer> eos = m.containsKey("tokenizer.ggml.eos_token_id")
                ? List.of(tokenId(g, "tokenizer.ggml.eos_token_id", vocab)) : List.of();
        int layers = (int) integer(g, arch + ".block_count");
        if (layers > ModelConfig.MAX_LAYERS) {
            // before anything is sized by it (the family options build per-layer lists; found by GgufFuzzTest)
            throw new ModelFormatException(source, -1, "metadata '" + arch + ".block_count' = " + layers
                    + " is above the limit of " + ModelConfig.MAX_LAYERS + " layers");
        }
        try {
            return new ModelConfig(a, vocab, hidden, (int) integer(g, arch + ".feed_forward_length"),
                    layers, heads, kvHeads, headDim, maxPos, eps, theta, scaling,
                    (double) rotary / headDim, !g.tensors().containsKey("output.weight"),
                    g.tensors().containsKey("blk.0.attn_q.bias"), window, bos, eos,
                    options(g, a, arch, layers, hidden, heads, headDim, window));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source, -1, e.getMessage());
        }
    }

    /**
     * The family options as llama.cpp's loaders read them ({@code src/models/<arch>.cpp},
     * {@code load_arch_hparams}).
     *
     * <ul>
     *   <li>gemma2: GELU-tanh, the two soft-caps from metadata, sliding attention on even layers;
     *   GGUF has no query_pre_attn_scalar, so llama.cpp scales by 1/sqrt(head_dim) except for the
     *   27B model (46 layers), whose HF config sets it to hidden / heads (144), and so does this.
     *   <li>gemma3: GELU-tanh, the final soft-cap if present; with {@code attention.sliding_window},
     *   the layers slide in llama.cpp's pattern ({@code attention.sliding_window_pattern}, default
     *   6: five local layers then one global) and the local ones rotate with
     *   {@code rope.freq_base_swa} (default 10000) unscaled; the 1/sqrt scale is head_dim's except
     *   for the 27B model (62 layers): hidden / heads.
     *   <li>smollm3: llama.cpp hard-codes {@code n_no_rope_layer_step = 4}: no RoPE on every 4th layer.
     *   <li>granite: {@code logit_scale} (required, as llama.cpp requires it), {@code embedding_scale},
     *   {@code residual_scale} and {@code attention.scale} (optional); {@code rope.scaling.finetuned}
     *   false turns RoPE off (llama.cpp's switch for it).
     *   <li>olmo2: a sliding window only with its per-layer pattern (OLMo 3 style, default period 4).
     * </ul>
     */
    private static ModelConfig.FamilyOptions options(GgufFile g, ModelConfig.Architecture a, String arch, int layers, int hidden,
                                                     int heads, int headDim, int window) {
        Map<String, Object> m = g.metadata();
        return switch (a) {
            case GEMMA2 -> {
                double attnCap = optionalNumber(g, arch + ".attn_logit_softcapping");
                double finalCap = optionalNumber(g, arch + ".final_logit_softcapping");
                final int gemma2Of27bLayers = 46; // llama.cpp: LLM_TYPE_27B for gemma2 is n_layer == 46
                double queryScalar = layers == gemma2Of27bLayers ? (double) hidden / heads : headDim;
                yield new ModelConfig.FamilyOptions(ModelConfig.Activation.GELU_TANH, queryScalar, attnCap, finalCap,
                        ModelConfig.alternatingLayerTypes(layers));
            }
            case GEMMA3 -> {
                double finalCap = optionalNumber(g, arch + ".final_logit_softcapping");
                final int gemma3Of27bLayers = 62; // llama.cpp gemma3.cpp: LLM_TYPE_27B is n_layer == 62
                double queryScalar = layers == gemma3Of27bLayers ? (double) hidden / heads : headDim;
                ModelConfig.FamilyOptions o = new ModelConfig.FamilyOptions(ModelConfig.Activation.GELU_TANH, queryScalar, 0,
                        finalCap, window > 0 ? slidingPattern(g, arch, layers, 6) : List.of());
                // llama_hparams.rope_freq_base_train_swa defaults to 10000 (llama-hparams.h)
                yield window > 0 ? o.withSlidingRopeTheta(m.containsKey(arch + ".rope.freq_base_swa")
                        ? number(g, arch + ".rope.freq_base_swa") : 10000.0) : o;
            }
            case SMOLLM3 -> {
                final int noRopeStep = 4; // llama.cpp smollm3.cpp: hparams.n_no_rope_layer_step = 4
                Boolean[] rope = new Boolean[layers];
                for (int i = 0; i < layers; i++) {
                    rope[i] = (i + 1) % noRopeStep != 0;
                }
                yield ModelConfig.FamilyOptions.STANDARD.withRopeLayers(List.of(rope));
            }
            case GRANITE -> {
                double logit = number(g, arch + ".logit_scale");
                double residual = m.containsKey(arch + ".residual_scale") ? number(g, arch + ".residual_scale") : 1;
                double embedding = m.containsKey(arch + ".embedding_scale") ? number(g, arch + ".embedding_scale") : 0;
                double attention = m.containsKey(arch + ".attention.scale") ? number(g, arch + ".attention.scale") : 0;
                boolean rope = !(m.get(arch + ".rope.scaling.finetuned") instanceof Boolean b) || b;
                ModelConfig.FamilyOptions o = ModelConfig.FamilyOptions.STANDARD
                        .withMultipliers(new ModelConfig.Multipliers(embedding, attention, residual, logit));
                yield rope ? o : o.withRopeLayers(java.util.Collections.nCopies(layers, false));
            }
            case OLMO2 -> window > 0
                    ? new ModelConfig.FamilyOptions(ModelConfig.Activation.SILU, 0, 0, 0, slidingPattern(g, arch, layers, 4))
                    : ModelConfig.FamilyOptions.STANDARD;
            default -> ModelConfig.FamilyOptions.STANDARD;
        };
    }

    /**
     * {@code <arch>.attention.sliding_window_pattern} as llama.cpp's {@code get_key_or_arr} reads it:
     * a period (every {@code period}-th layer is global), or one boolean per layer (true: sliding);
     * absent, {@code defaultPeriod}.
     */
    private static List<ModelConfig.LayerType> slidingPattern(GgufFile g, String arch, int layers, int defaultPeriod) {
        String key = arch + ".attention.sliding_window_pattern";
        Object v = g.metadata().get(key);
        try {
            if (v == null) {
                return ModelConfig.periodicLayerTypes(layers, defaultPeriod);
            }
            if (v instanceof Long period) {
                int p = (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, period));
                return ModelConfig.periodicLayerTypes(layers, p);
            }
            if (v instanceof List<?> list && list.size() == layers && list.stream().allMatch(Boolean.class::isInstance)) {
                return list.stream().map(b -> (Boolean) b ? ModelConfig.LayerType.SLIDING_ATTENTION
                        : ModelConfig.LayerType.FULL_ATTENTION).toList();
            }
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(g.toString(), -1, "metadata '" + key + "': " + e.getMessage());
        }
        throw new ModelFormatException(g.toString(), -1, "metadata '" + key + "' must be a positive period or " + layers
                + " booleans, got " + v);
    }

    private static long integer(GgufFile g, String key) {
        long v = g.integer(key);
        if (v <= 0 || v > Integer.MAX_VALUE) {
            throw new ModelFormatException(g.toString(), -1, "metadata '" + key + "' = " + v + " is out of range");
        }
        return v;
    }

    /** A token id: 0 is a real id (GPT-2-style vocabularies put BOS/EOS there), so 0 <= id < vocab. */
    private static int tokenId(GgufFile g, String key, int vocab) {
        long v = g.integer(key);
        if (v < 0 || v >= vocab) {
            throw new ModelFormatException(g.toString(), -1, "metadata '" + key + "' = " + v + " is not a token id below the "
                    + "vocabulary size " + vocab);
        }
        return (int) v;
    }

    /** A number's value, or 0 when the key is absent. */
    private static double optionalNumber(GgufFile g, String key) {
        return g.metadata().containsKey(key) ? number(g, key) : 0;
    }

    private static double number(GgufFile g, String key) {
        Object v = g.metadata().get(key);
        if (v instanceof Double d && Double.isFinite(d)) {
            return d;
        }
        if (v instanceof Long l) {
            return l;
        }
        throw new ModelFormatException(g.toString(), -1, "metadata '" + key + "' is " + v + ", expected a number");
    }
}
