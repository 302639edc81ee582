package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.longctx.attention.KvView;
import dev.longctx.core.tensor.DType;
import java.util.List;
import org.junit.jupiter.api.Test;

class SnapKvPolicyTest {

    /** Appends 10 tokens and gives them the window's (summed) votes directly. */
    private static SequenceKvCache prefilled(BlockPool pool, float[] votes) {
        SequenceKvCache c = SequenceKvCache.create(pool);
        for (int t = 0; t < votes.length; t++) {
            c.append(0, new float[32], new float[32], t);
        }
        KvView v = c.view(0, 0);
        for (int p = 0; p < v.pageCount(); p++) {
            float[] probs = new float[4];
            for (int s = 0; s < v.pageLength(p); s++) {
                probs[s] = votes[(int) v.position(p, s)];
            }
            c.addScores(0, 0, p, probs, v.pageLength(p));
        }
        return c;
    }

    @Test
    void keepsTheTopPrefixKeysByPooledScorePlusTheWindow() {
        KvLayout layout = new KvLayout(1, 1, 32, 4, DType.F32);
        //               0    1    2    3    4    5    6    7    8(win) 9(win)
        float[] votes = {0.9f, 0.0f, 0.1f, 0.0f, 0.0f, 0.6f, 0.0f, 0.2f, 0.1f, 0.1f};
        try (BlockPool pool = new BlockPool(layout, 1 << 20)) {
            // No pooling: the top 3 of the prefix 0..7 are 0 (0.9), 5 (0.6), 7 (0.2).
            try (SequenceKvCache c = prefilled(pool, votes)) {
                new SnapKvPolicy(5, 2, 1, true).afterPrefill(c, 0);
                assertEquals(List.of(0L, 5L, 7L, 8L, 9L), EvictionPolicyTest.keptPositions(c.view(0, 0)));
            }
            // Max pooling, kernel 3 over the prefix: pooled = [0.9, 0.9, 0.1, 0.1, 0.6, 0.6, 0.6, 0.2];
            // top 3 (ties to the earlier): 0, 1, 4.
            try (SequenceKvCache c = prefilled(pool, votes)) {
                new SnapKvPolicy(5, 2, 3, true).afterPrefill(c, 0);
                assertEquals(List.of(0L, 1L, 4L, 8L, 9L), EvictionPolicyTest.keptPositions(c.view(0, 0)));
            }
            // Average pooling, kernel 3 (zero padding counted): pooled = [0.3, 0.333, 0.033, 0.033, 0.2, 0.2, 0.267, 0.067];
            // top 3: 1, 0, 6.
            try (SequenceKvCache c = prefilled(pool, votes)) {
                new SnapKvPolicy(5, 2, 3, false).afterPrefill(c, 0);
                assertEquals(List.of(0L, 1L, 6L, 8L, 9L), EvictionPolicyTest.keptPositions(c.view(0, 0)));
                // Decode then appends normally.
                c.append(0, new float[32], new float[32], 10);
                assertEquals(6, c.validLength(0, 0));
            }
            // A capacity covering everything keeps everything.
            try (SequenceKvCache c = prefilled(pool, votes)) {
                new SnapKvPolicy(10, 2, 5, true).afterPrefill(c, 0);
                assertEquals(10, c.validLength(0, 0));
            }
            assertEquals(0, pool.stats().pagesInUse());
        }
    }

    @Test
    void theObserverCountsOnlyTheLastWindowRows() {
        KvLayout layout = new KvLayout(1, 1, 32, 4, DType.F32);
        try (BlockPool pool = new BlockPool(layout, 1 << 20); SequenceKvCache c = SequenceKvCache.create(pool)) {
            for (int t = 0; t < 4; t++) {
                c.append(0, new float[32], new float[32], t);
            }
            var obs = new SnapKvPolicy(4, 2, 1, true).prefillObserver(c, 0, 4);
            float[] ones = {1, 1, 1, 1};
            for (int row = 0; row < 4; row++) {
                obs.observe(row, 0, 0, 0, ones, 4);
            }
            assertEquals(2f, c.score(0, 0, 0, 0)); // rows 2 and 3 only
        }
    }

    @Test
    void badParametersAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new SnapKvPolicy(4, 8, 5, true));
        assertThrows(IllegalArgumentException.class, () -> new SnapKvPolicy(64, 32, 4, true));
        assertThrows(IllegalArgumentException.class, () -> new SnapKvPolicy(64, 0, 5, true));
    }
}
