package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.DenseKvView;
import dev.longctx.attention.KvView;
import dev.longctx.attention.TiledAttention;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SequenceKvCacheTest {
    static final int D = 32;

    static float[] gaussian(SplittableRandom r, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) r.nextGaussian();
        }
        return a;
    }

    /** Keys of every appended token of (layer 0, head h), decoded from the view. */
    static float[] decodedKeys(KvView v) {
        float[] out = new float[v.length() * v.headDim()];
        int i = 0;
        for (int p = 0; p < v.pageCount(); p++) {
            for (int s = 0; s < v.pageLength(p); s++) {
                Quantization.dequantize(v.dtype(), v.keys(p), s * v.rowBytes(), out, i * v.headDim(), v.headDim());
                i++;
            }
        }
        return out;
    }

    /** Bounds read between appends (as Quest reads them every decode step) stay those of the stored keys. */
    @Test
    void keyBoundsStayExactWhenReadBetweenAppends() {
        SplittableRandom r = new SplittableRandom(3);
        for (DType t : new DType[] {DType.F32, DType.F16, DType.Q8_0}) {
            KvLayout layout = new KvLayout(1, 1, D, 16, t);
            try (BlockPool pool = new BlockPool(layout, 1 << 22); SequenceKvCache cache = SequenceKvCache.create(pool)) {
                int n = 40;
                float[] k = new float[n * D];
                float[] v = new float[n * D];
                long[] pos = new long[n];
                KvView view = cache.view(0, 0);
                for (int i = 0; i < n; i++) {
                    float[] kk = gaussian(r, D);
                    float[] vv = gaussian(r, D);
                    cache.append(0, kk, vv, i);
                    System.arraycopy(kk, 0, k, i * D, D);
                    System.arraycopy(vv, 0, v, i * D, D);
                    pos[i] = i;
                    KvView dense = DenseKvView.of(java.util.Arrays.copyOf(k, (i + 1) * D), java.util.Arrays.copyOf(v, (i + 1) * D),
                            java.util.Arrays.copyOf(pos, i + 1), D, t, 16);
                    int last = view.pageCount() - 1;
                    assertArrayEquals(dense.keyMin(last), view.keyMin(last), t + " after " + (i + 1) + " tokens");
                    assertArrayEquals(dense.keyMax(last), view.keyMax(last), t + " after " + (i + 1) + " tokens");
                    short[] densePacked = java.util.Arrays.copyOfRange(dense.keyBounds().packedMax(), last * D, (last + 1) * D);
                    short[] viewPacked = java.util.Arrays.copyOfRange(view.keyBounds().packedMax(), last * D, (last + 1) * D);
                    assertArrayEquals(densePacked, viewPacked, t + " packed, after " + (i + 1) + " tokens");
                }
            }
        }
    }

    @Test
    void appendedTokensReadBackAsTheyWereQuantisedAndAttentionMatchesADenseView() {
        SplittableRandom r = new SplittableRandom(1);
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16, DType.Q8_0}) {
            KvLayout layout = new KvLayout(2, 2, D, 16, t);
            try (BlockPool pool = new BlockPool(layout, 1 << 24); SequenceKvCache cache = SequenceKvCache.create(pool)) {
                int n = 100;
                float[][] k = new float[2][n * D];
                float[][] v = new float[2][n * D];
                for (int i = 0; i < n; i++) {
                    float[] kk = gaussian(r, 2 * D);
                    float[] vv = gaussian(r, 2 * D);
                    cache.append(1, kk, vv, 10 + i);
                    for (int h = 0; h < 2; h++) {
                        System.arraycopy(kk, h * D, k[h], i * D, D);
                        System.arraycopy(vv, h * D, v[h], i * D, D);
                    }
                }
                assertEquals(n, cache.length(1, 0));
                assertEquals(0, cache.length(0, 0));
                assertEquals(7, cache.pages(1, 1)); // ceil(100 / 16)
                long page = BlockPool.pageBytes(layout);
                assertEquals(7 * page, cache.bytesInUse(1, 0));
                assertEquals(14 * page, cache.bytesInUse(1));
                assertEquals(0, cache.bytesInUse(0));
                assertEquals(14 * page, cache.bytesInUse());
                assertEquals(14, pool.stats().pagesInUse());
                long[] pos = new long[n];
                for (int i = 0; i < n; i++) {
                    pos[i] = 10 + i;
                }
                KvView[] dense = new KvView[2];
                for (int h = 0; h < 2; h++) {
                    dense[h] = DenseKvView.of(k[h], v[h], pos, D, t, 16);
                    assertArrayEquals(decodedKeys(dense[h]), decodedKeys(cache.view(1, h)), t + " head " + h);
                    KvView pv = cache.view(1, h);
                    assertEquals(10, pv.position(0, 0));
                    assertEquals(109, pv.position(6, 3));
                    for (int p = 0; p < pv.pageCount(); p++) {
                        assertArrayEquals(dense[h].keyMin(p), pv.keyMin(p), t + " page " + p);
                        assertArrayEquals(dense[h].keyMax(p), pv.keyMax(p), t + " page " + p);
                    }
                }
                TensorOps ops = new TensorOps(KernelProvider.scalar(), ComputePool.create(1));
                float[] q = gaussian(r, 3 * 4 * D);
                float[] a = new float[3 * 4 * D];
                float[] b = new float[3 * 4 * D];
                new TiledAttention(ops).attend(AttentionProblem.causal(q, 3, 4, cache.views(1)), a, null, null);
                new TiledAttention(ops).attend(AttentionProblem.causal(q, 3, 4, dense), b, null, null);
                assertArrayEquals(b, a, t + ": attention over the paged cache equals the dense view");
            }
        }
    }

    /**
     * A sliding-window layer's pages that end before the window return to the pool; the others and
     * the other layers stay, the views read the remaining pages, and a fork keeps its own reference.
     */
    @Test
    void releaseBeforeReturnsLeadingPagesOfOneLayerOnly() {
        SplittableRandom r = new SplittableRandom(4);
        KvLayout layout = new KvLayout(2, 2, D, 8, DType.F32);
        try (BlockPool pool = new BlockPool(layout, 1 << 22)) {
            SequenceKvCache a = SequenceKvCache.create(pool);
            for (int i = 0; i < 30; i++) { // 4 pages per head: 8 + 8 + 8 + 6 tokens
                for (int l = 0; l < 2; l++) {
                    a.append(l, gaussian(r, 2 * D), gaussian(r, 2 * D), i);
                }
            }
            assertEquals(16, pool.stats().pagesInUse());
            assertEquals(0, a.releaseBefore(0, 7), "page 0 still holds position 7");
            assertEquals(2, a.releaseBefore(0, 8), "page 0 of both heads ends at 7");
            assertEquals(14, pool.stats().pagesInUse());
            assertEquals(22, a.length(0, 0));
            assertEquals(30, a.length(1, 0), "the other layer keeps everything");
            assertEquals(8, a.view(0, 1).position(0, 0));
            SequenceKvCache b = a.fork();
            assertEquals(2, b.releaseBefore(0, 20), "the fork drops its reference to page 1 (8..15) of each head");
            assertEquals(14, pool.stats().pagesInUse(), "a's references keep the shared pages");
            assertEquals(4, a.releaseBefore(0, 1000), "pages 8..15 and 16..23; the last page, which can take appends, stays");
            assertEquals(1, a.pages(0, 0));
            b.close();
            a.close();
            assertEquals(0, pool.stats().pagesInUse());
        }
    }

    @Test
    void forkSharesPagesAndCopiesTheLastOneBeforeAWrite() {
        SplittableRandom r = new SplittableRandom(2);
        KvLayout layout = new KvLayout(1, 1, D, 8, DType.F32);
        try (BlockPool pool = new BlockPool(layout, 1 << 22)) {
            SequenceKvCache a = SequenceKvCache.create(pool);
            for (int i = 0; i < 12; i++) {
                a.append(0, gaussian(r, D), gaussian(r, D), i);
            }
            float[] before = decodedKeys(a.view(0, 0));
            assertEquals(2, pool.stats().pagesInUse());
            SequenceKvCache b = a.fork();
            assertEquals(2, pool.stats().pagesInUse(), "a fork shares pages");
            b.append(0, gaussian(r, D), gaussian(r, D), 12);
            assertEquals(3, pool.stats().pagesInUse(), "the shared last page was copied before b wrote");
            a.append(0, gaussian(r, D), gaussian(r, D), 12);
            assertEquals(3, pool.stats().pagesInUse(), "a owns the original last page alone again");
            float[] afterA = decodedKeys(a.view(0, 0));
            float[] afterB = decodedKeys(b.view(0, 0));
            for (int i = 0; i < before.length; i++) {
                assertEquals(before[i], afterA[i]);
                assertEquals(before[i], afterB[i]);
            }
            assertTrue(afterA[12 * D] != afterB[12 * D], "each sequence sees its own 13th token");
            a.close();
            b.close();
            assertEquals(0, pool.stats().pagesInUse(), "no page leaks");
        }
    }

    @Test
    void aFullBudgetIsAClearErrorAndTheCacheStaysUsable() {
        SplittableRandom r = new SplittableRandom(3);
        KvLayout layout = new KvLayout(1, 2, D, 4, DType.F16);
        long budget = 5 * BlockPool.pageBytes(layout);
        try (BlockPool pool = new BlockPool(layout, budget)) {
            SequenceKvCache c = SequenceKvCache.create(pool);
            for (int i = 0; i < 8; i++) {
                c.append(0, gaussian(r, 2 * D), gaussian(r, 2 * D), i);
            }
            var e = assertThrows(KvCacheFullException.class, () -> c.append(0, gaussian(r, 2 * D), gaussian(r, 2 * D), 8));
            assertTrue(e.getMessage().contains(String.valueOf(budget)), e.getMessage());
            assertEquals(budget, e.budgetBytes());
            assertEquals(8, c.length(0, 0));
            assertEquals(8, c.length(0, 1), "no half-written token");
            SequenceKvCache other = SequenceKvCache.create(pool);
            assertThrows(KvCacheFullException.class, () -> other.append(0, gaussian(r, 2 * D), gaussian(r, 2 * D), 0));
            c.close();
            other.append(0, gaussian(r, 2 * D), gaussian(r, 2 * D), 0);
            assertEquals(1, other.length(0, 1));
            other.close();
            assertEquals(0, pool.stats().pagesInUse());
        }
    }

    @Test
    void badInputIsRejectedWithTheExpectedShape() {
        KvLayout layout = new KvLayout(2, 2, D, 8, DType.F32);
        var e = assertThrows(IllegalArgumentException.class, () -> new BlockPool(layout, 100));
        assertTrue(e.getMessage().contains("smaller than one page"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new KvLayout(1, 1, 48, 8, DType.Q8_0));
        assertThrows(IllegalArgumentException.class, () -> new KvLayout(1, 1, 32, 8, DType.Q4_0));
        try (BlockPool pool = new BlockPool(layout, 1 << 20)) {
            SequenceKvCache c = SequenceKvCache.create(pool);
            e = assertThrows(IllegalArgumentException.class, () -> c.append(0, new float[D], new float[2 * D], 0));
            assertTrue(e.getMessage().contains("[kvHeads=2][headDim=32]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> c.append(2, new float[2 * D], new float[2 * D], 0));
            assertTrue(e.getMessage().contains("layer 2"), e.getMessage());
            c.append(0, new float[2 * D], new float[2 * D], 5);
            e = assertThrows(IllegalArgumentException.class, () -> c.append(0, new float[2 * D], new float[2 * D], 5));
            assertTrue(e.getMessage().contains("greater than the previous position 5"), e.getMessage());
            c.close();
            assertThrows(IllegalStateException.class, () -> c.view(0, 0));
            assertThrows(IllegalStateException.class, () -> c.append(0, new float[2 * D], new float[2 * D], 9));
        }
    }

    @Test
    void manySequencesOnTwoThreadsEachMatchTheirOwnRunAlone() throws Exception {
        KvLayout layout = new KvLayout(1, 2, D, 8, DType.F16);
        try (BlockPool pool = new BlockPool(layout, 1 << 24)) {
            int sequences = 8;
            List<float[]> alone = new ArrayList<>();
            for (int s = 0; s < sequences; s++) {
                try (SequenceKvCache c = SequenceKvCache.create(pool)) {
                    fill(c, s);
                    alone.add(decodedKeys(c.view(0, 1)));
                }
            }
            List<SequenceKvCache> caches = new ArrayList<>();
            for (int s = 0; s < sequences; s++) {
                caches.add(SequenceKvCache.create(pool));
            }
            Thread[] threads = new Thread[2];
            for (int t = 0; t < 2; t++) {
                int first = t;
                threads[t] = new Thread(() -> {
                    for (int s = first; s < sequences; s += 2) {
                        fill(caches.get(s), s);
                    }
                });
                threads[t].start();
            }
            for (Thread t : threads) {
                t.join();
            }
            for (int s = 0; s < sequences; s++) {
                assertArrayEquals(alone.get(s), decodedKeys(caches.get(s).view(0, 1)), "sequence " + s);
                caches.get(s).close();
            }
            assertEquals(0, pool.stats().pagesInUse());
        }
    }

    private static void fill(SequenceKvCache c, int seed) {
        SplittableRandom r = new SplittableRandom(100 + seed);
        for (int i = 0; i < 50 + seed; i++) {
            c.append(0, gaussian(r, 2 * D), gaussian(r, 2 * D), i);
        }
    }
}
