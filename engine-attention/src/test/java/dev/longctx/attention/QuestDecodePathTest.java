package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Quest's decode path (page scan cut across the pool, exact pass through split-K) against the
 * generic path (a task per KV head), which the same problem takes when an observer is attached.
 */
class QuestDecodePathTest {
    private static final AttentionObserver IGNORE = (row, head, kvHead, page, probs, count) -> {
    };

    @Test
    void decodePathRunsAndMatchesTheGenericPathAndIsThreadIndependent() {
        SplittableRandom r = new SplittableRandom(21);
        // Pages past QuestAttention.SCAN_CHUNK so that a head's scan is cut into several tasks;
        // heads of unequal length so that chunks do not line up with heads.
        int page = 16;
        for (int g : new int[] {1, 3, 4}) {
            for (DType t : new DType[] {DType.F32, DType.F16}) {
                int d = 64;
                int kvHeads = 3;
                KvView[] kv = new KvView[kvHeads];
                for (int h = 0; h < kvHeads; h++) {
                    int lk = QuestAttention.SCAN_CHUNK * page + 1000 * h + 37;
                    kv[h] = Problems.views(r, 1, lk, d, t, page, 4)[0];
                }
                float[] q = Problems.gaussian(r, kvHeads * g * d, 1);
                // One query row at the same position for every head's view: the longest view's end.
                long pos = AttentionProblem.lastPositions(kv[kvHeads - 1], 1)[0];
                AttentionProblem p = new AttentionProblem(q, 0, 1, kvHeads * g, kv, new long[] {pos},
                        (float) (1 / Math.sqrt(d)), 0f, AttentionMask.CAUSAL);
                float[][] outs = new float[2][];
                int i = 0;
                for (TensorOps ops : new TensorOps[] {Problems.panamaOneThread(), Problems.panamaTwoThreads()}) {
                    QuestAttention quest = new QuestAttention(ops, SelectedAttentionBudget.of(1024));
                    float[] fast = new float[p.outputLength()];
                    float[] fastLse = new float[kvHeads * g];
                    assertTrue(quest.attendDecode(p, fast, fastLse), "the decode path handles one row without observer");
                    float[] generic = new float[p.outputLength()];
                    float[] genericLse = new float[kvHeads * g];
                    quest.attend(p, generic, genericLse, IGNORE);
                    double err = Problems.relativeError(fast, generic, generic.length);
                    assertTrue(err <= 1e-5, "g=" + g + " " + t + ": decode path vs generic path, relative error " + err);
                    for (int j = 0; j < fastLse.length; j++) {
                        assertEquals(genericLse[j], fastLse[j], 1e-4f * Math.max(1f, Math.abs(genericLse[j])));
                    }
                    float[] viaAttend = new float[p.outputLength()];
                    quest.attend(p, viaAttend, null, null);
                    // Not bit-equal: between two calls C2 may compile a kernel whose float reduction
                    // order differs from the interpreted one (the Vector API leaves it unspecified).
                    assertTrue(Problems.relativeError(viaAttend, fast, fast.length) <= 1e-6, "attend without observer agrees with the decode path");
                    outs[i++] = fast;
                }
                assertTrue(Problems.relativeError(outs[1], outs[0], outs[0].length) <= 1e-6, "1 and 2 threads agree");
            }
        }
    }
}
