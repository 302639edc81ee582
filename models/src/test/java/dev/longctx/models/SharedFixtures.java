package dev.longctx.models;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Finds the shared fixtures ({@code shared/fixtures/...}) the models tests check against: under
 * {@code $LONGCTX_SHARED} when set, else in a {@code shared/} folder beside or above the working
 * directory (CI and developer machines put it beside the repository). A missing fixture fails the
 * test that needs it; it is never skipped.
 */
public final class SharedFixtures {
    private SharedFixtures() {
    }

    /** The path of {@code rel} (relative to the shared folder); fails the calling test when absent. */
    public static Path locate(String rel) {
        String override = System.getenv("LONGCTX_SHARED");
        if (override != null && Files.exists(Path.of(override).resolve(rel))) {
            return checked(Path.of(override).resolve(rel));
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path inside = dir.resolve("shared").resolve(rel);
            if (Files.exists(inside)) {
                return checked(inside);
            }
            Path beside = dir.resolveSibling("shared").resolve(rel);
            if (Files.exists(beside)) {
                return checked(beside);
            }
        }
        return fail("fixture " + rel + " not found: looked for shared/ beside and above "
                + Path.of("").toAbsolutePath() + " (set LONGCTX_SHARED to the shared folder)");
    }

    /**
     * The path of {@code rel} among this module's own test resources (the fixtures made by
     * {@code models/src/test/python}); fails the calling test when absent.
     */
    public static Path resource(String rel) {
        java.net.URL url = SharedFixtures.class.getResource("/" + rel);
        if (url == null) {
            return fail("test resource " + rel + " not found on the test classpath");
        }
        try {
            return checked(Path.of(url.toURI()));
        } catch (java.net.URISyntaxException e) {
            return fail("test resource " + rel + ": " + e);
        }
    }

    private static Path checked(Path p) {
        assertTrue(Files.isReadable(p), "fixture " + p + " exists but is not readable");
        return p;
    }
}
