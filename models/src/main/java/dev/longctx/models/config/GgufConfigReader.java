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
            default -> throw new ModelFormatException(source, -1, "general.architecture '" + arch
                    + "' is not supported (llama, mistral, qwen2, qwen3, phi3, gemma2)");
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
            scaling = switch (t) {
                case "linear" -> new RopeScaling.Linear(factor);
                case "yarn" -> new RopeScaling.Yarn(factor, original);
                default -> throw new ModelFormatException(source, -1, "rope scaling type '" + t + "' is not supported");
            };
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
        try {
            return new ModelConfig(a, vocab, hidden, (int) integer(g, arch + ".feed_forward_length"),
                    layers, heads, kvHeads, headDim, maxPos, eps, theta, scaling,
                    (double) rotary / headDim, !g.tensors().containsKey("output.weight"),
                    g.tensors().containsKey("blk.0.attn_q.bias"), window, bos, eos, options(g, a, arch, layers, hidden, heads, headDim));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(source, -1, e.getMessage());
        }
    }

    /**
     * Gemma 2's extras as llama.cpp reads them: GELU-tanh, the two soft-caps from metadata, sliding
     * attention on even layers; GGUF has no query_pre_attn_scalar, so llama.cpp scales by
     * 1/sqrt(head_dim) except for the 27B model (46 layers), whose HF config sets it to
     * hidden / heads (144), and so does this.
     */
    private static ModelConfig.FamilyOptions options(GgufFile g, ModelConfig.Architecture a, String arch, int layers, int hidden,
                                                     int heads, int headDim) {
        if (a != ModelConfig.Architecture.GEMMA2) {
            return ModelConfig.FamilyOptions.STANDARD;
        }
        Map<String, Object> m = g.metadata();
        double attnCap = m.containsKey(arch + ".attn_logit_softcapping") ? number(g, arch + ".attn_logit_softcapping") : 0;
        double finalCap = m.containsKey(arch + ".final_logit_softcapping") ? number(g, arch + ".final_logit_softcapping") : 0;
        final int gemma2Of27bLayers = 46; // llama.cpp: LLM_TYPE_27B for gemma2 is n_layer == 46
        double queryScalar = layers == gemma2Of27bLayers ? (double) hidden / heads : headDim;
        return new ModelConfig.FamilyOptions(ModelConfig.Activation.GELU_TANH, queryScalar, attnCap, finalCap,
                ModelConfig.alternatingLayerTypes(layers));
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
