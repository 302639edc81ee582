package dev.longctx.models.decoder;

import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.gguf.GgufFileTestSupport;
import dev.longctx.models.safetensors.SafetensorsModel;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Logits at every position of every case against Hugging Face transformers' reference logits. */
class HfLogitsTest {

    /** Max |logit difference| per position of every case: [case][position]. */
    static double[][] differences(String model) throws Exception {
        Path dir = GgufFileTestSupport.locate("fixtures/hf/" + model + "/config.json").getParent();
        ModelConfig config = HfConfigReader.read(dir);
        JsonNode ref = new ObjectMapper().readTree(Files.readString(dir.resolve("reference.json")));
        TensorOps ops = new TensorOps(KernelProvider.get(), ComputePool.create(2));
        KvLayout layout = new KvLayout(config.layers(), config.kvHeads(), config.headDim(), 16, DType.F32);
        JsonNode cases = ref.get("cases");
        double[][] out = new double[cases.size()][];
        try (SafetensorsModel st = SafetensorsModel.open(dir); BlockPool pool = new BlockPool(layout, 64L << 20)) {
            Decoder d = new Decoder(ModelWeights.fromHfNames(config, st::tensor, st::has), ops);
            for (int c = 0; c < cases.size(); c++) {
                JsonNode kase = cases.get(c);
                int[] ids = new int[kase.get("input_ids").size()];
                for (int i = 0; i < ids.length; i++) {
                    ids[i] = kase.get("input_ids").get(i).asInt();
                }
                float[] logits;
                try (SequenceKvCache cache = SequenceKvCache.create(pool)) {
                    logits = d.forward(cache, ids, 0, true);
                }
                int vocab = config.vocabSize();
                out[c] = new double[ids.length];
                for (int p = 0; p < ids.length; p++) {
                    JsonNode row = kase.get("logits").get(p);
                    for (int j = 0; j < vocab; j++) {
                        out[c][p] = Math.max(out[c][p], Math.abs(logits[p * vocab + j] - row.get(j).asDouble()));
                    }
                }
            }
        }
        return out;
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
     * Open discrepancy, not finished: with BF16 weights, position 0 matches to 1e-6 (embedding,
     * norms, MLP and head are right) but later positions drift, up to 2.3e-3 at 40 tokens, above
     * the fixture's 1e-3 bound. It comes from attention over more than one key; a BF16 KV cache
     * makes it worse (9.9e-3), so it is not the cache precision. Until it is found this test holds
     * the measured state so a regression shows.
     */
    @Test
    void bf16WeightsAreCloseButNotYetWithinTheBound() throws Exception {
        for (double[] kase : differences("llama-bf16")) {
            assertTrue(kase[0] <= 1e-5, "position 0: " + kase[0]);
            double max = java.util.Arrays.stream(kase).max().orElse(0);
            assertTrue(max <= 3e-3, "llama-bf16: max |diff| " + max);
        }
    }
}
