package dev.longctx.models.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.longctx.models.Model;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.config.GgufConfigReader;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.gguf.GgmlType;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.tokenizer.Tokenizers;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;

/**
 * GGUF bytes through everything that reads a GGUF file: {@link GgufFile#readHeader} (inspect's
 * header-only reader), {@link GgufFile#open} (header, metadata,
 * tensor infos; every small tensor read back), {@link GgufConfigReader#read}, the embedded
 * vocabulary ({@link Tokenizers#fromGguf}, then encoding and decoding a short text) and the front
 * door {@link Model#open}, which binds the weights to the config. The only failure a file may cause
 * is a {@link ModelFormatException}; anything else that escapes (an index error, a
 * NegativeArraySizeException, an OutOfMemoryError from a size read out of the file, a
 * StackOverflowError...) is a finding, and so is an input running past the timeout.
 *
 * <p>Without {@code JAZZER_FUZZ} this replays {@code GgufFuzzTestInputs/gguf/} (seeds and every
 * crash found) as a normal test; with it, it fuzzes (see docs/reliability.md).
 */
class GgufFuzzTest {
    @DictionaryFile(resourcePath = "fuzz-dictionaries/gguf.dict")
    @FuzzTest(maxDuration = "2h", maxExecutions = 1_000_000)
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void gguf(byte[] data) throws IOException {
        Path file = FuzzSupport.write("input.gguf", data);
        try { // the header-only reader of inspect
            GgufFile.readHeader(file).tensors().forEach(t -> GgmlType.fromId(t.ggmlType()).ifPresent(g -> g.bytesFor(t.elements())));
        } catch (ModelFormatException expected) {
            FuzzSupport.assertReported(expected);
        }
        ModelConfig config = null;
        try (GgufFile g = GgufFile.open(file)) {
            for (GgufFile.TensorInfo t : g.tensors().values()) {
                if (t.bytes() <= 1 << 16) {
                    g.tensor(t.name()).toFloatArray();
                }
            }
            try {
                config = GgufConfigReader.read(g);
            } catch (ModelFormatException expected) {
                FuzzSupport.assertReported(expected);
                // a bad config is reported and the vocabulary is still tried
            }
            if (g.metadata().containsKey("tokenizer.ggml.model")) {
                try {
                    FuzzSupport.assertTokenizerSound(Tokenizers.fromGguf(g));
                } catch (ModelFormatException expected) {
                    FuzzSupport.assertReported(expected);
                    // reported with the key that was wrong
                }
            }
        } catch (ModelFormatException expected) {
            FuzzSupport.assertReported(expected);
            return;
        }
        if (config != null) {
            try (Model m = Model.open(file)) {
                m.tensors();
                if (m.hasTokenizer()) {
                    m.tokenizer().vocabSize();
                }
            } catch (ModelFormatException expected) {
                FuzzSupport.assertReported(expected);
                // weights that do not fit the config
            }
        }
    }
}
