package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * MoA's elastic window masks ({@link AttentionMask#elasticWindow}): the tile tests agree with
 * {@link AttentionMask#allows} by brute force (never wrong; exact past the sinks), the oldest visible key never moves back, and the
 * tiled, split-K and per-head kernels equal the naive kernel under them at awkward sizes.
 */
class ElasticWindowMaskTest {

    @Test
    void tileTestsAgreeWithThePerKeyRule() {
        AttentionMask[] masks = {AttentionMask.elasticWindow(5, 0.3, 2), AttentionMask.elasticWindow(1, 1, 0),
                AttentionMask.elasticWindow(7, 0, 3), AttentionMask.elasticWindow(3, 1.0 / 16, 4)};
        for (AttentionMask m : masks) {
            for (long qLo = 0; qLo < 60; qLo += 3) {
                for (long qHi = qLo; qHi < qLo + 9; qHi += 4) {
                    for (long kLo = 0; kLo < 60; kLo += 5) {
                        for (long kHi = kLo; kHi < kLo + 11; kHi += 5) {
                            boolean any = false;
                            boolean all = true;
                            for (long q = qLo; q <= qHi; q++) {
                                for (long k = kLo; k <= kHi; k++) {
                                    any |= m.allows(q, k);
                                    all &= m.allows(q, k);
                                }
                            }
                            String at = m + " q[" + qLo + "," + qHi + "] k[" + kLo + "," + kHi + "]";
                            // the tile tests may be conservative (as the fixed window's are), never wrong
                            assertTrue(!any || m.mayAttend(qLo, qHi, kLo, kHi), "mayAttend " + at);
                            assertTrue(all || !m.attendsAll(qLo, qHi, kLo, kHi), "attendsAll " + at);
                            if (kLo >= m.sinks()) { // past the sinks the window's tests are exact
                                assertEquals(any, m.mayAttend(qLo, qHi, kLo, kHi), "mayAttend " + at);
                                assertEquals(all, m.attendsAll(qLo, qHi, kLo, kHi), "attendsAll " + at);
                            }
                        }
                    }
                }
            }
            long oldest = Long.MIN_VALUE;
            for (long q = 0; q < 500; q++) {
                long first = q - m.windowAt(q) + 1;
                assertTrue(first >= oldest, m + ": the oldest visible key moved back at " + q);
                oldest = first;
            }
        }
        assertEquals(5 + 3, AttentionMask.elasticWindow(5, 0.3, 2).windowAt(9), "5 + floor(0.3 * 10)");
        assertThrows(IllegalArgumentException.class, () -> AttentionMask.elasticWindow(0, 0.5, 0));
        assertThrows(IllegalArgumentException.class, () -> AttentionMask.elasticWindow(4, 1.5, 0));
        assertThrows(IllegalArgumentException.class, () -> new AttentionMask(true, 0, 0, 0.5));
    }

    /** Per-head elastic windows through the fast kernels equal the naive (dense, masked) kernel. */
    @Test
    void kernelsEqualNaiveUnderPerHeadElasticWindows() {
        SplittableRandom r = new SplittableRandom(21);
        int[][] shapes = {{1, 4, 2, 40, 333, 16}, {37, 4, 2, 24, 301, 32}, {1, 6, 3, 64, 1000, 64}, {130, 2, 2, 32, 130, 16}};
        AttentionMask[] perHead = {AttentionMask.elasticWindow(17, 0.25, 4), AttentionMask.elasticWindow(3, 0, 1),
                AttentionMask.elasticWindow(40, 1.0 / 32, 0)};
        for (int[] sh : shapes) {
            int rows = sh[0], hq = sh[1], hkv = sh[2], d = sh[3], lk = sh[4], ps = sh[5];
            KvView[] views = Problems.views(r, hkv, lk, d, DType.F32, ps, 4);
            AttentionProblem p = AttentionProblem.causal(Problems.gaussian(r, rows * hq * d, 1), rows, hq, views);
            for (TensorOps ops : new TensorOps[] {Problems.panamaOneThread(), Problems.panamaTwoThreads()}) {
                AttentionKernel fast = rows == 1 ? new SplitKDecodeAttention(ops) : new TiledAttention(ops);
                PerHeadAttention kernel = new PerHeadAttention(h -> fast, h -> perHead[h]);
                PerHeadAttention naive = new PerHeadAttention(h -> new NaiveAttention(), h -> perHead[h]);
                float[] a = new float[p.outputLength()];
                float[] b = new float[p.outputLength()];
                kernel.attend(p, a, null, null);
                naive.attend(p, b, null, null);
                double err = Problems.relativeError(a, b, a.length);
                assertTrue(err < 2e-5, fast.name() + " " + p + ": " + err);
                for (int h = 0; h < hkv; h++) { // one head alone through the fast kernel, its mask on the problem
                    AttentionProblem one = new AttentionProblem(p.queries(), 0, rows, hq, views, p.queryPositions(), p.scale(), 0f,
                            perHead[h]);
                    Problems.assertMatchesNaive(fast, one, 2e-5, "elastic mask of head " + h);
                }
            }
        }
    }
}
