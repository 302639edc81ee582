package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The main job end to end: on the retrieval model (small documents), a row per strategy with its
 * accuracy and a chart; with {@code --synthetic}, on the tiny preset, every strategy gets a row and
 * full is its own reference.
 */
class DemoCommandTest {

    @Test
    void retrievalDemoAnswersAndCharts(@TempDir Path tmp) throws Exception {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new DemoCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(new StringWriter()));
        Path chart = tmp.resolve("demo.png");
        int code = cl.execute("--context", "768", "--documents", "2", "--decode", "16", "--strategies", "full,streaming,snapkv,quest,duo",
                "--chart", chart.toString(), "--threads", "2");
        String text = out.toString();
        assertEquals(0, code, text);
        String fullRow = text.lines().filter(l -> l.startsWith("full ")).findFirst().orElseThrow();
        assertTrue(text.contains("key/value needles in each, one key asked"), "multi-key documents by default:\n" + text);
        // 768 less 16 decoded tokens: off the 64-token grid that run 10's weights needed (the model card's runs 11-13)
        assertTrue(text.contains("2 documents of 752 tokens"), "document length = context less decode:\n" + text);
        assertTrue(fullRow.contains(" 2/2 "), "the full cache finds both needles:\n" + text);
        for (String s : new String[] {"streaming", "snapkv (forked)", "quest (forked)", "duo"}) {
            assertTrue(text.contains("\n" + s), "row for " + s + ":\n" + text);
        }
        assertTrue(text.contains("Chart: " + chart.toAbsolutePath()), text);
        assertTrue(Files.size(chart) > 0);
    }

    @Test
    void theTaskIsAnOptionAndAnUnknownOneIsRefused(@TempDir Path tmp) {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new DemoCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(new StringWriter()));
        int code = cl.execute("--task", "niah_single", "--context", "768", "--documents", "1", "--decode", "16", "--strategies", "full",
                "--chart", tmp.resolve("single.png").toString(), "--threads", "2");
        String text = out.toString();
        assertEquals(0, code, text);
        assertTrue(text.contains("one needle each"), text);
        assertTrue(text.lines().anyMatch(l -> l.startsWith("full ") && l.contains(" 1/1 ")), text);

        StringWriter err = new StringWriter();
        cl = new CommandLine(new DemoCommand());
        cl.setOut(new PrintWriter(new StringWriter()));
        cl.setErr(new PrintWriter(err));
        assertEquals(2, cl.execute("--task", "niah_everything", "--chart", tmp.resolve("x.png").toString()));
        assertTrue(err.toString().contains("--task: 'niah_everything' is not one of niah_single, niah_multikey"), err.toString());
    }

    @Test
    void printsARowPerStrategy() {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new DemoCommand());
        cl.setOut(new PrintWriter(out));
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        int code = cl.execute("--synthetic", "--model", "tiny", "--weights", "F32", "--context", "300", "--decode", "6", "--budget", "64",
                "--threads", "2");
        String text = out.toString();
        assertEquals(0, code, text);
        // Both warm-up rounds ran before anything was timed (tiny: 2 layers, so the longest rounds).
        assertTrue(err.toString().contains("full: warming up (1024 tokens and " + WarmUp.MAX_STEPS + " decode steps, then 512"),
                err.toString());
        assertTrue(text.contains("Synthetic weights measure speed and memory, not text quality"), text);
        for (String s : new String[] {"full ", "streaming", "h2o", "snapkv", "quest (forked)", "duo"}) {
            assertTrue(text.contains("\n" + s), "row for " + s + ":\n" + text);
        }
        String fullRow = text.lines().filter(l -> l.startsWith("full ")).findFirst().orElseThrow();
        assertTrue(fullRow.contains("0.00e+00") && fullRow.contains(" 1.0000 ") && fullRow.endsWith("100%"), fullRow);
    }

    @Test
    void fidelityMeasures() {
        assertEquals(0.0, DemoCommand.relativeL2(new float[] {1, 2}, new float[] {1, 2}));
        assertEquals(0.5, DemoCommand.agreement(new int[] {1, 2, 3, 4}, new int[] {1, 0, 3, 0}));
        assertEquals(2, DemoCommand.argmax(new float[] {0, 1, 5, 2}));
    }
}
