package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.KvView;
import dev.longctx.core.tensor.DType;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The pool hands each (layer, head) stream runs of adjacent pages; summaries follow the tables. */
class PageLocalityTest {
    private static final int D = 16;
    private static final int PAGE = 4;

    @Test
    void pagesOfOneHeadAreAdjacentInMemoryWhenHeadsAppendInterleaved() {
        KvLayout layout = new KvLayout(2, 3, D, PAGE, DType.F16);
        try (BlockPool pool = new BlockPool(layout, 1L << 24); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            float[] kv = new float[3 * D];
            int tokens = PAGE * BlockPool.SLAB_PAGES; // one full slab per stream
            for (int t = 0; t < tokens; t++) {
                kv[0] = t;
                for (int l = 0; l < 2; l++) {
                    cache.append(l, kv, kv, t);
                }
            }
            for (int l = 0; l < 2; l++) {
                for (int h = 0; h < 3; h++) {
                    KvView v = cache.view(l, h);
                    assertEquals(BlockPool.SLAB_PAGES, v.pageCount());
                    for (int p = 1; p < v.pageCount(); p++) {
                        assertEquals(v.keys(p - 1).address() + layout.pageDataBytes(), v.keys(p).address(),
                                "layer " + l + " head " + h + " page " + p + " follows page " + (p - 1));
                        assertEquals(v.values(p - 1).address() + layout.pageDataBytes(), v.values(p).address());
                    }
                }
            }
        }
    }

    @Test
    void aStreamTakesAnyFreePageOnceTheBudgetAllowsNoNewSlab() {
        KvLayout layout = new KvLayout(1, 1, D, PAGE, DType.F16);
        int pages = BlockPool.SLAB_PAGES + 4;
        try (BlockPool pool = new BlockPool(layout, pages * BlockPool.pageBytes(layout))) {
            Set<Integer> seen = new HashSet<>();
            assertTrue(seen.add(pool.allocate(0))); // opens slab 0
            for (int i = 0; i < 4; i++) {
                assertTrue(seen.add(pool.allocate(1))); // slab 1 (4 pages: the budget's remainder)
            }
            for (int i = 0; i < pages - 5; i++) {
                assertTrue(seen.add(pool.allocate(1)), "no page is handed out twice"); // from slab 0's free pages
            }
            assertEquals(pages, seen.size());
            assertThrows(KvCacheFullException.class, () -> pool.allocate(2));
            pool.release(7);
            assertEquals(7, pool.allocate(2), "a released page is reused");
        }
    }

    @Test
    void aStreamTakesBackThePageItFreedBeforeOthersFreePages() {
        KvLayout layout = new KvLayout(1, 1, D, PAGE, DType.F16);
        int pages = 2 * BlockPool.SLAB_PAGES;
        try (BlockPool pool = new BlockPool(layout, pages * BlockPool.pageBytes(layout))) {
            int[] a = new int[BlockPool.SLAB_PAGES];
            for (int i = 0; i < a.length; i++) {
                a[i] = pool.allocate(0); // all of slab 0
            }
            int b = pool.allocate(1); // opens slab 1
            pool.release(a[5]);
            pool.release(b); // the most recently freed page overall
            assertEquals(a[5], pool.allocate(0), "stream 0 reuses its own freed page, not the latest freed one");
            assertEquals(b + 1, pool.allocate(1), "stream 1 continues its run first");
        }
    }

    @Test
    void aViewRejectsPageIndicesPastItsTable() {
        KvLayout layout = new KvLayout(1, 1, D, PAGE, DType.F16);
        try (BlockPool pool = new BlockPool(layout, 1L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            cache.appendHead(0, 0, new float[D], 0, new float[D], 0, 0);
            KvView v = cache.view(0, 0);
            assertEquals(1, v.pageLength(0));
            IndexOutOfBoundsException e = assertThrows(IndexOutOfBoundsException.class, () -> v.pageLength(1));
            assertTrue(e.getMessage().contains("page 1 outside [0, 1)"), e.getMessage());
            assertThrows(IndexOutOfBoundsException.class, () -> v.pageMinPosition(-1));
        }
    }

    @Test
    void keyBoundsAreContiguousAndCoverEveryStoredKey() {
        KvLayout layout = new KvLayout(1, 1, D, PAGE, DType.F16);
        try (BlockPool pool = new BlockPool(layout, 1L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            java.util.Random r = new java.util.Random(3);
            float[][] keys = new float[11][D];
            for (int t = 0; t < keys.length; t++) {
                for (int c = 0; c < D; c++) {
                    keys[t][c] = (float) r.nextGaussian();
                }
                cache.appendHead(0, 0, keys[t], 0, new float[D], 0, t);
            }
            KvView v = cache.view(0, 0);
            var b = v.keyBounds();
            for (int t = 0; t < keys.length; t++) {
                int p = t / PAGE;
                for (int c = 0; c < D; c++) {
                    float stored = Float.float16ToFloat(Float.floatToFloat16(keys[t][c]));
                    assertTrue(b.min()[p * D + c] <= stored && stored <= b.max()[p * D + c], "token " + t + " channel " + c);
                }
            }
            // Tight: each channel's bound is some stored key's value.
            for (int c = 0; c < D; c++) {
                float mx = Float.NEGATIVE_INFINITY;
                for (int t = 0; t < PAGE; t++) {
                    mx = Math.max(mx, Float.float16ToFloat(Float.floatToFloat16(keys[t][c])));
                }
                assertEquals(mx, b.max()[c]);
            }
        }
    }
}
