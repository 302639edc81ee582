package dev.longctx.bench.ruler;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import dev.longctx.models.session.Strategy;
import org.junit.jupiter.api.Test;

/** The harness's per-instance strategy adjustments. */
class RulerRunnerTest {
    private static final TaskInstance INST = new TaskInstance("niah_single", 0.5, new int[40], 36, "", "", new int[] {3},
            new int[] {9}, 30);

    @Test
    void squeezedClustersTheDocumentUpToTheQuestion() {
        Strategy s = RulerRunner.documentAsFixedContext(new Strategy.Squeezed(0, 64, 0, 16, 0), INST);
        Strategy.Squeezed sq = (Strategy.Squeezed) s;
        assertEquals(30, sq.fixedTokens());
        assertEquals(30, sq.fixedFor(INST.promptLength()), "the question's rows are after the fixed context");
        assertEquals(64, sq.selected());
        assertEquals(16, sq.keysPerCluster());
    }

    @Test
    void aNamedFixedLengthAndOtherStrategiesStayAsTheyAre() {
        Strategy named = new Strategy.Squeezed(0, 64, 12, 0, 0);
        assertSame(named, RulerRunner.documentAsFixedContext(named, INST));
        Strategy full = new Strategy.Full();
        assertSame(full, RulerRunner.documentAsFixedContext(full, INST));
    }
}
