package dev.longctx.spark;

import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The shared fixtures ({@code shared/fixtures/...}, under {@code $LONGCTX_SHARED} when set, else in
 * a {@code shared/} folder beside or above the working directory, as the models tests find them).
 * A missing fixture fails the test that needs it; it is never skipped.
 */
final class Fixtures {
    private Fixtures() {
    }

    /** stories260K as GGUF (its vocabulary embedded; context length 2048). */
    static Path stories() {
        return locate("fixtures/stories260k/stories260K.gguf");
    }

    static Path locate(String rel) {
        String override = System.getenv("LONGCTX_SHARED");
        if (override != null && Files.exists(Path.of(override).resolve(rel))) {
            return Path.of(override).resolve(rel);
        }
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            for (Path p : new Path[] {dir.resolve("shared").resolve(rel), dir.resolveSibling("shared").resolve(rel)}) {
                if (Files.exists(p)) {
                    return p;
                }
            }
        }
        return fail("fixture " + rel + " not found: looked for shared/ beside and above " + Path.of("").toAbsolutePath()
                + " (set LONGCTX_SHARED to the shared folder)");
    }

    /** A story-like document of {@code sentences} sentences, different for each {@code seed}. */
    static String document(int seed, int sentences) {
        String[] who = {"Lily", "Tom", "a little bird", "the old cat", "Ben", "Sue", "a small dog", "the king"};
        String[] did = {"found a red ball", "went to the park", "saw a big tree", "ate a sweet cake", "played with a friend",
            "lost a shiny toy", "sang a happy song", "looked at the sky"};
        String[] how = {"and was happy.", "and smiled.", "but it was sad.", "and ran home.", "in the sun.", "with mom.",
            "all day long.", "and laughed."};
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < sentences; i++) {
            int k = seed * 31 + i * 7;
            if (i > 0) {
                b.append(' ');
            }
            b.append(Character.toUpperCase(who[k % who.length].charAt(0))).append(who[k % who.length].substring(1)).append(' ')
                    .append(did[(k / 3) % did.length]).append(' ').append(how[(k / 5 + seed) % how.length]);
        }
        return b.toString();
    }
}
