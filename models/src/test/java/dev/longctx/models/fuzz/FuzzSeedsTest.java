package dev.longctx.models.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.models.Model;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.safetensors.SafetensorsModel;
import dev.longctx.models.tokenizer.HfTokenizerJson;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The seed corpora reach deep: the tiny models' seeds open through the front door with their
 * tokenizers, the sharded seed opens as a checkpoint, the small tokenizer seeds read and encode.
 * A fuzzer starting from seeds that fail at the first check would mostly fuzz that check.
 */
class FuzzSeedsTest {
    private static final String ROOT = "dev/longctx/models/fuzz/";

    @Test
    void ggufSeedsOpenAsModelsWithTheirVocabularies(@TempDir Path tmp) throws Exception {
        for (String seed : List.of("seed-tiny-llama-spm.gguf", "seed-tiny-qwen2-gpt2.gguf")) {
            Path file = tmp.resolve(seed);
            Files.copy(SharedFixtures.resource(ROOT + "GgufFuzzTestInputs/gguf/" + seed), file);
            try (Model m = Model.open(file)) {
                assertEquals(FuzzSupport.VOCAB, m.tokenizer().vocabSize(), seed);
                FuzzSupport.assertTokenizerSound(m.tokenizer());
                assertTrue(m.tokenizer().encode("Hello").length > 1, seed);
            }
        }
    }

    @Test
    void safetensorsSeedsOpenAsModels(@TempDir Path tmp) throws Exception {
        Files.writeString(tmp.resolve("config.json"), FuzzSupport.TINY_CONFIG);
        for (String seed : List.of("seed-tiny-llama-f32.safetensors", "seed-tiny-llama-mixed.safetensors")) {
            Files.copy(SharedFixtures.resource(ROOT + "SafetensorsFuzzTestInputs/safetensorsFile/" + seed),
                    tmp.resolve("model.safetensors"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            try (Model m = Model.open(tmp)) {
                assertEquals(FuzzSupport.tinyHfTensors().size(), m.tensors().size(), seed);
            }
        }
    }

    @Test
    void theShardedSeedOpensAsACheckpoint(@TempDir Path tmp) throws Exception {
        byte[] in = Files.readAllBytes(SharedFixtures.resource(ROOT
                + "SafetensorsFuzzTestInputs/safetensorsIndex/seed-tiny-llama-two-shards.bin"));
        var b = java.nio.ByteBuffer.wrap(in).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int n = Short.toUnsignedInt(b.getShort());
        Files.write(tmp.resolve(SafetensorsModel.INDEX), java.util.Arrays.copyOfRange(in, 2, 2 + n));
        b.position(2 + n);
        int m = b.getInt();
        Files.write(tmp.resolve(SafetensorsFuzzTest.SHARD1), java.util.Arrays.copyOfRange(in, 6 + n, 6 + n + m));
        Files.write(tmp.resolve(SafetensorsFuzzTest.SHARD2), java.util.Arrays.copyOfRange(in, 6 + n + m, in.length));
        Files.writeString(tmp.resolve("config.json"), FuzzSupport.TINY_CONFIG);
        try (Model model = Model.open(tmp)) {
            assertEquals(FuzzSupport.tinyHfTensors().size(), model.tensors().size());
        }
    }

    @Test
    void smallSeedsRead(@TempDir Path tmp) throws Exception {
        for (String seed : List.of("seed-small-bytelevel.json", "seed-small-metaspace.json")) {
            var t = HfTokenizerJson.read(SharedFixtures.resource(ROOT + "TokenizerJsonFuzzTestInputs/tokenizerJson/" + seed));
            FuzzSupport.assertTokenizerSound(t);
            assertTrue(t.encode("Hello world").length > 2, seed);
        }
        Files.writeString(tmp.resolve("config.json"), FuzzSupport.TINY_CONFIG);
        assertEquals(FuzzSupport.VOCAB, HfConfigReader.read(tmp).vocabSize());
    }
}
