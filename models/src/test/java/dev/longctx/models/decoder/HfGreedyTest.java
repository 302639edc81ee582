package dev.longctx.models.decoder;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.safetensors.SafetensorsModel;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Session;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Greedy continuations generated with a KV cache, as transformers' {@code generate} made them (24 tokens after 16). */
class HfGreedyTest {

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"llama-gqa", "llama-tied-mha", "llama3-ropescaled", "qwen2-bias-tied", "mistral-swa", "llama-bf16",
        "own/qwen3-qknorm", "own/phi3-fused", "own/gemma2-softcap", "own/llama-rope-linear", "own/llama-rope-yarn",
        "own/llama-rope-dynamic", "own/llama-f16"})
    void greedyMatchesTransformers(String model) throws Exception {
        Path dir = HfLogitsTest.modelDir(model);
        JsonNode g = new ObjectMapper().readTree(Files.readString(dir.resolve("reference.json"))).get("greedy");
        int[] prompt = ints(g.get("prompt"));
        int[] expected = ints(g.get("output"));
        ModelConfig c = HfConfigReader.read(dir);
        try (SafetensorsModel st = SafetensorsModel.open(dir);
                Session s = Session.builder(ModelWeights.fromHfNames(c, st::tensor, st::has)).kvType(DType.F32).budgetTokens(64)
                        .ops(new TensorOps(KernelProvider.get(), ComputePool.create(2))).build()) {
            int[] out = s.generate(prompt, GenerateOptions.greedy(expected.length - prompt.length).withStopIds(List.of()), null)
                    .outputIds();
            assertArrayEquals(Arrays.copyOfRange(expected, prompt.length, expected.length), out, model);
        }
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }
}
