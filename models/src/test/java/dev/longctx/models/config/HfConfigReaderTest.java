package dev.longctx.models.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.rope.RopeScaling;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.SharedFixtures;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class HfConfigReaderTest {
    static Path dir(String name) {
        return SharedFixtures.locate("fixtures/hf/" + name + "/config.json").getParent();
    }

    @Test
    void readsBothKeyStylesAndEveryFixture() throws Exception {
        ModelConfig gqa = HfConfigReader.read(dir("llama-gqa"));
        assertEquals(ModelConfig.Architecture.LLAMA, gqa.architecture());
        assertEquals(4, gqa.heads());
        assertEquals(2, gqa.kvHeads());
        assertEquals(16, gqa.headDim());
        assertEquals(List.of(2), gqa.eosTokenIds());
        ModelConfig tied = HfConfigReader.read(dir("llama-tied-mha"));
        assertEquals(500000.0, tied.ropeTheta(), "rope_parameters style");
        assertTrue(tied.tieEmbeddings());
        assertEquals(RopeScaling.none(), tied.ropeScaling());
        ModelConfig l3 = HfConfigReader.read(dir("llama3-ropescaled"));
        assertEquals(new RopeScaling.Llama3(8, 1, 4, 128), l3.ropeScaling());
        assertEquals(500000.0, l3.ropeTheta(), "rope_theta + rope_scaling style");
        ModelConfig qwen = HfConfigReader.read(dir("qwen2-bias-tied"));
        assertEquals(ModelConfig.Architecture.QWEN2, qwen.architecture());
        assertTrue(qwen.attentionBias());
        assertEquals(0, qwen.slidingWindow(), "use_sliding_window false");
        assertEquals(16, qwen.headDim(), "hidden / heads when head_dim is absent");
        ModelConfig mistral = HfConfigReader.read(dir("mistral-swa"));
        assertEquals(32, mistral.slidingWindow());
        assertEquals(ModelConfig.Architecture.LLAMA, HfConfigReader.read(dir("llama-bf16")).architecture());
    }

    @Test
    void badConfigsAreClearErrors() throws Exception {
        ObjectMapper m = new ObjectMapper();
        String base = "{\"model_type\":\"llama\",\"vocab_size\":10,\"hidden_size\":8,\"intermediate_size\":16,"
                + "\"num_hidden_layers\":1,\"num_attention_heads\":2,\"max_position_embeddings\":64";
        assertEquals(2, HfConfigReader.fromJson(m.readTree(base + "}"), null, "c.json").kvHeads(), "MHA when num_key_value_heads is absent");
        var e = assertThrows(ModelFormatException.class,
                () -> HfConfigReader.fromJson(m.readTree(base.replace("llama", "gpt2") + "}"), null, "c.json"));
        assertTrue(e.getMessage().contains("c.json") && e.getMessage().contains("gpt2"), e.getMessage());
        e = assertThrows(ModelFormatException.class,
                () -> HfConfigReader.fromJson(m.readTree(base + ",\"num_key_value_heads\":3}"), null, "c.json"));
        assertTrue(e.getMessage().contains("not a multiple"), e.getMessage());
        e = assertThrows(ModelFormatException.class, () -> HfConfigReader.fromJson(
                m.readTree(base + ",\"rope_scaling\":{\"rope_type\":\"longrope\",\"factor\":2}}"), null, "c.json"));
        assertTrue(e.getMessage().contains("longrope"), e.getMessage());
        e = assertThrows(ModelFormatException.class,
                () -> HfConfigReader.fromJson(m.readTree(base.replace("\"hidden_size\":8", "\"hidden_size\":\"8\"") + "}"),
                        null, "c.json"));
        assertTrue(e.getMessage().contains("hidden_size"), e.getMessage());
        ModelConfig yarn = HfConfigReader.fromJson(m.readTree(base
                + ",\"rope_parameters\":{\"rope_type\":\"yarn\",\"factor\":4,\"rope_theta\":10000,\"original_max_position_embeddings\":16}}"),
                m.readTree("{\"eos_token_id\":[7,9]}"), "c.json");
        assertTrue(yarn.ropeScaling() instanceof RopeScaling.Yarn);
        assertEquals(List.of(7, 9), yarn.eosTokenIds());
    }
}
