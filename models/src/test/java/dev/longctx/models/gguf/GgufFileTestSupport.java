package dev.longctx.models.gguf;

import java.nio.file.Path;

/** Finds shared fixtures for the models tests. */
public final class GgufFileTestSupport {
    private GgufFileTestSupport() {
    }

    /** A path under shared/ (beside the repository, as on developer machines and in CI). */
    public static Path locate(String rel) {
        return GgufFileTest.locate(rel);
    }
}
