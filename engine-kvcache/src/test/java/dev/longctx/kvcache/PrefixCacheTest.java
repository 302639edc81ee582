package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.KvView;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.tensor.DType;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

/**
 * Prefix caching on the pool: published blocks are found only for exactly the same tokens and
 * namespace, attached blocks read back what was written, appends after them never touch the
 * shared pages, reclaiming frees unused blocks leaves first and never a block in use, and
 * {@link SequenceKvCache#pagesToAppend} predicts the pages appends take.
 */
class PrefixCacheTest {
    private static final int D = 8;
    private static final int PS = 4;
    private static final KvLayout LAYOUT = new KvLayout(2, 2, D, PS, DType.F32);

    private static float value(int token, int layer, int head, int d) {
        return token * 0.5f + layer * 100 + head * 10 + d * 0.01f;
    }

    /** Appends {@code tokens} (one value pattern per token id) at positions from {@code cache}'s length. */
    private static void append(SequenceKvCache cache, int[] tokens, int from, int to) {
        float[] k = new float[LAYOUT.kvHeads() * D];
        for (int p = from; p < to; p++) {
            for (int l = 0; l < LAYOUT.layers(); l++) {
                for (int h = 0; h < LAYOUT.kvHeads(); h++) {
                    for (int d = 0; d < D; d++) {
                        k[h * D + d] = value(tokens[p], l, h, d);
                    }
                }
                cache.append(l, k, k, p);
            }
        }
    }

    private static void assertReads(SequenceKvCache cache, int[] tokens, int n) {
        float[] out = new float[D];
        for (int l = 0; l < LAYOUT.layers(); l++) {
            for (int h = 0; h < LAYOUT.kvHeads(); h++) {
                KvView v = cache.view(l, h);
                int t = 0;
                for (int page = 0; page < v.pageCount(); page++) {
                    for (int s = 0; s < v.pageLength(page); s++, t++) {
                        assertEquals(t, v.position(page, s));
                        Quantization.dequantize(DType.F32, v.keys(page), s * LAYOUT.rowBytes(), out, 0, D);
                        assertEquals(value(tokens[t], l, h, 3), out[3], "layer " + l + " head " + h + " token " + t);
                    }
                }
                assertEquals(n, t);
            }
        }
    }

    @Test
    void aPublishedPrefixIsFoundOnlyForTheSameTokensAndNamespace() {
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20); PrefixCache cache = new PrefixCache(pool)) {
            int[] a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
            try (SequenceKvCache s = SequenceKvCache.create(pool)) {
                append(s, a, 0, a.length);
                assertEquals(2, cache.publish(s, a, 0, 2, "exact"));
            }
            assertEquals(2 * LAYOUT.layers() * LAYOUT.kvHeads(), pool.stats().pagesInUse(), "the cache keeps two blocks");
            int[] b = a.clone();
            b[9] = 99;
            assertEquals(8, cache.peek(b, b.length, b.length, "exact"));
            assertEquals(0, cache.peek(b, b.length, b.length, "other"), "another namespace shares nothing");
            int[] c = a.clone();
            c[5] = 42;
            assertEquals(4, cache.peek(c, c.length, c.length, "exact"), "a different token in block 1 ends the match there");
            assertEquals(4, cache.peek(a, a.length, 7, "exact"), "the limit rounds down to whole blocks");
            try (SequenceKvCache s = SequenceKvCache.create(pool)) {
                assertEquals(8, cache.attach(s, b, b.length, b.length, "exact"));
                assertEquals(0, s.pagesToAppend(0));
                assertEquals(LAYOUT.layers() * LAYOUT.kvHeads(), s.pagesToAppend(3), "a fresh page per head");
                int before = pool.availablePages();
                append(s, b, 8, b.length);
                assertEquals(before - LAYOUT.layers() * LAYOUT.kvHeads(), pool.availablePages(), "pagesToAppend was exact");
                assertReads(s, b, b.length);
                assertThrows(IllegalArgumentException.class, () -> cache.attach(s, b, b.length, b.length, "exact"));
            }
            try (SequenceKvCache s = SequenceKvCache.create(pool)) {
                cache.attach(s, a, a.length, a.length, "exact");
                assertReads(s, a, 8); // the shared pages were not written by the other sequence
            }
        }
    }

    @Test
    void pagesToAppendCountsCopyOnWriteAndPartlyFilledPages() {
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20); SequenceKvCache s = SequenceKvCache.create(pool)) {
            int[] t = new int[20];
            Arrays.setAll(t, i -> i);
            int heads = LAYOUT.layers() * LAYOUT.kvHeads();
            assertEquals(heads * 2, s.pagesToAppend(5));
            append(s, t, 0, 5); // one full page and one with 1 of 4 slots
            assertEquals(0, s.pagesToAppend(3));
            assertEquals(heads, s.pagesToAppend(4));
            try (SequenceKvCache f = s.fork()) {
                assertEquals(heads, f.pagesToAppend(1), "the shared last page is copied first");
                int before = pool.availablePages();
                append(f, t, 5, 6);
                assertEquals(before - heads, pool.availablePages());
            }
        }
    }

    @Test
    void reclaimFreesUnusedBlocksLeavesFirstAndNeverOnesInUse() {
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20); PrefixCache cache = new PrefixCache(pool)) {
            int perBlock = LAYOUT.layers() * LAYOUT.kvHeads();
            int[] a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
            int[] b = {7, 7, 7, 7, 8, 8, 8, 8};
            try (SequenceKvCache s = SequenceKvCache.create(pool); SequenceKvCache t = SequenceKvCache.create(pool)) {
                append(s, a, 0, a.length);
                append(t, b, 0, b.length);
                cache.publish(s, a, 0, 3, "exact");
                cache.publish(t, b, 0, 2, "exact");
            }
            assertEquals(5, cache.blocks());
            assertEquals(5 * perBlock, cache.reclaimablePages());
            try (SequenceKvCache user = SequenceKvCache.create(pool)) {
                cache.attach(user, a, a.length, 8, "exact"); // a's first two blocks are in use
                assertEquals(3 * perBlock, cache.reclaimablePages());
                assertEquals(perBlock, cache.reclaim(1), "one leaf at a time");
                assertEquals(2 * perBlock, cache.reclaim(100), "the rest of what is unused, leaves before parents");
                assertEquals(2, cache.blocks());
                assertEquals(8, cache.peek(a, a.length, a.length, "exact"), "the blocks in use stayed");
                assertEquals(0, cache.peek(b, b.length, b.length, "exact"));
            }
            assertEquals(2 * perBlock, cache.reclaim(100));
            assertEquals(0, pool.stats().pagesInUse(), "no page leaked");
        }
    }

    /**
     * A value attached to a cached block is found for the same tokens, blocks, namespace and tag
     * only, and goes with the block when it is reclaimed; uncached blocks take none.
     */
    @Test
    void annotationsLiveAndDieWithTheirBlock() {
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20); PrefixCache cache = new PrefixCache(pool)) {
            int[] a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
            assertTrue(!cache.annotate(a, 2, "exact", "tag", "value"), "nothing cached yet");
            try (SequenceKvCache s = SequenceKvCache.create(pool)) {
                append(s, a, 0, a.length);
                assertEquals(2, cache.publish(s, a, 0, 2, "exact"));
            }
            assertTrue(cache.annotate(a, 2, "exact", "tag", "value"));
            assertEquals("value", cache.annotation(a, 2, "exact", "tag"));
            int[] b = a.clone();
            b[10] = 77; // past the two blocks: the same blocks
            assertEquals("value", cache.annotation(b, 2, "exact", "tag"));
            assertEquals(null, cache.annotation(a, 1, "exact", "tag"), "attached to block 1, not block 0");
            assertEquals(null, cache.annotation(a, 2, "exact", "other tag"));
            assertEquals(null, cache.annotation(a, 2, "other", "tag"));
            b[5] = 42;
            assertEquals(null, cache.annotation(b, 2, "exact", "tag"), "another block 1");
            assertThrows(IllegalArgumentException.class, () -> cache.annotation(a, 3, "exact", "tag"), "11 tokens hold 2 blocks");
            assertThrows(IllegalArgumentException.class, () -> cache.annotation(a, 0, "exact", "tag"));
            cache.reclaim(Integer.MAX_VALUE);
            assertEquals(0, pool.stats().pagesInUse());
            assertEquals(null, cache.annotation(a, 2, "exact", "tag"), "reclaimed with its block");
            try (SequenceKvCache s = SequenceKvCache.create(pool)) {
                append(s, a, 0, a.length);
                assertEquals(2, cache.publish(s, a, 0, 2, "exact"));
            }
            assertEquals(null, cache.annotation(a, 2, "exact", "tag"), "a block cached again starts without it");
        }
    }

    @Test
    void evictedOrPartBlocksAreNotPublished() {
        try (BlockPool pool = new BlockPool(LAYOUT, 1 << 20); PrefixCache cache = new PrefixCache(pool)) {
            int[] a = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
            try (SequenceKvCache s = SequenceKvCache.create(pool)) {
                append(s, a, 0, a.length);
                s.evict(0, 1, 1, 2); // block 1 of layer 0 head 1 lost a token
                assertEquals(1, cache.publish(s, a, 0, 3, "exact"), "block 0 only: block 1 has an eviction, block 2 is partial");
            }
            cache.clear();
            assertEquals(0, pool.stats().pagesInUse());
        }
    }
}
