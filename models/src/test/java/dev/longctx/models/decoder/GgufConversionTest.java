package dev.longctx.models.decoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.rope.RopePairing;
import dev.longctx.core.rope.RopeScaling;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.Model;
import dev.longctx.models.ModelFormat;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.gguf.GgufWriter;
import dev.longctx.models.safetensors.SafetensorsModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The GGUF path for every family, with no GGUF fixture of those families at hand: each HF fixture
 * is converted the way llama.cpp's {@code convert_hf_to_gguf.py} converts it (tensor names, Llama's
 * q/k row permutation to adjacent RoPE pairs, Phi-3's fused tensors, Gemma's norms stored as
 * {@code 1 + w}, the {@code <arch>.*} metadata keys) and loaded through {@link Model}; its
 * logits must match transformers' reference like the HF folder's do.
 */
class GgufConversionTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama-gqa", "llama3-ropescaled", "qwen2-bias-tied", "own/qwen3-qknorm", "own/phi3-fused"})
    void convertedModelsMatchTransformers(String model, @TempDir Path tmp) throws Exception {
        Path gguf = convert(HfLogitsTest.modelDir(model), tmp.resolve("model.gguf"));
        JsonNode cases = new ObjectMapper().readTree(Files.readString(HfLogitsTest.modelDir(model).resolve("reference.json")))
                .get("cases");
        try (Model m = Model.open(gguf)) {
            assertEquals(ModelFormat.GGUF, m.format());
            boolean llama = m.config().architecture() == ModelConfig.Architecture.LLAMA;
            assertEquals(llama ? RopePairing.ADJACENT : RopePairing.ROTATE_HALF, m.weights().pairing());
            ModelConfig c = m.config();
            for (JsonNode kase : cases) {
                int[] ids = new int[kase.get("input_ids").size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = kase.get("input_ids").get(i).asInt();
                }
                KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 16, DType.F32);
                float[] logits;
                try (BlockPool pool = new BlockPool(layout, 64L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
                    logits = new Decoder(m.weights(), new TensorOps(KernelProvider.get(), ComputePool.create(2)))
                            .forward(cache, ids, 0, true);
                }
                double max = 0;
                for (int p = 0; p < ids.length; p++) {
                    for (int j = 0; j < c.vocabSize(); j++) {
                        max = Math.max(max, Math.abs(logits[p * c.vocabSize() + j] - kase.get("logits").get(p).get(j).asDouble()));
                    }
                }
                assertTrue(max <= 1e-3, model + " via GGUF, " + ids.length + " tokens: max |diff| " + max);
            }
        }
    }

    /**
     * Gemma 2 through GGUF holds the same weights as from the HF folder (norms as 1 + w), the same
     * soft-caps and layer pattern. GGUF has no query_pre_attn_scalar: like llama.cpp, the reader
     * uses head_dim (the fixture sets 24, so its logits cannot match through GGUF, as with llama.cpp).
     */
    @Test
    void gemma2ConvertsWithTheSameWeightsAndOptions(@TempDir Path tmp) throws Exception {
        Path dir = HfLogitsTest.modelDir("own/gemma2-softcap");
        Path gguf = convert(dir, tmp.resolve("gemma2.gguf"));
        ModelConfig hf = HfConfigReader.read(dir);
        try (Model g = Model.open(gguf); SafetensorsModel st = SafetensorsModel.open(dir)) {
            ModelWeights a = ModelWeights.fromHfNames(hf, st::tensor, st::has);
            ModelWeights b = g.weights();
            ModelConfig gc = g.config();
            assertEquals(hf.options().attnLogitSoftcap(), gc.options().attnLogitSoftcap(), 1e-6);
            assertEquals(hf.options().finalLogitSoftcap(), gc.options().finalLogitSoftcap(), 1e-6);
            assertEquals(hf.options().layerTypes(), gc.options().layerTypes());
            assertEquals(hf.options().activation(), gc.options().activation());
            assertEquals(hf.headDim(), gc.options().queryPreAttnScalar());
            assertEquals(hf.slidingWindow(), gc.slidingWindow());
            assertTrue(gc.tieEmbeddings());
            assertArrayEquals(a.outputNorm(), b.outputNorm());
            for (int l = 0; l < hf.layers(); l++) {
                ModelWeights.Layer x = a.layers()[l];
                ModelWeights.Layer y = b.layers()[l];
                assertArrayEquals(x.attnNorm(), y.attnNorm());
                assertArrayEquals(x.postAttnNorm(), y.postAttnNorm());
                assertArrayEquals(x.ffnNorm(), y.ffnNorm());
                assertArrayEquals(x.postFfnNorm(), y.postFfnNorm());
                assertArrayEquals(x.wq().toFloatArray(), y.wq().toFloatArray());
                assertArrayEquals(x.down().toFloatArray(), y.down().toFloatArray());
            }
        }
    }

    /** Writes {@code hfDir} as a GGUF file the way llama.cpp's converter does. */
    static Path convert(Path hfDir, Path out) throws Exception {
        ModelConfig c = HfConfigReader.read(hfDir);
        String arch = c.architecture().name().toLowerCase(Locale.ROOT);
        GgufWriter w = new GgufWriter().put("general.architecture", arch)
                .put(arch + ".context_length", c.maxPositions()).put(arch + ".embedding_length", c.hiddenSize())
                .put(arch + ".block_count", c.layers()).put(arch + ".feed_forward_length", c.intermediateSize())
                .put(arch + ".attention.head_count", c.heads()).put(arch + ".attention.head_count_kv", c.kvHeads())
                .put(arch + ".attention.key_length", c.headDim()).put(arch + ".attention.value_length", c.headDim())
                .put(arch + ".attention.layer_norm_rms_epsilon", (float) c.rmsNormEps())
                .put(arch + ".rope.freq_base", (float) c.ropeTheta()).put(arch + ".rope.dimension_count", c.rotaryDim())
                .put(arch + ".vocab_size", c.vocabSize());
        boolean gemma = c.architecture() == ModelConfig.Architecture.GEMMA2;
        if (gemma) {
            w.put(arch + ".attn_logit_softcapping", (float) c.options().attnLogitSoftcap())
                    .put(arch + ".final_logit_softcapping", (float) c.options().finalLogitSoftcap())
                    .put(arch + ".attention.sliding_window", c.slidingWindow());
        }
        boolean permute = c.architecture() == ModelConfig.Architecture.LLAMA;
        if (c.ropeScaling() instanceof RopeScaling.Llama3 l3) {
            w.tensor("rope_freqs.weight", llama3Divisors(c, l3), c.rotaryDim() / 2);
        }
        try (SafetensorsModel st = SafetensorsModel.open(hfDir)) {
            Copier copy = (from, to, addOne) -> {
                Tensor t = st.tensor(from);
                float[] v = t.toFloatArray();
                if (addOne) {
                    for (int i = 0; i < v.length; i++) {
                        v[i] += 1f; // convert_hf_to_gguf.py, Gemma2Model: norm weights + 1
                    }
                }
                w.tensor(to, v, t.shape());
            };
            copy.take("model.embed_tokens.weight", "token_embd.weight", false);
            copy.take("model.norm.weight", "output_norm.weight", gemma);
            if (!c.tieEmbeddings() && st.has("lm_head.weight")) {
                copy.take("lm_head.weight", "output.weight", false);
            }
            for (int l = 0; l < c.layers(); l++) {
                String hf = "model.layers." + l + ".";
                String g = "blk." + l + ".";
                copy.take(hf + "input_layernorm.weight", g + "attn_norm.weight", gemma);
                if (st.has(hf + "self_attn.qkv_proj.weight")) {
                    copy.take(hf + "self_attn.qkv_proj.weight", g + "attn_qkv.weight", false);
                } else {
                    for (String p : new String[] {"q", "k", "v"}) {
                        Tensor t = st.tensor(hf + "self_attn." + p + "_proj.weight");
                        int heads = p.equals("q") ? c.heads() : c.kvHeads();
                        float[] v = t.toFloatArray();
                        w.tensor(g + "attn_" + p + ".weight", permute && !p.equals("v") ? permuteRows(v, heads, c.headDim()) : v,
                                t.shape());
                        if (st.has(hf + "self_attn." + p + "_proj.bias")) {
                            copy.take(hf + "self_attn." + p + "_proj.bias", g + "attn_" + p + ".bias", false);
                        }
                    }
                }
                if (st.has(hf + "self_attn.q_norm.weight")) {
                    copy.take(hf + "self_attn.q_norm.weight", g + "attn_q_norm.weight", false);
                    copy.take(hf + "self_attn.k_norm.weight", g + "attn_k_norm.weight", false);
                }
                copy.take(hf + "self_attn.o_proj.weight", g + "attn_output.weight", false);
                if (gemma) {
                    copy.take(hf + "post_attention_layernorm.weight", g + "post_attention_norm.weight", true);
                    copy.take(hf + "pre_feedforward_layernorm.weight", g + "ffn_norm.weight", true);
                    copy.take(hf + "post_feedforward_layernorm.weight", g + "post_ffw_norm.weight", true);
                } else {
                    copy.take(hf + "post_attention_layernorm.weight", g + "ffn_norm.weight", false);
                }
                if (st.has(hf + "mlp.gate_up_proj.weight")) {
                    copy.take(hf + "mlp.gate_up_proj.weight", g + "ffn_up.weight", false);
                } else {
                    copy.take(hf + "mlp.gate_proj.weight", g + "ffn_gate.weight", false);
                    copy.take(hf + "mlp.up_proj.weight", g + "ffn_up.weight", false);
                }
                copy.take(hf + "mlp.down_proj.weight", g + "ffn_down.weight", false);
            }
        }
        w.write(out);
        return out;
    }

    /** llama.cpp's converter, {@code LlamaModel.generate_extra_tensors}: the Llama 3 rule as one divisor per pair. */
    private static float[] llama3Divisors(ModelConfig c, RopeScaling.Llama3 l) {
        int dim = c.rotaryDim();
        float[] out = new float[dim / 2];
        double lowWavelen = l.originalMaxPositions() / l.lowFreqFactor();
        double highWavelen = l.originalMaxPositions() / l.highFreqFactor();
        for (int i = 0; i < out.length; i++) {
            double freq = 1.0 / Math.pow(c.ropeTheta(), (2.0 * i) / dim);
            double wavelen = 2 * Math.PI / freq;
            if (wavelen < highWavelen) {
                out[i] = 1;
            } else if (wavelen > lowWavelen) {
                out[i] = (float) l.factor();
            } else {
                double smooth = (l.originalMaxPositions() / wavelen - l.lowFreqFactor()) / (l.highFreqFactor() - l.lowFreqFactor());
                out[i] = (float) (1 / ((1 - smooth) / l.factor() + smooth));
            }
        }
        return out;
    }

    /**
     * llama.cpp's {@code LlamaModel.permute}: within each head, rows {@code [i]} and {@code [i + d/2]}
     * (HF's rotate-half pairs) become rows {@code 2i} and {@code 2i + 1} (adjacent pairs).
     */
    private static float[] permuteRows(float[] w, int heads, int headDim) {
        int cols = w.length / (heads * headDim);
        float[] out = new float[w.length];
        int half = headDim / 2;
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < half; i++) {
                for (int j = 0; j < 2; j++) {
                    System.arraycopy(w, (h * headDim + j * half + i) * cols, out, (h * headDim + 2 * i + j) * cols, cols);
                }
            }
        }
        return out;
    }

    @FunctionalInterface
    private interface Copier {
        void take(String hfName, String ggufName, boolean addOne) throws Exception;
    }
}
