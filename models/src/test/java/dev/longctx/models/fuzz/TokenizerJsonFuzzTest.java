package dev.longctx.models.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.tokenizer.BpeTokenizer;
import dev.longctx.models.tokenizer.HfTokenizerJson;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;

/**
 * {@code tokenizer.json} bytes through {@link HfTokenizerJson#read}, then the tokenizer encodes and
 * decodes a short text ({@link FuzzSupport#exercise}: every id it returns must be in the
 * vocabulary). Only a {@link ModelFormatException} may escape; anything else, or an input past the
 * timeout (a runaway regular expression from the file, say), is a finding.
 *
 * <p>Without {@code JAZZER_FUZZ} this replays {@code TokenizerJsonFuzzTestInputs/tokenizerJson/}
 * as a normal test; with it, it fuzzes (see docs/reliability.md).
 */
class TokenizerJsonFuzzTest {
    @DictionaryFile(resourcePath = "fuzz-dictionaries/tokenizer-json.dict")
    @FuzzTest(maxDuration = "2h", maxExecutions = 1_000_000)
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void tokenizerJson(byte[] data) throws IOException {
        Path file = FuzzSupport.write("tokenizer.json", data);
        BpeTokenizer t;
        try {
            t = HfTokenizerJson.read(file);
        } catch (ModelFormatException expected) {
            FuzzSupport.assertReported(expected);
            return;
        }
        FuzzSupport.assertTokenizerSound(t);
    }
}
