package dev.longctx.models.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.safetensors.SafetensorsModel;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;

/**
 * {@code config.json} bytes through {@link HfConfigReader#read}, then, when the config reads, the
 * weight mapping ({@link ModelWeights#fromHfNames}) against the tiny Llama model's tensors, so
 * configs whose sizes disagree with real tensors are exercised too. Only a
 * {@link ModelFormatException} may escape; anything else, or an input past the timeout, is a
 * finding.
 *
 * <p>Without {@code JAZZER_FUZZ} this replays {@code HfConfigFuzzTestInputs/configJson/} as a
 * normal test; with it, it fuzzes (see docs/reliability.md).
 */
class HfConfigFuzzTest {
    /** The tiny model's weights, mapped once (a folder of its own beside the fuzzed config). */
    private static final SafetensorsModel WEIGHTS = tinyWeights();

    @DictionaryFile(resourcePath = "fuzz-dictionaries/config-json.dict")
    @FuzzTest(maxDuration = "2h", maxExecutions = 1_000_000)
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void configJson(byte[] data) throws IOException {
        FuzzSupport.write("config.json", data);
        ModelConfig c;
        try {
            c = HfConfigReader.read(FuzzSupport.dir());
        } catch (ModelFormatException expected) {
            FuzzSupport.assertReported(expected);
            return;
        }
        try {
            ModelWeights.fromHfNames(c, WEIGHTS::tensor, WEIGHTS::has);
        } catch (ModelFormatException expected) {
            FuzzSupport.assertReported(expected);
            // sizes that do not fit the tensors
        }
    }

    private static SafetensorsModel tinyWeights() {
        try {
            Path dir = Files.createTempDirectory("longctx-fuzz-weights-");
            var entries = new ArrayList<FuzzSupport.Entry>();
            FuzzSupport.tinyHfTensors().forEach((n, s) -> entries.add(new FuzzSupport.Entry(n, "F32", s)));
            Path file = dir.resolve("model.safetensors");
            Files.write(file, FuzzSupport.safetensors(entries, java.util.Map.of()));
            file.toFile().deleteOnExit();
            dir.toFile().deleteOnExit();
            return SafetensorsModel.open(dir);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
