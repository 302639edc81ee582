package dev.longctx.models.decoder;

import dev.longctx.core.rope.RopePairing;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.config.ModelConfig;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The tensors of a decoder, mapped in place (norm vectors are small and decoded once to float
 * arrays), named the same whatever the file: GGUF names ({@code blk.N.attn_q.weight}) or Hugging
 * Face names ({@code model.layers.N.self_attn.q_proj.weight}).
 *
 * <p>Family differences are resolved here, so the decoder sees one layout: Phi-3's fused
 * {@code qkv_proj} and {@code gate_up_proj} are cut into row views (no copy); Gemma's norms
 * (2 and 3, q/k norms included), which scale by {@code 1 + w}, hold {@code 1 + w} (GGUF files
 * store it that way already: llama.cpp's converter adds the one); q/k norms (per head for Qwen3
 * and Gemma 3, over the whole projection for OLMo 2), Gemma's and OLMo 2's post-norms, and OLMo
 * 2's missing pre-norms are null where a family has none. The RoPE pairing follows the format and
 * family: GGUF llama, mistral, granite and smollm3 tensors pair adjacent elements (llama.cpp's
 * converter permutes them: its NORM rope type), every HF checkpoint and llama.cpp's NEOX families
 * (Qwen2, Qwen3, Phi-3, Gemma 2 and 3, OLMo 2) rotate halves.
 *
 * @param config the model config
 * @param tokenEmbedding [vocab, hidden]
 * @param output [vocab, hidden] (the embedding when tied)
 * @param outputNorm [hidden]
 * @param layers per layer
 * @param pairing how RoPE pairs the dimensions of a head
 */
public record ModelWeights(ModelConfig config, Tensor tokenEmbedding, Tensor output, float[] outputNorm, Layer[] layers,
                           RopePairing pairing) {

    /**
     * One transformer layer. Optional parts are null when absent: the pre-norms of attention and
     * FFN (OLMo 2 has none), biases (Qwen2), q/k norms of {@code head_dim} elements applied per head
     * (Qwen3, Gemma 3) or of the whole projection's width (OLMo 2), and the norms applied to the
     * attention and FFN outputs before the residual add (Gemma 2 and 3, OLMo 2).
     */
    public record Layer(float[] attnNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo, float[] bq, float[] bk, float[] bv,
                        float[] qNorm, float[] kNorm, float[] postAttnNorm, float[] ffnNorm, Tensor gate, Tensor up, Tensor down,
                        float[] postFfnNorm) {
    }

    /** Weights named as in GGUF files (and llama2.c checkpoints read by this project). */
    public static ModelWeights fromGgufNames(ModelConfig c, Function<String, Tensor> get, Predicate<String> has) {
        if (has.test("rope_factors_long.weight") || has.test("rope_factors_short.weight")) {
            throw new ModelFormatException("weights", -1, "rope_factors_long/short (Phi-3 LongRoPE) are not supported");
        }
        Layer[] layers = new Layer[c.layers()];
        int q = c.heads() * c.headDim();
        int kv = c.kvHeads() * c.headDim();
        for (int l = 0; l < layers.length; l++) {
            String p = "blk." + l + ".";
            // Phi-3 stacks q, k and v in attn_qkv, and gate then up in ffn_up (no ffn_gate)
            Tensor[] qkv = parts(get, has.test(p + "attn_qkv.weight"), p + "attn_qkv.weight",
                    new String[] {p + "attn_q.weight", p + "attn_k.weight", p + "attn_v.weight"}, q, kv, kv);
            Tensor[] gateUp = parts(get, !has.test(p + "ffn_gate.weight"), p + "ffn_up.weight",
                    new String[] {p + "ffn_gate.weight", p + "ffn_up.weight"}, c.intermediateSize(), c.intermediateSize());
            // OLMo 2 has no pre-norms (attn_norm, ffn_norm): its layers norm the outputs instead
            layers[l] = new Layer(optional(get, has, p + "attn_norm.weight"), qkv[0], qkv[1], qkv[2],
                    get.apply(p + "attn_output.weight"),
                    optional(get, has, p + "attn_q.bias"), optional(get, has, p + "attn_k.bias"),
                    optional(get, has, p + "attn_v.bias"), optional(get, has, p + "attn_q_norm.weight"),
                    optional(get, has, p + "attn_k_norm.weight"), optional(get, has, p + "post_attention_norm.weight"),
                    optional(get, has, p + "ffn_norm.weight"), gateUp[0], gateUp[1], get.apply(p + "ffn_down.weight"),
                    optional(get, has, p + "post_ffw_norm.weight"));
        }
        Tensor emb = get.apply("token_embd.weight");
        Tensor out = has.test("output.weight") ? get.apply("output.weight") : emb;
        RopePairing pairing = switch (c.architecture()) {
            // llama.cpp's llama_model_rope_type: LLAMA_ROPE_TYPE_NORM for these (converted with LlamaModel.permute) ...
            case LLAMA, MISTRAL, GRANITE, SMOLLM3 -> RopePairing.ADJACENT;
            // ... and LLAMA_ROPE_TYPE_NEOX for these
            case QWEN2, QWEN3, PHI3, GEMMA2, GEMMA3, OLMO2 -> RopePairing.ROTATE_HALF;
        };
        return checked(new ModelWeights(c, emb, out, floats(get.apply("output_norm.weight")), layers, pairing));
    }

    /** Weights named as in Hugging Face checkpoints. */
    public static ModelWeights fromHfNames(ModelConfig c, Function<String, Tensor> get, Predicate<String> has) {
        boolean gemma = c.architecture() == ModelConfig.Architecture.GEMMA2 || c.architecture() == ModelConfig.Architecture.GEMMA3;
        boolean olmo2 = c.architecture() == ModelConfig.Architecture.OLMO2;
        Function<String, float[]> norm = gemma ? name -> onePlus(floats(get.apply(name))) : name -> floats(get.apply(name));
        Function<String, float[]> optionalNorm = name -> has.test(name) ? norm.apply(name) : null;
        Layer[] layers = new Layer[c.layers()];
        int q = c.heads() * c.headDim();
        int kv = c.kvHeads() * c.headDim();
        for (int l = 0; l < layers.length; l++) {
            String p = "model.layers." + l + ".";
            // Phi-3 fuses q/k/v into qkv_proj and gate/up into gate_up_proj (gate rows first: Phi3MLP's chunk(2))
            Tensor[] qkv = parts(get, has.test(p + "self_attn.qkv_proj.weight"), p + "self_attn.qkv_proj.weight",
                    new String[] {p + "self_attn.q_proj.weight", p + "self_attn.k_proj.weight", p + "self_attn.v_proj.weight"},
                    q, kv, kv);
            Tensor[] gateUp = parts(get, has.test(p + "mlp.gate_up_proj.weight"), p + "mlp.gate_up_proj.weight",
                    new String[] {p + "mlp.gate_proj.weight", p + "mlp.up_proj.weight"}, c.intermediateSize(), c.intermediateSize());
            // Gemma and OLMo 2 name their norms differently: post_attention_layernorm follows attention,
            // and Gemma's pre_feedforward_layernorm is what the Llama family calls post_attention_layernorm.
            // OLMo 2 has no input_layernorm and no FFN pre-norm.
            boolean postNorms = gemma || olmo2;
            float[] attnNorm = olmo2 ? null : norm.apply(p + "input_layernorm.weight");
            float[] postAttn = postNorms ? norm.apply(p + "post_attention_layernorm.weight") : null;
            float[] ffnNorm = olmo2 ? null
                    : norm.apply(p + (gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"));
            float[] postFfn = postNorms ? norm.apply(p + "post_feedforward_layernorm.weight") : null;
            layers[l] = new Layer(attnNorm, qkv[0], qkv[1], qkv[2], get.apply(p + "self_attn.o_proj.weight"),
                    optional(get, has, p + "self_attn.q_proj.bias"), optional(get, has, p + "self_attn.k_proj.bias"),
                    optional(get, has, p + "self_attn.v_proj.bias"), optionalNorm.apply(p + "self_attn.q_norm.weight"),
                    optionalNorm.apply(p + "self_attn.k_norm.weight"), postAttn, ffnNorm, gateUp[0], gateUp[1],
                    get.apply(p + "mlp.down_proj.weight"), postFfn);
        }
        Tensor emb = get.apply("model.embed_tokens.weight");
        Tensor out = !c.tieEmbeddings() && has.test("lm_head.weight") ? get.apply("lm_head.weight") : emb;
        return checked(new ModelWeights(c, emb, out, norm.apply("model.norm.weight"), layers, RopePairing.ROTATE_HALF));
    }

    /** Gemma's RMSNorm multiplies by {@code 1 + w} (in float32, as transformers' Gemma2RMSNorm and Gemma3RMSNorm). */
    private static float[] onePlus(float[] w) {
        for (int i = 0; i < w.length; i++) {
            w[i] = 1.0f + w[i];
        }
        return w;
    }

    /**
     * The projections {@code separate} names, or, when {@code fused} is set, row views (no copy) of
     * the tensor {@code fusedName} cut into parts of {@code rows} rows each, in order.
     */
    private static Tensor[] parts(Function<String, Tensor> get, boolean fused, String fusedName, String[] separate, long... rows) {
        Tensor[] out = new Tensor[separate.length];
        if (!fused) {
            for (int i = 0; i < out.length; i++) {
                out[i] = get.apply(separate[i]);
            }
            return out;
        }
        Tensor t = fusedRows(get.apply(fusedName), fusedName, java.util.Arrays.stream(rows).sum());
        long at = 0;
        for (int i = 0; i < out.length; i++) {
            out[i] = t.slice(at, rows[i]);
            at += rows[i];
        }
        return out;
    }

    /** A fused tensor must have exactly the rows its parts are cut from (the columns are checked with the parts). */
    private static Tensor fusedRows(Tensor t, String name, long rows) {
        if (t.rank() != 2 || t.rows() != rows) {
            throw new ModelFormatException("weights", -1, "fused tensor " + name + " is " + t + ", the config needs [" + rows
                    + ", hidden]");
        }
        return t;
    }

    private static float[] optional(Function<String, Tensor> get, Predicate<String> has, String name) {
        return has.test(name) ? floats(get.apply(name)) : null;
    }

    private static float[] floats(Tensor t) {
        return Objects.requireNonNull(t).toFloatArray();
    }

    /** Checks every shape against the config, naming the tensor. */
    private static ModelWeights checked(ModelWeights w) {
        ModelConfig c = w.config();
        int q = c.heads() * c.headDim();
        int kv = c.kvHeads() * c.headDim();
        shape(w.tokenEmbedding(), "token embedding", c.vocabSize(), c.hiddenSize());
        shape(w.output(), "output", c.vocabSize(), c.hiddenSize());
        length(w.outputNorm(), "output norm", c.hiddenSize());
        for (int l = 0; l < w.layers().length; l++) {
            Layer y = w.layers()[l];
            String p = "layer " + l + " ";
            boolean olmo2 = c.architecture() == ModelConfig.Architecture.OLMO2;
            if (olmo2) {
                absent(y.attnNorm(), p + "attention pre-norm (OLMo 2 has none)");
                absent(y.ffnNorm(), p + "FFN pre-norm (OLMo 2 has none)");
            } else {
                length(y.attnNorm(), p + "attention norm", c.hiddenSize());
                length(y.ffnNorm(), p + "FFN norm", c.hiddenSize());
            }
            shape(y.wq(), p + "q projection", q, c.hiddenSize());
            shape(y.wk(), p + "k projection", kv, c.hiddenSize());
            shape(y.wv(), p + "v projection", kv, c.hiddenSize());
            shape(y.wo(), p + "output projection", c.hiddenSize(), q);
            boolean qkNorm = c.architecture() == ModelConfig.Architecture.QWEN3
                    || c.architecture() == ModelConfig.Architecture.GEMMA3;
            if (olmo2) {
                // OLMo 2 normalises the whole q and k projections (Olmo2Attention's q_norm / k_norm)
                length(y.qNorm(), p + "q norm", q);
                length(y.kNorm(), p + "k norm", kv);
            } else if (qkNorm || y.qNorm() != null || y.kNorm() != null) {
                length(y.qNorm(), p + "q norm", c.headDim());
                length(y.kNorm(), p + "k norm", c.headDim());
            }
            boolean postNorms = c.architecture() == ModelConfig.Architecture.GEMMA2
                    || c.architecture() == ModelConfig.Architecture.GEMMA3 || olmo2;
            if (postNorms || y.postAttnNorm() != null || y.postFfnNorm() != null) {
                length(y.postAttnNorm(), p + "post-attention norm", c.hiddenSize());
                length(y.postFfnNorm(), p + "post-FFN norm", c.hiddenSize());
            }
            if (y.bq() != null) {
                length(y.bq(), p + "q bias", q);
                length(y.bk(), p + "k bias", kv);
                length(y.bv(), p + "v bias", kv);
            }
            shape(y.gate(), p + "gate projection", c.intermediateSize(), c.hiddenSize());
            shape(y.up(), p + "up projection", c.intermediateSize(), c.hiddenSize());
            shape(y.down(), p + "down projection", c.hiddenSize(), c.intermediateSize());
        }
        return w;
    }

    private static void shape(Tensor t, String what, long rows, long cols) {
        if (t.rows() != rows || t.columns() != cols) {
            throw new ModelFormatException("weights", -1, what + " is " + t + ", the config needs [" + rows + ", " + cols + "]");
        }
    }

    private static void absent(float[] v, String what) {
        if (v != null) {
            throw new ModelFormatException("weights", -1, what + " is present, the architecture has none");
        }
    }

    private static void length(float[] v, String what, int n) {
        if (v == null || v.length != n) {
            throw new ModelFormatException("weights", -1, what + " has " + (v == null ? 0 : v.length) + " elements, the config needs "
                    + n);
        }
    }
}
