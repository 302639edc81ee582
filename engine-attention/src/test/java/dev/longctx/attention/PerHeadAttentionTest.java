package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PerHeadAttentionTest {

    @Test
    void streamingHeadsNextToQuestHeadsEqualEachKernelRunAlone() {
        SplittableRandom r = new SplittableRandom(1);
        KvView[] kv = Problems.views(r, 3, 700, 32, DType.F16, 16, 4);
        float[] q = Problems.gaussian(r, 2 * 6 * 32, 1);
        AttentionProblem p = AttentionProblem.causal(q, 2, 6, kv);
        TensorOps ops = Problems.panamaTwoThreads();
        AttentionMask window = AttentionMask.slidingWindow(64, 4);
        // Heads 0 and 2 stream (window + sinks), head 1 is a retrieval head under Quest.
        PerHeadAttention k = new PerHeadAttention(
                h -> h == 1 ? new QuestAttention(ops, 128) : new TiledAttention(ops),
                h -> h == 1 ? AttentionMask.CAUSAL : window);
        float[] out = new float[p.outputLength()];
        float[] lse = new float[2 * 6];
        double[] sums = new double[2 * 6];
        k.attend(p, out, lse, (row, head, kvHead, page, probs, count) -> {
            assertEquals(head / 2, kvHead);
            synchronized (sums) {
                for (int i = 0; i < count; i++) {
                    sums[row * 6 + head] += probs[i];
                }
            }
        });
        for (double s : sums) {
            assertEquals(1.0, s, 1e-5);
        }
        float[] tiledOut = new float[p.outputLength()];
        new TiledAttention(ops).attend(new AttentionProblem(q, 0, 2, 6, kv, p.queryPositions(), p.scale(), 0f, window),
                tiledOut, null, null);
        float[] questOut = new float[p.outputLength()];
        new QuestAttention(ops, 128).attend(p, questOut, null, null);
        for (int i = 0; i < 2; i++) {
            for (int h = 0; h < 6; h++) {
                float[] expected = h / 2 == 1 ? questOut : tiledOut;
                int o = (i * 6 + h) * 32;
                float[] a = java.util.Arrays.copyOfRange(out, o, o + 32);
                float[] b = java.util.Arrays.copyOfRange(expected, o, o + 32);
                assertTrue(Problems.relativeError(a, b, 32) <= 1e-6, "row " + i + " head " + h);
            }
        }
    }
}
