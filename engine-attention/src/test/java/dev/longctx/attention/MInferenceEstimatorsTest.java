package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.List;
import java.util.SplittableRandom;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;

class MInferenceEstimatorsTest {

    private static final TensorOps OPS = Problems.panamaTwoThreads();

    /** One KV head of {@code lk} F32 keys in pages of {@code ps}, and {@code lq} query rows of g heads. */
    private static AttentionProblem problem(float[] keys, float[] queries, int lq, int g, int d, int ps) {
        int lk = keys.length / d;
        KvView view = DenseKvView.of(keys, new float[lk * d], d, DType.F32, ps);
        return AttentionProblem.causal(queries, lq, g, view);
    }

    private static int[] pages(int... p) {
        return p;
    }

    @Test
    void aShapeKeepsSinkAndLocalPagesOnAHandWorkedCase() {
        // 40 keys in 10 pages of 4; g = 8 so Bq = 8 tokens = 2 pages per query block.
        int d = 8;
        float[] k = new float[40 * d];
        AttentionProblem full = problem(k, new float[40 * 8 * d], 40, 8, d, 4);
        BlockMask m = MInferenceEstimators.aShape(1, 2).estimate(full, OPS);
        assertEquals(5, m.queryBlocks());
        assertArrayEquals(pages(0, 1), m.keptPages(0, 0)); // positions 0..7: pages 0,1 (sink is local)
        assertArrayEquals(pages(0, 2, 3), m.keptPages(0, 1));
        assertArrayEquals(pages(0, 4, 5), m.keptPages(0, 2));
        assertArrayEquals(pages(0, 6, 7), m.keptPages(0, 3));
        assertArrayEquals(pages(0, 8, 9), m.keptPages(0, 4));
        // Bottom-right aligned: 16 queries at positions 24..39.
        AttentionProblem tail = problem(k, new float[16 * 8 * d], 16, 8, d, 4);
        BlockMask t = MInferenceEstimators.aShape(2, 3).estimate(tail, OPS);
        assertArrayEquals(pages(0, 1, 5, 6, 7), t.keptPages(0, 0));
        assertArrayEquals(pages(0, 1, 7, 8, 9), t.keptPages(0, 1));
        // Defaults: 128 sink tokens and 3968 local tokens, in pages of 4: everything here.
        BlockMask all = MInferenceEstimators.aShape().estimate(full, OPS);
        for (int b = 0; b < 5; b++) {
            assertEquals(2 * b + 2, all.keptPages(0, b).length, "block " + b);
        }
    }

    @Test
    void verticalSlashRecoversAPlantedColumn() {
        SplittableRandom r = new SplittableRandom(21);
        int d = 32;
        int n = 1024;
        int planted = 500;
        float[] k = Problems.gaussian(r, n * d, 1);
        float[] q = Problems.gaussian(r, n * d, 0.3);
        for (int i = 0; i < n; i++) {
            q[i * d] += 4f; // every query leans along axis 0 ...
        }
        k[planted * d] = 8f; // ... and so does one key: a strong column for every later query
        AttentionProblem p = problem(k, q, n, 1, d, 16);
        BlockMask m = MInferenceEstimators.verticalSlash(1, 1, 0, 0).estimate(p, OPS);
        int page = planted / 16;
        for (int b = 0; b < m.queryBlocks(); b++) { // Bq = 64
            boolean sees = (b + 1) * 64 - 1 >= planted;
            assertEquals(sees, m.isKept(0, b, page), "block " + b);
        }
        // With the defaults the column is among the verticals and each block keeps its own diagonal page.
        BlockMask def = MInferenceEstimators.verticalSlash().estimate(p, OPS);
        for (int b = 0; b < def.queryBlocks(); b++) {
            assertEquals((b + 1) * 64 - 1 >= planted, def.isKept(0, b, page), "default, block " + b);
            for (int pg = b * 4; pg < b * 4 + 4; pg++) {
                assertTrue(def.isKept(0, b, pg), "default, block " + b + " diagonal page " + pg);
            }
            assertTrue(def.isKept(0, b, 0) && def.isKept(0, b, 1), "default, block " + b + " sink keys 0..29");
        }
    }

    @Test
    void verticalSlashRecoversAPlantedDiagonalExactly() {
        SplittableRandom r = new SplittableRandom(22);
        int d = 32;
        int n = 1024;
        int delta = 300;
        float[] k = Problems.gaussian(r, n * d, 1);
        float[] q = Problems.gaussian(r, n * d, 1);
        for (int i = delta; i < n; i++) {
            for (int c = 0; c < d; c++) {
                q[i * d + c] = 1.5f * k[(i - delta) * d + c]; // query i attends key i - delta
            }
        }
        AttentionProblem p = problem(k, q, n, 1, d, 16);
        BlockMask m = MInferenceEstimators.verticalSlash(0, 1, 0, 0).estimate(p, OPS);
        for (int b = 0; b < m.queryBlocks(); b++) {
            TreeSet<Integer> expected = new TreeSet<>();
            long lo = b * 64L - delta;
            long hi = b * 64L + 63 - delta;
            for (long kp = Math.max(0, lo); kp <= hi; kp++) {
                expected.add((int) (kp / 16));
            }
            int[] want = expected.stream().mapToInt(Integer::intValue).toArray();
            assertArrayEquals(want, m.keptPages(0, b), "block " + b);
        }
    }

    @Test
    void topKBlocksKeepsThePlantedBlockTheDiagonalAndTheSink() {
        SplittableRandom r = new SplittableRandom(23);
        int d = 16;
        int n = 512;
        int g = 2; // Bq = 32 tokens = one page of 32
        float[] k = Problems.gaussian(r, n * d, 0.3);
        float[] q = Problems.gaussian(r, n * g * d, 0.3);
        for (int i = 160; i < 192; i++) {
            k[i * d] += 4f; // page 5
        }
        for (int i = 0; i < n * g; i++) {
            q[i * d] += 1f;
        }
        AttentionProblem p = problem(k, q, n, g, d, 32);
        BlockMask m = MInferenceEstimators.topKBlocks(3).estimate(p, OPS);
        assertEquals(16, m.queryBlocks());
        for (int b = 6; b < 16; b++) {
            assertArrayEquals(pages(0, 5, b), m.keptPages(0, b), "block " + b);
        }
        for (int b = 0; b < 3; b++) {
            int[] want = new int[b + 1];
            for (int i = 0; i <= b; i++) {
                want[i] = i;
            }
            assertArrayEquals(want, m.keptPages(0, b), "block " + b + " keeps all it may attend");
        }
        // A fraction budget keeps at least the forced pages and about fraction x attendable.
        BlockMask f = MInferenceEstimators.topKBlockFraction(0.25).estimate(p, OPS);
        assertEquals(4, f.keptPages(0, 15).length); // ceil(0.25 x 16 attendable pages)
        assertTrue(f.isKept(0, 15, 0) && f.isKept(0, 15, 5) && f.isKept(0, 15, 15));
    }

    @Test
    void estimatorsRespectCausalityAndAreIndependentOfThreads() {
        SplittableRandom r = new SplittableRandom(24);
        KvView[] kv = Problems.views(r, 3, 900, 32, DType.F16, 16, 4);
        float[] q = Problems.gaussian(r, 200 * 12 * 32, 1);
        AttentionProblem p = AttentionProblem.causal(q, 200, 12, kv);
        List<BlockMaskEstimator> estimators = List.of(MInferenceEstimators.aShape(2, 4), MInferenceEstimators.verticalSlash(),
                MInferenceEstimators.topKBlocks(5));
        List<TensorOps> ops = Problems.allOps(); // scalar 1t, scalar 2t, panama 1t, panama 2t
        for (BlockMaskEstimator e : estimators) {
            BlockMask ref = e.estimate(p, ops.get(0));
            for (int i = 0; i < ops.size(); i++) {
                TensorOps o = ops.get(i);
                // Same provider, any thread count: the same mask (scores of two providers may round apart).
                BlockMask m = e.estimate(p, o);
                BlockMask same = e.estimate(p, ops.get(i ^ 1));
                for (int h = 0; h < 3; h++) {
                    for (int b = 0; b < m.queryBlocks(); b++) {
                        assertArrayEquals(same.keptPages(h, b), m.keptPages(h, b), e.name() + " " + o.kernels().name());
                    }
                }
            }
            for (int h = 0; h < 3; h++) {
                for (int b = 0; b < ref.queryBlocks(); b++) {
                    long qHi = p.queryPositions()[ref.queryBlockEnd(b) - 1];
                    for (int page : ref.keptPages(h, b)) {
                        assertTrue(kv[h].pageMinPosition(page) <= qHi, e.name() + " keeps a future page");
                    }
                    assertTrue(ref.keptPages(h, b).length > 0, e.name() + " left a query block with nothing");
                }
            }
        }
    }

    @Test
    void estimatorArgumentsAreChecked() {
        assertThrows(IllegalArgumentException.class, () -> MInferenceEstimators.aShape(-1, 2));
        assertThrows(IllegalArgumentException.class, () -> MInferenceEstimators.aShape(1, 0));
        assertThrows(IllegalArgumentException.class, () -> MInferenceEstimators.verticalSlash(-1, 10));
        assertThrows(IllegalArgumentException.class, () -> MInferenceEstimators.topKBlocks(0));
        assertThrows(IllegalArgumentException.class, () -> MInferenceEstimators.topKBlockFraction(0));
        assertThrows(IllegalArgumentException.class, () -> MInferenceEstimators.topKBlockFraction(1.5));
        assertEquals(250, MInferenceEstimators.scaledVertical(32768));
        assertEquals(1524, MInferenceEstimators.scaledSlash(32768));
        assertEquals(30, MInferenceEstimators.scaledVertical(100));
        assertEquals(50, MInferenceEstimators.scaledSlash(100));
    }

    @Test
    void topKHelperPicksTheLargestPositiveScoresWithLowIndexTies() {
        double[] s = {0.5, Double.NaN, 2, 0, 2, Double.POSITIVE_INFINITY, -1, 1};
        assertArrayEquals(new int[] {2, 5}, MInferenceEstimators.topK(s, 2));
        assertArrayEquals(new int[] {0, 2, 4, 5, 7}, MInferenceEstimators.topK(s, 10));
        assertArrayEquals(new int[] {0, 2, 3, 4, 5, 6, 7}, MInferenceEstimators.topKAll(s, 10));
        assertArrayEquals(new int[0], MInferenceEstimators.topK(s, 0));
    }
}
