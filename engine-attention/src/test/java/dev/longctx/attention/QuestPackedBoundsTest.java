package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.spi.ScalarKernels;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Halfs;
import dev.longctx.core.kernels.spi.Quantization;
import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Quest's packed (bfloat16, rounded outward) key bounds: still bounds, and what the scan ranks by. */
class QuestPackedBoundsTest {
    private static final ScalarKernels SCALAR = new ScalarKernels();

    @Test
    void packedBoundsStillBoundEveryKeyAndAreAtMostOneStepLooser() {
        SplittableRandom r = new SplittableRandom(51);
        int d = 64;
        int ps = 16;
        KvView view = Problems.views(r, 1, 40 * ps + 7, d, DType.F16, ps, 4)[0];
        PageKeyBounds b = view.keyBounds();
        assertTrue(b.isPacked(), "the dense view keeps packed bounds");
        float[] key = new float[d];
        for (int trial = 0; trial < 20; trial++) {
            float[] q = Problems.gaussian(r, d, 3);
            float[] qPlus = new float[d];
            float[] qMinus = new float[d];
            for (int i = 0; i < d; i++) {
                qPlus[i] = Math.max(q[i], 0f);
                qMinus[i] = Math.min(q[i], 0f);
            }
            int pages = view.pageCount();
            float[] packed = new float[pages];
            float[] exact = new float[pages];
            SCALAR.pairedDotsBf16(qPlus, 0, qMinus, 0, 1, d, b.packedMax(), b.packedMin(), 0, pages, packed, pages);
            SCALAR.pairedDots(qPlus, 0, qMinus, 0, 1, d, b.max(), b.min(), 0, pages, exact, pages);
            for (int p = 0; p < pages; p++) {
                double magnitude = 0;
                for (int i = 0; i < d; i++) {
                    magnitude += Math.abs(q[i]) * Math.max(Math.abs(b.min()[p * d + i]), Math.abs(b.max()[p * d + i]));
                }
                double tol = 1e-5 * magnitude;
                for (int s = 0; s < view.pageLength(p); s++) {
                    Quantization.dequantize(view.dtype(), view.keys(p), (long) s * view.rowBytes(), key, 0, d);
                    double dot = 0;
                    for (int i = 0; i < d; i++) {
                        dot += (double) q[i] * key[i];
                    }
                    assertTrue(packed[p] >= dot - tol, "page " + p + " slot " + s + ": bound " + packed[p] + " < q.k " + dot);
                }
                assertTrue(packed[p] >= exact[p] - tol, "page " + p + ": packed bound below the F32 one");
                assertTrue(packed[p] - exact[p] <= 0x1p-7 * magnitude + tol, "page " + p + ": more than one bf16 step looser");
            }
        }
    }

    @Test
    void theDecodeScanRanksByThePackedBoundsWhenTheViewKeepsThem() {
        SplittableRandom r = new SplittableRandom(52);
        int d = 16;
        int ps = 16;
        int pages = 64;
        KvView base = Problems.views(r, 1, pages * ps, d, DType.F32, ps, 4)[0];
        float[] q = Problems.gaussian(r, d, 1);
        AttentionProblem p = AttentionProblem.causal(q, 1, 1, base);
        // The candidate with the lowest F32 bound: ranked by the floats it is never chosen.
        float[] qPlus = new float[d];
        float[] qMinus = new float[d];
        for (int i = 0; i < d; i++) {
            qPlus[i] = Math.max(q[i] * p.scale(), 0f);
            qMinus[i] = Math.min(q[i] * p.scale(), 0f);
        }
        float[] bound = new float[pages];
        PageKeyBounds real = base.keyBounds();
        SCALAR.pairedDots(qPlus, 0, qMinus, 0, 1, d, real.max(), real.min(), 0, pages, bound, pages);
        int worst = 1;
        for (int pg = 1; pg < pages - 4; pg++) {
            worst = bound[pg] < bound[worst] ? pg : worst;
        }
        // Packed bounds that make it the best page by far, next to the real float bounds.
        short[] packedMin = real.packedMin().clone();
        short[] packedMax = real.packedMax().clone();
        Arrays.fill(packedMin, worst * d, (worst + 1) * d, Halfs.floatToBf16Down(-1e30f));
        Arrays.fill(packedMax, worst * d, (worst + 1) * d, Halfs.floatToBf16Up(1e30f));
        BlockSparseTesting.CountingView view = new BlockSparseTesting.CountingView(base,
                new PageKeyBounds(real.min(), real.max(), packedMin, packedMax));
        AttentionProblem crafted = AttentionProblem.causal(q, 1, 1, view);
        // 6 pages: the sink page, the window's and the last page, and the best candidates.
        QuestAttention quest = new QuestAttention(Problems.panamaOneThread(), new SelectedAttentionBudget(6 * ps, 4, ps));
        quest.attend(crafted, new float[crafted.outputLength()], null, null);
        assertTrue(view.keyReads.get(worst) > 0, "page " + worst + ", first by its packed bound, was not attended");
        int attended = 0;
        for (int pg = 0; pg < pages; pg++) {
            attended += view.keyReads.get(pg) > 0 ? 1 : 0;
        }
        assertEquals(6, attended, "pages attended");
    }
}
