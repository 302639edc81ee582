package dev.longctx.bench.ruler;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.longctx.attention.DenseKvView;
import dev.longctx.attention.KvView;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.HeadProfiler;
import dev.longctx.models.session.SinkHeads;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * {@link SinkHeadProfiler} on a scripted model: per answer step, layer 0's head 0 puts 0.8 on
 * position 3 (a non-initial sink) and head 1 0.33 and 0.4 on positions 4 and 5, the rest below the
 * threshold; layer 1's head 0 puts 0.9 on position 0 (the initial token, which does not count) and
 * head 1 0.3 on position 2 in one step of two.
 */
class SinkHeadProfilerTest {
    private static final int KEYS = 6;

    /** One KV head of group 2, two layers; every step reports the scripted probabilities over 6 keys. */
    private static final class Scripted implements HeadProfiler.Model {
        private final KvView[] views = {DenseKvView.of(new float[KEYS * 8], new float[KEYS * 8], 8, DType.F32, 4)};
        private int step;

        @Override
        public int layers() {
            return 2;
        }

        @Override
        public int kvHeads() {
            return 1;
        }

        @Override
        public int groupSize() {
            return 2;
        }

        @Override
        public int vocabularySize() {
            return 10;
        }

        @Override
        public void prefill(int[] prompt) {
        }

        @Override
        public void step(int token, HeadProfiler.ObserverFactory observers) {
            float[][][] p = {
                {{0.04f, 0.04f, 0.04f, 0.8f, 0.04f, 0.04f}, {0f, 0.09f, 0.09f, 0.09f, 0.33f, 0.4f}},
                {{0.9f, 0.02f, 0.02f, 0.02f, 0.02f, 0.02f}, step % 2 == 0 ? new float[] {0.5f, 0.04f, 0.3f, 0.04f, 0.08f, 0.04f}
                        : new float[] {0.55f, 0.09f, 0.09f, 0.09f, 0.09f, 0.09f}}};
            for (int l = 0; l < 2; l++) {
                var o = observers.observer(l, views);
                for (int h = 0; h < 2; h++) {
                    o.observe(0, h, 0, 0, java.util.Arrays.copyOfRange(p[l][h], 0, 4), 4);
                    o.observe(0, h, 0, 1, java.util.Arrays.copyOfRange(p[l][h], 4, 6), 2);
                }
            }
            step++;
        }

        @Override
        public void reset() {
        }
    }

    @Test
    void scoresNonInitialSinkMassPerAnswerStepAndKeepsCollapsedHeads() {
        // prompt of 3 tokens, answer of 2 tokens, end of text: 2 answer steps
        TaskInstance inst = new TaskInstance("niah_single", 0.5, new int[] {1, 2, 3, 4, 5, 9}, 3, "", "", new int[] {0},
                new int[] {1}, 2);
        double[][] s = SinkHeadProfiler.score(new Scripted(), List.of(inst), 0.1);
        assertEquals(0.8, s[0][0], 1e-6);
        assertEquals(0.73, s[0][1], 1e-6, "0.33 and 0.4 above 0.1 at positions 4 and 5");
        assertEquals(0.0, s[1][0], 1e-6, "position 0 is not a sink here");
        assertEquals(0.15, s[1][1], 1e-6, "0.3 in one step of two");
        assertEquals(SinkHeads.of(new int[] {0, 0}, new int[] {0, 1}), SinkHeadProfiler.collapsed(s));
    }
}
