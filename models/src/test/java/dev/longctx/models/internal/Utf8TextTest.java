package dev.longctx.models.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.longctx.models.ModelFormatException;
import dev.longctx.models.config.HfConfigReader;
import dev.longctx.models.tokenizer.HfTokenizerJson;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class Utf8TextTest {
    @Test
    void decodesUtf8AndNamesTheFirstBadByte() {
        assertEquals("h\u00e9\u6f22", Utf8Text.decode("h\u00e9\u6f22".getBytes(java.nio.charset.StandardCharsets.UTF_8), "x", 0));
        var e = assertThrows(ModelFormatException.class, () -> Utf8Text.decode(new byte[] {'{', '"', (byte) 0xC3, '"'}, "f.json", 8));
        assertEquals(10, e.offset());
        assertEquals("f.json at offset 10: not valid UTF-8 text", e.getMessage());
    }

    /** Found by fuzzing: a JSON file that is not UTF-8 was an IOException saying "Input length = 1". */
    @Test
    void jsonFilesThatAreNotUtf8AreModelFormatErrors(@TempDir Path dir) throws Exception {
        Files.write(dir.resolve("config.json"), new byte[] {'{', ' ', (byte) 0xFF, '}'});
        assertEquals(2, assertThrows(ModelFormatException.class, () -> HfConfigReader.read(dir)).offset());
        Files.write(dir.resolve("tokenizer.json"), new byte[] {'{', '"', (byte) 0xE2, (byte) 0x82, '"', '}'});
        assertEquals(2, assertThrows(ModelFormatException.class, () -> HfTokenizerJson.read(dir.resolve("tokenizer.json"))).offset());
    }
}
