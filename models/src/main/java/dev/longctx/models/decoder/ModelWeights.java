package dev.longctx.models.decoder;

import dev.longctx.core.rope.RopePairing;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.config.ModelConfig;
import java.util.Objects;
import java.util.function.Function;
import java.util.function.Predicate;

/**
 * The tensors of a Llama-family decoder, mapped in place (norm vectors are small and decoded once
 * to float arrays), named the same whatever the file: GGUF names ({@code blk.N.attn_q.weight}) or
 * Hugging Face names ({@code model.layers.N.self_attn.q_proj.weight}). The RoPE pairing follows the
 * format: GGUF llama tensors pair adjacent elements, HF checkpoints rotate halves.
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

    /** One transformer layer. Biases are null when absent. */
    public record Layer(float[] attnNorm, Tensor wq, Tensor wk, Tensor wv, Tensor wo, float[] bq, float[] bk, float[] bv,
                        float[] ffnNorm, Tensor gate, Tensor up, Tensor down) {
    }

    /** Weights named as in GGUF files (and llama2.c checkpoints read by this project). */
    public static ModelWeights fromGgufNames(ModelConfig c, Function<String, Tensor> get, Predicate<String> has) {
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            String p = "blk." + l + ".";
            layers[l] = new Layer(floats(get.apply(p + "attn_norm.weight")), get.apply(p + "attn_q.weight"),
                    get.apply(p + "attn_k.weight"), get.apply(p + "attn_v.weight"), get.apply(p + "attn_output.weight"),
                    optional(get, has, p + "attn_q.bias"), optional(get, has, p + "attn_k.bias"),
                    optional(get, has, p + "attn_v.bias"), floats(get.apply(p + "ffn_norm.weight")),
                    get.apply(p + "ffn_gate.weight"), get.apply(p + "ffn_up.weight"), get.apply(p + "ffn_down.weight"));
        }
        Tensor emb = get.apply("token_embd.weight");
        Tensor out = has.test("output.weight") ? get.apply("output.weight") : emb;
        return checked(new ModelWeights(c, emb, out, floats(get.apply("output_norm.weight")), layers, RopePairing.ADJACENT));
    }

    /** Weights named as in Hugging Face checkpoints. */
    public static ModelWeights fromHfNames(ModelConfig c, Function<String, Tensor> get, Predicate<String> has) {
        Layer[] layers = new Layer[c.layers()];
        for (int l = 0; l < layers.length; l++) {
            String p = "model.layers." + l + ".";
            layers[l] = new Layer(floats(get.apply(p + "input_layernorm.weight")), get.apply(p + "self_attn.q_proj.weight"),
                    get.apply(p + "self_attn.k_proj.weight"), get.apply(p + "self_attn.v_proj.weight"),
                    get.apply(p + "self_attn.o_proj.weight"), optional(get, has, p + "self_attn.q_proj.bias"),
                    optional(get, has, p + "self_attn.k_proj.bias"), optional(get, has, p + "self_attn.v_proj.bias"),
                    floats(get.apply(p + "post_attention_layernorm.weight")), get.apply(p + "mlp.gate_proj.weight"),
                    get.apply(p + "mlp.up_proj.weight"), get.apply(p + "mlp.down_proj.weight"));
        }
        Tensor emb = get.apply("model.embed_tokens.weight");
        Tensor out = !c.tieEmbeddings() && has.test("lm_head.weight") ? get.apply("lm_head.weight") : emb;
        return checked(new ModelWeights(c, emb, out, floats(get.apply("model.norm.weight")), layers, RopePairing.ROTATE_HALF));
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
            length(y.attnNorm(), p + "attention norm", c.hiddenSize());
            shape(y.wq(), p + "q projection", q, c.hiddenSize());
            shape(y.wk(), p + "k projection", kv, c.hiddenSize());
            shape(y.wv(), p + "v projection", kv, c.hiddenSize());
            shape(y.wo(), p + "output projection", c.hiddenSize(), q);
            if (y.bq() != null) {
                length(y.bq(), p + "q bias", q);
                length(y.bk(), p + "k bias", kv);
                length(y.bv(), p + "v bias", kv);
            }
            length(y.ffnNorm(), p + "FFN norm", c.hiddenSize());
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

    private static void length(float[] v, String what, int n) {
        if (v == null || v.length != n) {
            throw new ModelFormatException("weights", -1, what + " has " + (v == null ? 0 : v.length) + " elements, the config needs "
                    + n);
        }
    }
}
