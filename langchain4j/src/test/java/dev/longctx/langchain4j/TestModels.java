package dev.longctx.langchain4j;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;

/** Where the test models are: the committed retrieval model (it has a chat template) and the shared stories260K (none). */
final class TestModels {
    private TestModels() {
    }

    static Path chatModel() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path m = dir.resolve("tools/retrieval-model/model/hf");
            if (Files.isDirectory(m)) {
                return m;
            }
        }
        return fail("tools/retrieval-model/model/hf not found above " + Path.of("").toAbsolutePath());
    }

    static Path stories260k() {
        String rel = "fixtures/stories260k/stories260K.gguf";
        String override = System.getenv("LONGCTX_SHARED");
        if (override != null && Files.exists(Path.of(override).resolve(rel))) {
            return Path.of(override).resolve(rel);
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            for (Path shared : new Path[] {dir.resolve("shared"), dir.resolveSibling("shared")}) {
                if (Files.exists(shared.resolve(rel))) {
                    return shared.resolve(rel);
                }
            }
        }
        return fail("fixture " + rel + " not found in shared/ beside or above " + Path.of("").toAbsolutePath());
    }
}
