package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.longctx.attention.DenseKvView;
import dev.longctx.attention.KvView;
import dev.longctx.core.tensor.DType;
import org.junit.jupiter.api.Test;

class RetrievalHeadScorerTest {

    @Test
    void headsThatCopyTheNeedleScoreOthersDoNot() {
        // 2 layers x 2 KV heads, g = 2; 20 cached tokens in pages of 4; the needle is positions 10..13
        // holding tokens 5, 6, 7, 8, and the model generates 5, 6, 7, 8.
        int n = 20;
        KvView view = DenseKvView.of(new float[n * 8], new float[n * 8], 8, DType.F32, 4);
        KvView[] views = {view, view};
        int[] tokens = new int[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = 100 + i;
        }
        tokens[10] = 5;
        tokens[11] = 6;
        tokens[12] = 7;
        tokens[13] = 8;
        RetrievalHeadScorer scorer = new RetrievalHeadScorer(2, 2, 2);
        scorer.startNeedle(10, 14, p -> tokens[(int) p]);
        for (int step = 0; step < 4; step++) {
            scorer.beginStep(5 + step);
            for (int layer = 0; layer < 2; layer++) {
                var obs = scorer.observer(layer, views);
                for (int qh = 0; qh < 4; qh++) {
                    long target;
                    if (layer == 0 && qh / 2 == 0) {
                        target = 10 + step; // copies the token being generated
                    } else if (layer == 0 && qh / 2 == 1) {
                        target = qh == 2 || step % 2 == 0 ? 10 + step : 3; // one head always, one half the time
                    } else if (layer == 1 && qh / 2 == 0) {
                        target = 13 - step; // inside the needle, but never the token being generated
                    } else {
                        target = 0; // a sink
                    }
                    for (int page = 0; page < view.pageCount(); page++) {
                        float[] probs = new float[4];
                        for (int s = 0; s < 4; s++) {
                            probs[s] = page * 4 + s == target ? 0.6f : 0.4f / (n - 1);
                        }
                        obs.observe(0, qh, qh / 2, page, probs, 4);
                    }
                }
            }
            scorer.endStep();
        }
        float[][] s = scorer.scores();
        assertEquals(1.0f, s[0][0], 1e-6f);
        assertEquals(0.75f, s[0][1], 1e-6f); // (4 + 2) / 4 / 2
        assertEquals(0.0f, s[1][0], 1e-6f); // 13 - step never holds the generated token (5..8 at 10..13)
        assertEquals(0.0f, s[1][1], 1e-6f);
        HeadProfile profile = HeadProfile.byThreshold(s, 0.5f);
        assertEquals(HeadProfile.Role.RETRIEVAL, profile.role(0, 0));
        assertEquals(HeadProfile.Role.RETRIEVAL, profile.role(0, 1));
        assertEquals(HeadProfile.Role.STREAMING, profile.role(1, 0));
    }

    @Test
    void misuseIsReported() {
        RetrievalHeadScorer scorer = new RetrievalHeadScorer(1, 1, 1);
        assertThrows(IllegalStateException.class, () -> scorer.beginStep(3));
        assertThrows(IllegalArgumentException.class, () -> scorer.startNeedle(5, 5, p -> 0));
        assertThrows(IllegalArgumentException.class, () -> new RetrievalHeadScorer(0, 1, 1));
    }
}
