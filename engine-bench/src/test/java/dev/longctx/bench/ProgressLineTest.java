package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;

class ProgressLineTest {
    @Test
    void aLiveLineRewritesItselfAndEndsWithANewline() {
        StringWriter sw = new StringWriter();
        ProgressLine line = new ProgressLine(new PrintWriter(sw), true);
        line.update("%d/%d", 1, 3);
        line.update("%d/%d at %.1f s", 2, 3, 0.25);
        line.finish();
        line.overwrite();
        assertEquals("\r1/3\r2/3 at 0.3 s" + System.lineSeparator() + "\r", sw.toString());
    }

    @Test
    void aRedirectedLinePrintsNothing() {
        StringWriter sw = new StringWriter();
        ProgressLine line = new ProgressLine(new PrintWriter(sw), false);
        line.update("%d/%d", 1, 3);
        line.finish();
        line.overwrite();
        assertEquals("", sw.toString());
    }
}
