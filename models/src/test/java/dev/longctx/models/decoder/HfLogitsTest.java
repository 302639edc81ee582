package dev.longctx.models.decoder;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.safetensors.SafetensorsModel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Logits at every position of every case against Hugging Face transformers' reference logits. */
class HfLogitsTest {

    /** Max |logit difference| per position of every case of the model's reference.json: [case][position]. */
    static double[][] differences(String model) throws Exception {
        JsonNode cases = new ObjectMapper().readTree(Files.readString(modelDir(model).resolve("reference.json"))).get("cases");
        double[][] out = new double[cases.size()][];
        for (int c = 0; c < cases.size(); c++) {
            out[c] = differences(model, cases.get(c));
        }
        return out;
    }

    /**
     * Runs the model over {@code kase.input_ids} in one prefill and returns, per position, the max
     * |logit difference| against {@code kase.logits}.
     */
    static double[] differences(String model, JsonNode kase) throws Exception {
        Path dir = modelDir(model);
        ModelConfig config = HfConfigReader.read(dir);
        int[] ids = new int[kase.get("input_ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = kase.get("input_ids").get(i).asInt();
        }
        TensorOps ops = new TensorOps(KernelProvider.get(), ComputePool.create(2));
        KvLayout layout = new KvLayout(config.layers(), config.kvHeads(), config.headDim(), 16, DType.F32);
        float[] logits;
        try (SafetensorsModel st = SafetensorsModel.open(dir);
                BlockPool pool = new BlockPool(layout, 64L << 20);
                SequenceKvCache cache = SequenceKvCache.create(pool)) {
            logits = new Decoder(ModelWeights.fromHfNames(config, st::tensor, st::has), ops).forward(cache, ids, 0, true);
        }
        int vocab = config.vocabSize();
        double[] out = new double[ids.length];
        for (int p = 0; p < ids.length; p++) {
            JsonNode row = kase.get("logits").get(p);
            for (int j = 0; j < vocab; j++) {
                out[p] = Math.max(out[p], Math.abs(logits[p * vocab + j] - row.get(j).asDouble()));
            }
        }
        return out;
    }

    /**
     * Prefill in one chunk, in chunks of 7 and token by token gives the same logits (1e-5) for the
     * families with extra per-layer work: Gemma 2's per-layer windows and soft-caps, Qwen3's q/k
     * norms, Phi-3's fused projections with partial rotary, Mistral's window.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"own/gemma2-softcap", "own/qwen3-qknorm", "own/phi3-fused", "mistral-swa"})
    void chunkedPrefillGivesTheSameLogits(String model) throws Exception {
        JsonNode kase = new ObjectMapper().readTree(Files.readString(modelDir(model).resolve("reference.json"))).get("cases").get(0);
        int[] ids = new int[kase.get("input_ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = kase.get("input_ids").get(i).asInt();
        }
        float[] whole = logitsInChunks(model, ids, ids.length);
        for (int chunk : new int[] {7, 1}) {
            float[] parts = logitsInChunks(model, ids, chunk);
            double max = 0;
            for (int i = 0; i < whole.length; i++) {
                max = Math.max(max, Math.abs(whole[i] - parts[i]));
            }
            assertTrue(max <= 1e-5, model + " in chunks of " + chunk + ": max |diff| " + max);
        }
    }

    private static float[] logitsInChunks(String model, int[] ids, int chunk) throws Exception {
        Path dir = modelDir(model);
        ModelConfig config = HfConfigReader.read(dir);
        TensorOps ops = new TensorOps(KernelProvider.get(), ComputePool.create(2));
        KvLayout layout = new KvLayout(config.layers(), config.kvHeads(), config.headDim(), 16, DType.F32);
        float[] out = new float[ids.length * config.vocabSize()];
        try (SafetensorsModel st = SafetensorsModel.open(dir);
                BlockPool pool = new BlockPool(layout, 64L << 20);
                SequenceKvCache cache = SequenceKvCache.create(pool)) {
            Decoder decoder = new Decoder(ModelWeights.fromHfNames(config, st::tensor, st::has), ops);
            for (int from = 0; from < ids.length; from += chunk) {
                int[] part = java.util.Arrays.copyOfRange(ids, from, Math.min(ids.length, from + chunk));
                float[] logits = decoder.forward(cache, part, from, true);
                System.arraycopy(logits, 0, out, from * config.vocabSize(), logits.length);
            }
        }
        return out;
    }

    /** Shared fixtures by folder name; this module's own ones (made by make_hf_fixtures.py) as {@code own/NAME}. */
    static Path modelDir(String model) {
        if (model.startsWith("own/")) {
            return SharedFixtures.resource("fixtures/hf/" + model.substring(4) + "/config.json").getParent();
        }
        return SharedFixtures.locate("fixtures/hf/" + model + "/config.json").getParent();
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama-gqa", "llama-tied-mha", "llama3-ropescaled", "qwen2-bias-tied", "mistral-swa"})
    void logitsMatchTransformersWithin1e3(String model) throws Exception {
        for (double[] kase : differences(model)) {
            double max = java.util.Arrays.stream(kase).max().orElse(0);
            // Measured: 2.1e-6 to 2.6e-6 (the reference is rounded to 6 decimals).
            assertTrue(max <= 1e-3, model + " case of " + kase.length + " tokens: max |diff| " + max);
        }
    }

    /**
     * Families and options the shared fixtures lack, from models/src/test/python/make_hf_fixtures.py
     * (transformers 5.17.0, fp32, eager): Qwen3 q/k norms with an explicit head_dim, Phi-3 fused
     * projections with partial rotary, Gemma 2 (sliding/full layers, soft-caps, four norms per layer,
     * query_pre_attn_scalar, GELU-tanh), linear, YaRN and dynamic-NTK RoPE scaling, and F16 weights.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"own/qwen3-qknorm", "own/phi3-fused", "own/gemma2-softcap", "own/llama-rope-linear",
        "own/llama-rope-yarn", "own/llama-rope-dynamic", "own/llama-f16"})
    void ownFixturesMatchTransformersWithin1e3(String model) throws Exception {
        double[][] cases = differences(model);
        for (double[] kase : cases) {
            double max = java.util.Arrays.stream(kase).max().orElse(0);
            System.out.printf("%s %d tokens: max |diff| %.2e%n", model, kase.length, max);
            assertTrue(max <= 1e-3, model + " case of " + kase.length + " tokens: max |diff| " + max);
        }
    }

    /**
     * The shared fixture's reference.json for llama-bf16 says its logits come from the BF16 weights
     * upcast to fp32, but transformers 5.17.0 run exactly that way lands 2.3e-3 away from it, the same
     * distance as this engine. Found on the device host (2026-11-26): the reference matches, to
     * 5.1e-7, a model cast with {@code .to(bfloat16).float()}, which also rounds the RoPE
     * {@code inv_freq} buffer to BF16; no fp32 engine does that. The reference is not edited; this
     * test holds the measured distance so a regression shows, and the test below checks the engine
     * against the procedure the README describes.
     */
    @Test
    void bf16SharedReferenceIsMatchedAsCloselyAsTransformersMatchesIt() throws Exception {
        for (double[] kase : differences("llama-bf16")) {
            assertTrue(kase[0] <= 1e-5, "position 0: " + kase[0]);
            double max = java.util.Arrays.stream(kase).max().orElse(0);
            // transformers 5.17.0 fp32 itself differs from this reference by 2.34e-3.
            assertTrue(max <= 3e-3, "llama-bf16: max |diff| " + max);
        }
    }

    /**
     * Against transformers' own fp32 run of the BF16 weights (regenerated by
     * models/src/test/python/bf16_fp32_reference.py on the device host). Measured: 2.0e-6.
     */
    @Test
    void bf16WeightsMatchTransformersFp32Upcast() throws Exception {
        JsonNode ref;
        try (var in = HfLogitsTest.class.getResourceAsStream("/fixtures/llama-bf16-transformers-fp32.json")) {
            assertTrue(in != null, "missing test resource llama-bf16-transformers-fp32.json");
            ref = new ObjectMapper().readTree(in);
        }
        double max = java.util.Arrays.stream(differences("llama-bf16", ref)).max().orElse(Double.NaN);
        assertTrue(max <= 1e-4, "llama-bf16 vs transformers fp32 upcast: max |diff| " + max);
    }
}
