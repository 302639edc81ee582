package dev.longctx.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.sampling.SamplerConfig;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Strategy;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.List;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.Test;

/** What travels with a job: the settings, strategies and options survive Java serialisation; the builders check their input. */
class SpecsTest {

    @SuppressWarnings("unchecked")
    private static <T> T roundTrip(T value) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(value);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (T) in.readObject();
        }
    }

    @Test
    void strategiesSurviveSerialisation() throws Exception {
        for (Strategy s : List.of(new Strategy.Full(), new Strategy.Streaming(4, 100), new Strategy.H2o(10, 20),
                new Strategy.SnapKv(64, 8), new Strategy.SnapKv(64, 8, 9), new Strategy.Quest(128), new Strategy.SparsePrefill(),
                new Strategy.SparsePrefill(Strategy.SparsePrefill.Estimator.A_SHAPE), new Strategy.ThinK(new Strategy.SnapKv(0, 0)),
                new Strategy.ThinK(new Strategy.Full(), 0.5, 0), new Strategy.LongHeads(2048, 0, 16),
                new Strategy.LongHeads(0, 0, 0), new Strategy.Squeezed(), new Strategy.Squeezed(0.25, 0, 4000, 16, 0))) {
            assertEquals(s, roundTrip(StrategySpec.of(s)).strategy(), s.toString());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> StrategySpec.of(new Strategy.RetrievalHeads(HeadProfile.byFraction(new float[][] {{1f, 0f}, {0f, 1f}}, 0.5), 4, 0)));
        assertTrue(e.getMessage().contains("head profile"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StrategySpec.of(new Strategy.Squeezed(0, 2048, 0, 0, 0)));
        assertTrue(e.getMessage().contains("Squeezed Attention by name only"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StrategySpec.of(new Strategy.ThinK(new Strategy.SnapKv(64, 8))));
        assertTrue(e.getMessage().contains("ThinK by name only"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> StrategySpec.of(new Strategy.SinkCalibration(
                dev.longctx.models.session.SinkHeads.all(), 0, 0)));
        assertTrue(e.getMessage().contains("sink-calib"), e.getMessage());
    }

    @Test
    void optionsSurviveSerialisation() throws Exception {
        GenerateOptions o = new GenerateOptions(17, new SamplerConfig(0.7f, 40, 0.9f, 0.05f, 1.1f, 64, 1234L), List.of(2, 3),
                List.of("\n\n", "The end"));
        assertEquals(o, roundTrip(OptionsSpec.of(o)).options());
        GenerateOptions eos = GenerateOptions.greedy(5);
        assertEquals(eos, roundTrip(OptionsSpec.of(eos)).options());
    }

    @Test
    void settingsAreCheckedAndSerialisable() throws Exception {
        EngineSettings s = EngineSettings.ofPath("/m.gguf").withThreads(2).withKvBudgetBytes(1 << 20).withMaxRunning(4)
                .withMaxQueue(8).withChunkTokens(32).withStepTokens(64);
        assertEquals(s, roundTrip(s));
        assertThrows(IllegalArgumentException.class, () -> EngineSettings.ofPath(" "));
        assertThrows(IllegalArgumentException.class, () -> s.withThreads(-1));
        assertThrows(IllegalArgumentException.class, () -> s.withKvBudgetBytes(0));
        assertThrows(IllegalArgumentException.class, () -> s.withMaxRunning(0));
    }

    @Test
    void builderRefusesContradictions() throws Exception {
        EngineSettings s = EngineSettings.ofPath("/m.gguf");
        assertThrows(IllegalArgumentException.class, () -> DocumentInference.builder(s).build());
        assertThrows(IllegalArgumentException.class, () -> DocumentInference.builder(s).textColumn("a").tokensColumn("b").build());
        assertThrows(IllegalArgumentException.class,
                () -> DocumentInference.builder(s).tokensColumn("ids").promptTemplate("Q: {text}").build());
        assertThrows(IllegalArgumentException.class, () -> DocumentInference.builder(s).promptTemplate("no placeholder"));
        assertThrows(IllegalArgumentException.class, () -> DocumentInference.builder(s).strategy("nonsense"));
        DocumentInference d = DocumentInference.builder(s).textColumn("text").strategy("streaming").budgetTokens(64).build();
        assertEquals("streaming", roundTrip(d).strategy().kind());
    }

    @Test
    void schemaIsCheckedOnTheDriver() {
        DocumentInference d = DocumentInference.builder(EngineSettings.ofPath("/m.gguf")).textColumn("text").build();
        StructType ok = new StructType().add("id", DataTypes.IntegerType).add("text", DataTypes.StringType);
        StructType out = d.outputSchema(ok);
        assertEquals(List.of("id", "text", "generated_text", "prompt_tokens", "output_tokens", "finish_reason",
                "prefill_seconds", "decode_seconds", "error"), List.of(out.fieldNames()));
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> d.outputSchema(new StructType().add("body", DataTypes.StringType)));
        assertTrue(missing.getMessage().contains("no column 'text'"), missing.getMessage());
        IllegalArgumentException type = assertThrows(IllegalArgumentException.class,
                () -> d.outputSchema(new StructType().add("text", DataTypes.IntegerType)));
        assertTrue(type.getMessage().contains("not string"), type.getMessage());
        IllegalArgumentException clash = assertThrows(IllegalArgumentException.class,
                () -> d.outputSchema(ok.add("error", DataTypes.StringType)));
        assertTrue(clash.getMessage().contains("'error'"), clash.getMessage());
        DocumentInference ids = DocumentInference.builder(EngineSettings.ofPath("/m.gguf")).tokensColumn("ids").build();
        assertThrows(IllegalArgumentException.class,
                () -> ids.outputSchema(new StructType().add("ids", DataTypes.createArrayType(DataTypes.LongType))));
        ids.outputSchema(new StructType().add("ids", DataTypes.createArrayType(DataTypes.IntegerType)));
    }
}
