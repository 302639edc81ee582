package dev.longctx.models.config;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.safetensors.SafetensorsModel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * 10,000 seeded mutants of a real config.json (text edits, hostile values for real keys, removed
 * keys, truncation) through the config reader and then the weight mapping against the folder's
 * real safetensors, so configs that disagree with the tensors are exercised too: each loads or is
 * a {@link ModelFormatException}; nothing else escapes.
 */
class ConfigFuzzTest {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final JsonNode[] HOSTILE = {F.numberNode(1L << 60), F.numberNode(-1), F.numberNode(0),
        F.numberNode(Integer.MAX_VALUE), F.numberNode(1e308), F.numberNode(-0.5), F.numberNode(3.5), F.numberNode(2),
        F.textNode("x"), F.nullNode(), F.arrayNode(), F.objectNode(), F.booleanNode(true), F.textNode("a".repeat(10_000)),
        F.textNode("sliding_attention"), F.numberNode(1)};

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"qwen3-qknorm", "gemma2-softcap", "phi3-fused", "llama-rope-yarn", "arch/gemma3-text", "arch/smollm3",
        "arch/granite", "arch/olmo2"})
    void tenThousandMutatedConfigsNeverCrash(String model) throws Exception {
        // fixtures/hf/NAME (make_hf_fixtures.py), or fixtures/arch/NAME (tools/fixtures/arch/make_arch_fixtures.py)
        String folder = model.startsWith("arch/") ? "fixtures/" + model : "fixtures/hf/" + model;
        Path dir = SharedFixtures.resource(folder + "/config.json").getParent();
        String text = Files.readString(dir.resolve("config.json"));
        ObjectMapper json = new ObjectMapper();
        ObjectNode original = (ObjectNode) json.readTree(text);
        List<String> keys = new ArrayList<>();
        original.fieldNames().forEachRemaining(keys::add);
        SplittableRandom r = new SplittableRandom(model.hashCode());
        int rejected = 0;
        try (SafetensorsModel st = SafetensorsModel.open(dir)) {
            for (int trial = 0; trial < 10_000; trial++) {
                String mutant = mutate(text, original, keys, r, json);
                try {
                    ModelConfig c = HfConfigReader.fromText(mutant, "mutant-" + trial);
                    ModelWeights.fromHfNames(c, st::tensor, st::has);
                } catch (ModelFormatException e) {
                    rejected++;
                } catch (Throwable t) {
                    fail("trial " + trial + ": " + t + "\n" + mutant, t);
                }
            }
        }
        assertTrue(rejected > 2_000, "the mutations should mostly be caught, rejected " + rejected);
    }

    private static String mutate(String text, ObjectNode original, List<String> keys, SplittableRandom r, ObjectMapper json)
            throws Exception {
        switch (r.nextInt(5)) {
            case 0 -> { // a hostile value for a real key (nested ones included)
                ObjectNode copy = original.deepCopy();
                String key = keys.get(r.nextInt(keys.size()));
                if (copy.get(key) instanceof ObjectNode inner && inner.size() > 0 && r.nextBoolean()) {
                    List<String> innerKeys = new ArrayList<>();
                    inner.fieldNames().forEachRemaining(innerKeys::add);
                    inner.set(innerKeys.get(r.nextInt(innerKeys.size())), HOSTILE[r.nextInt(HOSTILE.length)]);
                } else {
                    copy.set(key, HOSTILE[r.nextInt(HOSTILE.length)]);
                }
                return json.writeValueAsString(copy);
            }
            case 1 -> { // a key removed
                ObjectNode copy = original.deepCopy();
                copy.remove(keys.get(r.nextInt(keys.size())));
                return json.writeValueAsString(copy);
            }
            case 2 -> { // a plausible wrong size: shapes and config disagree
                ObjectNode copy = original.deepCopy();
                String key = keys.get(r.nextInt(keys.size()));
                if (copy.get(key) != null && copy.get(key).isIntegralNumber()) {
                    copy.put(key, Math.max(1, copy.get(key).asInt() + r.nextInt(-3, 4)));
                }
                return json.writeValueAsString(copy);
            }
            case 3 -> { // random characters
                StringBuilder b = new StringBuilder(text);
                for (int i = 0; i < 1 + r.nextInt(3); i++) {
                    b.setCharAt(r.nextInt(b.length()), "{}[]\":,0123456789-.eE ax".charAt(r.nextInt(24)));
                }
                return b.toString();
            }
            default -> {
                return text.substring(0, r.nextInt(text.length()));
            }
        }
    }
}
