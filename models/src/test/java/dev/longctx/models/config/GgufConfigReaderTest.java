package dev.longctx.models.config;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.rope.RopeScaling;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.llama2c.Llama2cCheckpoint;
import java.util.List;
import org.junit.jupiter.api.Test;

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
}
