package dev.longctx.models.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.rope.RopeScaling;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.gguf.GgufWriter;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.llama2c.Llama2cCheckpoint;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GgufConfigReaderTest {

    @Test
    void theStoriesGgufAndItsLlama2cTwinDescribeTheSameModel() throws Exception {
        try (GgufFile g = GgufFile.open(SharedFixtures.locate("fixtures/stories260k/stories260K.gguf"));
             Llama2cCheckpoint c = Llama2cCheckpoint.open(SharedFixtures.locate("fixtures/stories260k/stories260K.bin"))) {
            ModelConfig fromGguf = GgufConfigReader.read(g);
            ModelConfig fromBin = c.config();
            assertEquals(ModelConfig.Architecture.LLAMA, fromGguf.architecture());
            assertEquals(512, fromGguf.vocabSize());
            assertEquals(64, fromGguf.hiddenSize());
            assertEquals(172, fromGguf.intermediateSize());
            assertEquals(5, fromGguf.layers());
            assertEquals(8, fromGguf.heads());
            assertEquals(4, fromGguf.kvHeads());
            assertEquals(8, fromGguf.headDim());
            assertEquals(8, fromGguf.rotaryDim());
            assertEquals(RopeScaling.none(), fromGguf.ropeScaling());
            assertEquals(10000.0, fromGguf.ropeTheta());
            assertEquals(1, fromGguf.bosTokenId());
            assertEquals(List.of(2), fromGguf.eosTokenIds());
            assertTrue(fromGguf.rmsNormEps() > 9.9e-6 && fromGguf.rmsNormEps() < 1.01e-5);
            for (var pair : List.of(List.of(fromGguf.vocabSize(), fromBin.vocabSize()), List.of(fromGguf.layers(), fromBin.layers()),
                    List.of(fromGguf.kvHeads(), fromBin.kvHeads()), List.of(fromGguf.headDim(), fromBin.headDim()))) {
                assertEquals(pair.get(0), pair.get(1));
            }
        }
    }

    /** Token id 0 is a real id (GPT-2-style vocabularies keep BOS/EOS there); ids past the vocabulary are errors. */
    @Test
    void bosAndEosIdsMayBeZeroButNotPastTheVocabulary(@TempDir Path tmp) throws Exception {
        GgufWriter w = new GgufWriter().put("general.architecture", "qwen2").put("qwen2.context_length", 64)
                .put("qwen2.embedding_length", 8).put("qwen2.block_count", 1).put("qwen2.feed_forward_length", 16)
                .put("qwen2.attention.head_count", 2).put("qwen2.vocab_size", 16)
                .put("tokenizer.ggml.bos_token_id", 0).put("tokenizer.ggml.eos_token_id", 0);
        w.write(tmp.resolve("zero.gguf"));
        try (GgufFile g = GgufFile.open(tmp.resolve("zero.gguf"))) {
            ModelConfig c = GgufConfigReader.read(g);
            assertEquals(0, c.bosTokenId());
            assertEquals(List.of(0), c.eosTokenIds());
        }
        w.put("tokenizer.ggml.eos_token_id", 16).write(tmp.resolve("past.gguf"));
        try (GgufFile g = GgufFile.open(tmp.resolve("past.gguf"))) {
            var e = assertThrows(ModelFormatException.class, () -> GgufConfigReader.read(g));
            assertTrue(e.getMessage().contains("tokenizer.ggml.eos_token_id' = 16 is not a token id below the vocabulary size 16"),
                    e.getMessage());
        }
    }
}
