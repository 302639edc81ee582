package dev.longctx.models.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.core.rope.RopeScaling;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.gguf.GgufWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The config keys of Gemma 3, SmolLM3, Granite and OLMo 2 in both styles (HF {@code config.json},
 * GGUF metadata as llama.cpp writes it), their defaults, and the bad values each reader refuses with
 * a {@link ModelFormatException} naming the key.
 */
class ArchConfigTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    private static ObjectNode hf(String modelType, int layers) {
        ObjectNode c = JSON.createObjectNode().put("model_type", modelType).put("vocab_size", 32).put("hidden_size", 16)
                .put("intermediate_size", 32).put("num_hidden_layers", layers).put("num_attention_heads", 2)
                .put("num_key_value_heads", 1).put("max_position_embeddings", 128);
        return c;
    }

    private static ModelConfig read(ObjectNode c) {
        return HfConfigReader.fromJson(c, null, "config.json");
    }

    private static void refused(ObjectNode c, String key) {
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> read(c));
        assertTrue(e.getMessage().contains(key), "message names " + key + ": " + e.getMessage());
    }

    /** Older Gemma 3 configs: rope_theta + rope_scaling for global layers, rope_local_base_freq, sliding_window_pattern. */
    @Test
    void gemma3OlderKeysGiveTheSameLayoutAsRopeParameters() {
        ObjectNode old = hf("gemma3_text", 12).put("sliding_window", 8).put("rope_theta", 1_000_000.0)
                .put("rope_local_base_freq", 10_000.0).put("sliding_window_pattern", 6).put("query_pre_attn_scalar", 8);
        old.putObject("rope_scaling").put("rope_type", "linear").put("factor", 8.0);
        ModelConfig c = read(old);
        assertEquals(ModelConfig.Architecture.GEMMA3, c.architecture());
        assertEquals(ModelConfig.periodicLayerTypes(12, 6), c.options().layerTypes());
        assertEquals(0, c.slidingWindow(5));
        assertEquals(0, c.slidingWindow(11));
        assertEquals(8, c.slidingWindow(6));
        assertEquals(new RopeScaling.Linear(8.0), c.ropeScaling());
        assertEquals(1e6, c.ropeTheta());
        assertEquals(1e4, c.options().slidingRopeTheta());
        assertTrue(c.usesSlidingRope(0) && !c.usesSlidingRope(5));
        assertTrue(c.tieEmbeddings());
        assertEquals(ModelConfig.Activation.GELU_TANH, c.options().activation());
        assertEquals(4.0, c.embeddingScale(), 1e-12);

        // nothing about RoPE at all: transformers' defaults, 1e6 global and 1e4 local
        ModelConfig bare = read(hf("gemma3_text", 6).put("sliding_window", 8));
        assertEquals(1e6, bare.ropeTheta());
        assertEquals(1e4, bare.options().slidingRopeTheta());
    }

    @Test
    void badGemma3RopeAndPatternAreRefused() {
        ObjectNode scaledLocal = hf("gemma3_text", 6).put("sliding_window", 8);
        ObjectNode rp = scaledLocal.putObject("rope_parameters");
        rp.putObject("full_attention").put("rope_type", "default").put("rope_theta", 1e6);
        rp.putObject("sliding_attention").put("rope_type", "linear").put("factor", 2.0).put("rope_theta", 1e4);
        refused(scaledLocal, "sliding_attention");
        refused(hf("gemma3_text", 6).put("sliding_window", 8).put("sliding_window_pattern", 0), "sliding_window_pattern");
        ObjectNode notObject = hf("gemma3_text", 6);
        notObject.putObject("rope_parameters").put("full_attention", 3);
        refused(notObject, "rope_parameters");
        ModelFormatException multimodal = assertThrows(ModelFormatException.class, () -> read(hf("gemma3", 6)));
        assertTrue(multimodal.getMessage().contains("gemma3_text"), multimodal.getMessage());
    }

    @Test
    void smollm3RopeLayersFromTheListOrTheInterval() {
        assertEquals(List.of(true, false, true, false), read(hf("smollm3", 4).put("no_rope_layer_interval", 2)).options().ropeLayers());
        assertEquals(List.of(true, true, true, false, true, true, true, false), read(hf("smollm3", 8)).options().ropeLayers());
        ObjectNode listed = hf("smollm3", 3);
        listed.putArray("no_rope_layers").add(0).add(1).add(1);
        ModelConfig c = read(listed);
        assertTrue(!c.usesRope(0) && c.usesRope(1) && c.usesRope(2));
        assertTrue(c.tieEmbeddings(), "SmolLM3Config ties by default");

        ObjectNode shortList = hf("smollm3", 3);
        shortList.putArray("no_rope_layers").add(1);
        refused(shortList, "no_rope_layers");
        ObjectNode badEntry = hf("smollm3", 2);
        badEntry.putArray("no_rope_layers").add(1).add(2);
        refused(badEntry, "no_rope_layers");
        refused(hf("smollm3", 2).put("no_rope_layer_interval", 0), "no_rope_layer_interval");
    }

    @Test
    void graniteMultipliersDefaultToOneAndMustBePositive() {
        ModelConfig plain = read(hf("granite", 2));
        assertEquals(new ModelConfig.Multipliers(1, 1, 1, 1), plain.options().multipliers());
        assertEquals(1.0, plain.attentionScale(), 1e-12, "GraniteConfig's attention_multiplier defaults to 1.0, not 1/sqrt(d)");
        refused(hf("granite", 2).put("logits_scaling", 0.0), "logits");
        refused(hf("granite", 2).put("attention_multiplier", -1.0), "attention_multiplier");
        refused(hf("granite", 2).put("residual_multiplier", "x"), "residual_multiplier");
    }

    @Test
    void olmo2IsUntiedByDefault() {
        ModelConfig c = read(hf("olmo2", 2));
        assertEquals(ModelConfig.Architecture.OLMO2, c.architecture());
        assertTrue(!c.tieEmbeddings());
        assertEquals(ModelConfig.Multipliers.NONE, c.options().multipliers());
    }

    private static GgufWriter gguf(String arch, int layers) {
        return new GgufWriter().put("general.architecture", arch).put(arch + ".context_length", 128)
                .put(arch + ".embedding_length", 16).put(arch + ".block_count", layers).put(arch + ".feed_forward_length", 32)
                .put(arch + ".attention.head_count", 2).put(arch + ".attention.head_count_kv", 1).put(arch + ".vocab_size", 32);
    }

    private static ModelConfig readGguf(GgufWriter w, Path file) throws Exception {
        w.write(file);
        try (GgufFile g = GgufFile.open(file)) {
            return GgufConfigReader.read(g);
        }
    }

    private static void ggufRefused(GgufWriter w, Path file, String key) throws Exception {
        w.write(file);
        try (GgufFile g = GgufFile.open(file)) {
            ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufConfigReader.read(g));
            assertTrue(e.getMessage().contains(key), "message names " + key + ": " + e.getMessage());
        }
    }

    /** llama.cpp's gemma3 loader: a period (default 6) or per-layer booleans; rope.freq_base_swa (default 10000). */
    @Test
    void gemma3GgufPatternAndLocalBase(@TempDir Path tmp) throws Exception {
        ModelConfig byDefault = readGguf(gguf("gemma3", 12).put("gemma3.attention.sliding_window", 8), tmp.resolve("a.gguf"));
        assertEquals(ModelConfig.periodicLayerTypes(12, 6), byDefault.options().layerTypes());
        assertEquals(1e4, byDefault.options().slidingRopeTheta());
        ModelConfig period = readGguf(gguf("gemma3", 4).put("gemma3.attention.sliding_window", 8)
                .put("gemma3.attention.sliding_window_pattern", 2).put("gemma3.rope.freq_base_swa", 5000f), tmp.resolve("b.gguf"));
        assertEquals(ModelConfig.periodicLayerTypes(4, 2), period.options().layerTypes());
        assertEquals(5000.0, period.options().slidingRopeTheta(), 1e-3);
        ModelConfig listed = readGguf(gguf("gemma3", 3).put("gemma3.attention.sliding_window", 8)
                .put("gemma3.attention.sliding_window_pattern", List.of(false, true, true)), tmp.resolve("c.gguf"));
        assertEquals(List.of(0, 8, 8), List.of(listed.slidingWindow(0), listed.slidingWindow(1), listed.slidingWindow(2)));
        ModelConfig noWindow = readGguf(gguf("gemma3", 3), tmp.resolve("d.gguf"));
        assertEquals(List.of(), noWindow.options().layerTypes());
        assertEquals(0, noWindow.options().slidingRopeTheta());

        Consumer<Object> bad = v -> {
            try {
                ggufRefused(gguf("gemma3", 3).put("gemma3.attention.sliding_window", 8)
                        .put("gemma3.attention.sliding_window_pattern", v), tmp.resolve("bad.gguf"), "sliding_window_pattern");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        };
        bad.accept("six");
        bad.accept(0);
        bad.accept(List.of(true, false));
    }

    @Test
    void smollm3GgufSkipsRopeOnEveryFourthLayer(@TempDir Path tmp) throws Exception {
        ModelConfig c = readGguf(gguf("smollm3", 8), tmp.resolve("s.gguf"));
        assertEquals(List.of(true, true, true, false, true, true, true, false), c.options().ropeLayers());
    }

    /** llama.cpp requires granite.logit_scale; the other scales are optional. */
    @Test
    void graniteGgufScales(@TempDir Path tmp) throws Exception {
        ModelConfig c = readGguf(gguf("granite", 2).put("granite.logit_scale", 8f).put("granite.residual_scale", 0.25f)
                .put("granite.embedding_scale", 12f).put("granite.attention.scale", 0.125f), tmp.resolve("g.gguf"));
        assertEquals(new ModelConfig.Multipliers(12, 0.125, 0.25, 8), c.options().multipliers());
        ModelConfig noRope = readGguf(gguf("granite", 2).put("granite.logit_scale", 8f).put("granite.rope.scaling.finetuned", false),
                tmp.resolve("n.gguf"));
        assertTrue(!noRope.usesRope(0) && !noRope.usesRope(1));
        assertEquals(1 / Math.sqrt(8), noRope.attentionScale(), 1e-12, "no attention.scale: 1/sqrt(head_dim)");
        ggufRefused(gguf("granite", 2), tmp.resolve("m.gguf"), "granite.logit_scale");
        ggufRefused(gguf("granite", 2).put("granite.logit_scale", -1f), tmp.resolve("neg.gguf"), "logits");
    }
}
