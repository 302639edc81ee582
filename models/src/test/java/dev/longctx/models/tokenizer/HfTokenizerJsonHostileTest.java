package dev.longctx.models.tokenizer;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.models.ModelFormatException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Hostile ids in a tokenizer.json: each is a ModelFormatException naming the entry, never an allocation sized by the id. */
class HfTokenizerJsonHostileTest {
    @ParameterizedTest
    @ValueSource(strings = {
        "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 2147483647}}}",
        "{\"model\": {\"vocab\": {\"a\": 0, \"b\": 1000000000}}}",
        "{\"model\": {\"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"id\": 2147483647, \"content\": \"<x>\"}]}",
        "{\"model\": {\"vocab\": {\"a\": 0}}, \"added_tokens\": [{\"id\": 300000000, \"content\": \"<x>\"}]}"})
    void idsFarPastTheVocabularyAreRejected(String json, @TempDir Path dir) throws Exception {
        Path f = dir.resolve("tokenizer.json");
        Files.writeString(f, json);
        var e = assertThrows(ModelFormatException.class, () -> HfTokenizerJson.read(f));
        assertTrue(e.getMessage().contains("tokenizer.json") && e.getMessage().contains("id"), e.getMessage());
    }
}
