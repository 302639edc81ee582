package dev.longctx.cli;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;

/** The shared fixtures, found as the models tests find them: {@code $LONGCTX_SHARED}, else shared/ beside or above. */
final class Fixtures {
    private Fixtures() {
    }

    static Path locate(String rel) {
        String override = System.getenv("LONGCTX_SHARED");
        Path start = override != null ? Path.of(override).getParent() : Path.of("").toAbsolutePath();
        for (Path dir = start; dir != null; dir = dir.getParent()) {
            for (Path shared : new Path[] {dir.resolve("shared"), dir.resolveSibling("shared")}) {
                if (Files.exists(shared.resolve(rel))) {
                    return shared.resolve(rel);
                }
            }
        }
        return fail("fixture " + rel + " not found in shared/ beside or above " + Path.of("").toAbsolutePath());
    }
}
