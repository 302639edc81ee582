package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** A kernel under a fixed mask equals the naive reference given that mask, and the per-head route. */
class MaskedAttentionTest {

    @Test
    void splitKUnderTheSinkAndWindowMaskEqualsNaiveAndThePerHeadRoute() {
        SplittableRandom r = new SplittableRandom(31);
        for (int g : new int[] {1, 3}) {
            for (int lk : new int[] {1, 700, 4099}) {
                int kvHeads = 3;
                int d = 64;
                // Pages of 16: 4099 keys x 3 heads is over split-K's 64 work units, 700 x 3 is not.
                KvView[] kv = Problems.views(r, kvHeads, lk, d, DType.F16, 16, 4);
                float[] q = Problems.gaussian(r, kvHeads * g * d, 1);
                AttentionMask window = AttentionMask.slidingWindow(256, 4);
                AttentionProblem unmasked = AttentionProblem.causal(q, 1, kvHeads * g, kv);
                AttentionProblem masked = new AttentionProblem(q, 0, 1, kvHeads * g, kv, unmasked.queryPositions(),
                        unmasked.scale(), 0f, window);
                for (TensorOps ops : Problems.allOps()) {
                    MaskedAttention kernel = new MaskedAttention(new SplitKDecodeAttention(ops), window);
                    assertEquals("split-k+mask", kernel.name());
                    String what = "g=" + g + " lk=" + lk + " " + ops.kernels().name() + "/" + ops.pool().threads() + "t";
                    float[] out = new float[unmasked.outputLength()];
                    kernel.attend(unmasked, out, null, null);
                    float[] ref = new float[unmasked.outputLength()];
                    new NaiveAttention().attend(masked, ref, null, null);
                    double err = Problems.relativeError(out, ref, ref.length);
                    assertTrue(err <= 2e-5, what + ": against naive with the mask, relative error " + err);
                    float[] perHead = new float[unmasked.outputLength()];
                    new PerHeadAttention(h -> new TiledAttention(ops), h -> window).attend(unmasked, perHead, null, null);
                    double e2 = Problems.relativeError(out, perHead, perHead.length);
                    assertTrue(e2 <= 2e-5, what + ": against the per-head route, relative error " + e2);
                }
            }
        }
    }
}
