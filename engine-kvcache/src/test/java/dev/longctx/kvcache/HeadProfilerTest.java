package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.longctx.attention.DenseKvView;
import dev.longctx.attention.KvView;
import dev.longctx.core.tensor.DType;
import org.junit.jupiter.api.Test;

class HeadProfilerTest {

    /**
     * A stand-in model with one layer and three KV heads: head 0 attends the earlier occurrence of
     * the token it is fed and the token after it (an induction / retrieval head), so its top-1 key
     * is the needle token to be generated; head 1 attends the first token (a sink); head 2 attends
     * the most recent token.
     */
    static final class FakeModel implements HeadProfiler.Model {
        int[] tokens;
        int length;

        @Override
        public int layers() {
            return 1;
        }

        @Override
        public int kvHeads() {
            return 3;
        }

        @Override
        public int groupSize() {
            return 1;
        }

        @Override
        public int vocabularySize() {
            return 50_000;
        }

        @Override
        public void prefill(int[] prompt) {
            tokens = java.util.Arrays.copyOf(prompt, prompt.length + 64);
            length = prompt.length;
        }

        @Override
        public void step(int token, HeadProfiler.ObserverFactory observers) {
            tokens[length++] = token;
            KvView view = DenseKvView.of(new float[length * 8], new float[length * 8], 8, DType.F32, 16);
            KvView[] views = {view, view, view};
            var obs = observers.observer(0, views);
            int copy = 0;
            for (int p = length - 2; p >= 0; p--) {
                if (tokens[p] == token) {
                    copy = p + 1;
                    break;
                }
            }
            int[] targets = {copy, 0, length - 1};
            for (int h = 0; h < 3; h++) {
                for (int page = 0; page < view.pageCount(); page++) {
                    float[] probs = new float[16];
                    for (int s = 0; s < view.pageLength(page); s++) {
                        probs[s] = page * 16 + s == targets[h] ? 0.9f : 0.1f / length;
                    }
                    obs.observe(0, h, h, page, probs, view.pageLength(page));
                }
            }
        }

        @Override
        public void reset() {
            tokens = null;
        }
    }

    @Test
    void theCopyingHeadIsTheRetrievalHead() {
        var settings = new HeadProfiler.Settings(300, 8, new double[] {0, 0.5, 1}, 42);
        float[][] scores = HeadProfiler.score(new FakeModel(), settings);
        assertEquals(1.0f, scores[0][0], 1e-5f);
        assertEquals(0.0f, scores[0][1], 1e-5f);
        assertEquals(0.0f, scores[0][2], 1e-5f);
        HeadProfile profile = HeadProfiler.profile(new FakeModel(), settings, 1.0 / 3);
        assertEquals(HeadProfile.Role.RETRIEVAL, profile.role(0, 0));
        assertEquals(HeadProfile.Role.STREAMING, profile.role(0, 1));
        assertEquals(HeadProfile.Role.STREAMING, profile.role(0, 2));
    }

    @Test
    void badSettingsAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> new HeadProfiler.Settings(10, 1, new double[] {0.5}, 1));
        assertThrows(IllegalArgumentException.class, () -> new HeadProfiler.Settings(10, 4, new double[] {1.5}, 1));
        assertThrows(IllegalArgumentException.class, () -> new HeadProfiler.Settings(4, 4, new double[] {0.5}, 1));
    }
}
