package dev.longctx.models.llama2c;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.models.ModelFormatException;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.SharedFixtures;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Llama2cCheckpointTest {
    static final Path BIN = SharedFixtures.locate("fixtures/stories260k/stories260K.bin");
    static final Path GGUF = SharedFixtures.locate("fixtures/stories260k/stories260K.gguf");

    @Test
    void holdsTheSameWeightsAsTheGguf() throws Exception {
        try (Llama2cCheckpoint c = Llama2cCheckpoint.open(BIN); GgufFile g = GgufFile.open(GGUF)) {
            assertEquals(64, c.config().hiddenSize());
            assertEquals(172, c.config().intermediateSize());
            assertEquals(5, c.config().layers());
            assertEquals(8, c.config().heads());
            assertEquals(4, c.config().kvHeads());
            assertEquals(512, c.config().vocabSize());
            assertTrue(c.config().tieEmbeddings());
            for (String name : new String[] {"token_embd.weight", "blk.0.attn_q.weight", "blk.4.attn_k.weight",
                    "blk.2.ffn_down.weight", "blk.3.ffn_up.weight", "output_norm.weight"}) {
                assertArrayEquals(g.tensor(name).toFloatArray(), c.tensors().get(name).toFloatArray(), name);
            }
        }
    }

    @Test
    void truncatedAndHostileHeadersAreClearErrors(@TempDir Path dir) throws Exception {
        byte[] original = Files.readAllBytes(BIN);
        Path cut = dir.resolve("cut.bin");
        Files.write(cut, java.util.Arrays.copyOf(original, original.length / 2));
        var e = assertThrows(ModelFormatException.class, () -> Llama2cCheckpoint.open(cut));
        assertTrue(e.getMessage().contains("cut.bin") && e.getMessage().contains("needs"), e.getMessage());
        byte[] hostile = original.clone();
        ByteBuffer.wrap(hostile).order(ByteOrder.LITTLE_ENDIAN).putInt(8, Integer.MAX_VALUE);
        Path bad = dir.resolve("bad.bin");
        Files.write(bad, hostile);
        e = assertThrows(ModelFormatException.class, () -> Llama2cCheckpoint.open(bad));
        assertTrue(e.getMessage().contains("n_layers"), e.getMessage());
        Path tiny = dir.resolve("tiny.bin");
        Files.write(tiny, new byte[5]);
        assertThrows(ModelFormatException.class, () -> Llama2cCheckpoint.open(tiny));
    }
}
