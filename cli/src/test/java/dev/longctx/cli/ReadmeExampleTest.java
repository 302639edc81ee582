package dev.longctx.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.spi.ToolProvider;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's Java example, as a newcomer would use it: taken from README.md as written, wrapped
 * in a main class, compiled against the library's jars once as a named module on the module path
 * and once on the class path, and run in a fresh JVM on stories260K. On the module path this is
 * what a split package in the library's dependencies breaks ("module reads package ... from both").
 */
class ReadmeExampleTest {

    /** The code between the README's readme-example marker and the end of its java block. */
    static String readmeExample() throws IOException {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path readme = dir.resolve("README.md");
            if (Files.exists(readme)) {
                String s = Files.readString(readme, StandardCharsets.UTF_8);
                int marker = s.indexOf("<!-- readme-example:");
                if (marker < 0) {
                    continue;
                }
                int start = s.indexOf("```java\n", marker) + "```java\n".length();
                return s.substring(start, s.indexOf("```", start));
            }
        }
        return fail("README.md with a readme-example marker not found above " + Path.of("").toAbsolutePath());
    }

    private static String program(String example) {
        return """
                package quickstart;

                import dev.longctx.models.Model;
                import dev.longctx.models.session.GenerateOptions;
                import dev.longctx.models.session.Generation;
                import dev.longctx.models.session.Session;
                import dev.longctx.models.session.Strategy;
                import java.nio.file.Path;

                public final class Quickstart {
                    public static void main(String[] args) {
                        String longPrompt = args[1];
                """ + example.replace("Path.of(\"model.gguf\")", "Path.of(args[0])") + """
                    }
                }
                """;
    }

    /** The library's jars and its dependencies, as this test JVM was given them. */
    private static String libraryPath() {
        String mp = System.getProperty("jdk.module.path", "");
        String cp = System.getProperty("java.class.path", "");
        List<String> entries = new ArrayList<>();
        for (String e : (mp + File.pathSeparator + cp).split(File.pathSeparator)) {
            // our test classes and the test framework are not what a user's application sees
            if (!e.isBlank() && !e.contains("test-classes") && !e.contains("junit") && !e.contains("opentest4j")
                    && !e.contains("apiguardian") && !e.contains("surefire") && !entries.contains(e)) {
                entries.add(e);
            }
        }
        return String.join(File.pathSeparator, entries);
    }

    private static void compile(List<String> args) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream ps = new PrintStream(err, true, StandardCharsets.UTF_8);
        int rc = ToolProvider.findFirst("javac").orElseThrow().run(ps, ps, args.toArray(String[]::new));
        assertEquals(0, rc, "javac " + args + "\n" + err.toString(StandardCharsets.UTF_8));
    }

    private static String run(List<String> command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "the example did not finish");
        String text = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), text);
        return text;
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    @Test
    void compilesAndRunsOnTheModulePath(@TempDir Path dir) throws Exception {
        Path src = dir.resolve("src/quickstart");
        Files.createDirectories(src);
        Files.writeString(src.resolve("Quickstart.java"), program(readmeExample()));
        Files.writeString(dir.resolve("src/module-info.java"), "module quickstart {\n    requires dev.longctx.models;\n}\n");
        Path out = dir.resolve("out");
        compile(List.of("--module-path", libraryPath(), "-d", out.toString(), dir.resolve("src/module-info.java").toString(),
                src.resolve("Quickstart.java").toString()));
        String text = run(List.of(java(), "--add-modules", "jdk.incubator.vector", "--enable-native-access=dev.longctx.kvcache",
                "--module-path", libraryPath() + File.pathSeparator + out, "-m", "quickstart/quickstart.Quickstart",
                Fixtures.locate("fixtures/stories260k/stories260K.gguf").toString(), "Once upon a time"));
        assertTrue(text.contains("Lily") && text.contains("tokens/s"), text);
    }

    @Test
    void compilesAndRunsOnTheClassPath(@TempDir Path dir) throws Exception {
        Path src = dir.resolve("src/quickstart");
        Files.createDirectories(src);
        Files.writeString(src.resolve("Quickstart.java"), program(readmeExample()));
        Path out = dir.resolve("out");
        compile(List.of("-cp", libraryPath(), "-d", out.toString(), src.resolve("Quickstart.java").toString()));
        String text = run(List.of(java(), "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-cp", libraryPath() + File.pathSeparator + out, "quickstart.Quickstart",
                Fixtures.locate("fixtures/stories260k/stories260K.gguf").toString(), "Once upon a time"));
        assertTrue(text.contains("Lily") && text.contains("tokens/s"), text);
    }
}
