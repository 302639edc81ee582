package dev.longctx.attention;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.BitSet;

/**
 * A view of selected keys of another view that copies nothing: the selected keys, in key-index
 * order, are cut into virtual pages of the base's page size, and each virtual row names the base
 * page and slot it stands for ({@link #pageOf()}, {@link #slotOf()}). Kernels read the rows in
 * place through {@link dev.longctx.core.kernels.spi.VectorKernels#decodeAttentionRows}
 * ({@link OnlineSoftmaxTile} does for every page of this view), so attention over k selected keys
 * reads exactly k key rows and k value rows of the cache, with no copy into dense pages as
 * {@link GatheredKvView} makes.
 *
 * <p><b>No dense pages.</b> {@link #keys} and {@link #values} throw: this view is only for the fused
 * decode step, which needs no page segment. A kernel may build one only where every virtual page is
 * fused ({@link #fusedFor}: every row valid, which holds by construction, and visible to the query
 * without a per-key mask, no soft cap, a decode tile); otherwise it uses {@link GatheredKvView}.
 *
 * <p>Reusable: {@link #reset} refills it and keeps its arrays, so a per-thread instance allocates
 * only while the largest selection or the base's page count grows. Building it is O(k) plus one
 * segment lookup per base page holding a selected key. Not thread-safe to reset; read-only (and so
 * safe to read from the pool's tasks) between resets.
 */
final class IndexedKvView extends PackedSubsetView {
    private MemorySegment[] keyPages = new MemorySegment[0];
    private MemorySegment[] valuePages = new MemorySegment[0];
    private int[] pageOf = new int[0];
    private int[] slotOf = new int[0];
    private long[] minPos = new long[0];
    private long[] maxPos = new long[0];

    /** The key indices of the last {@link #reset(KvView, BitSet)}, listed (grown, never shrunk). */
    private int[] listed = new int[0];

    /**
     * Refills the view with the keys of {@code base} in {@code selected} (key indices
     * {@code page * pageSize + slot}), which must all be valid slots of {@code base}: the selecting
     * kernels choose valid keys only, so validity is not re-checked key by key here.
     *
     * @throws IllegalArgumentException when a selected key lies outside the base's used slots
     */
    IndexedKvView reset(KvView base, BitSet selected) {
        int n = selected.cardinality();
        if (listed.length < n) {
            listed = new int[Math.max(n, 2 * listed.length)];
        }
        int i = 0;
        for (int key = selected.nextSetBit(0); key >= 0; key = selected.nextSetBit(key + 1)) {
            listed[i++] = key;
        }
        return reset(base, listed, null, n);
    }

    /**
     * {@link #reset(KvView, BitSet)} with the selected key indices given as the strictly
     * increasing list {@code keys[0, n)} and, when the caller knows them, their positions
     * {@code keyPositions[0, n)} (null: read from the base). Both are read, not kept. Given
     * positions spare the base's per-page position tables: a scattered selection touches nearly
     * every page of the cache, and in a decode step those tables are long out of the CPU's caches.
     *
     * @throws IllegalArgumentException when a selected key lies outside the base's used slots
     */
    IndexedKvView reset(KvView base, int[] keys, long[] keyPositions, int n) {
        bind(base, n);
        int pageSize = pageSize();
        int basePages = base.pageCount();
        if (keyPages.length < basePages) {
            keyPages = new MemorySegment[Math.max(basePages, 2 * keyPages.length)];
            valuePages = new MemorySegment[keyPages.length];
        } else {
            // Drop the last selection's segments so that no stale page is reachable.
            Arrays.fill(keyPages, null);
            Arrays.fill(valuePages, null);
        }
        if (pageOf.length < positions.length) {
            pageOf = new int[positions.length];
            slotOf = new int[positions.length];
        }
        int virtualPages = (n + pageSize - 1) / pageSize;
        if (minPos.length < virtualPages) {
            minPos = new long[Math.max(virtualPages, 2 * minPos.length)];
            maxPos = new long[minPos.length];
        }
        int lastPage = -1;
        int lastLength = 0;
        for (int i = 0; i < n; i++) {
            int key = keys[i];
            int bp = key / pageSize;
            int slot = key - bp * pageSize;
            if (bp != lastPage) {
                if (bp < 0 || bp >= basePages) {
                    throw outside(key, bp, slot, basePages);
                }
                keyPages[bp] = base.keys(bp);
                valuePages[bp] = base.values(bp);
                lastLength = base.pageLength(bp);
                lastPage = bp;
            }
            if (slot < 0 || slot >= lastLength) {
                throw outside(key, bp, slot, basePages);
            }
            pageOf[i] = bp;
            slotOf[i] = slot;
            long pos = keyPositions != null ? keyPositions[i] : base.position(bp, slot);
            positions[i] = pos;
            int vp = i / pageSize;
            if (i % pageSize == 0) {
                minPos[vp] = pos;
                maxPos[vp] = pos;
            } else {
                minPos[vp] = Math.min(minPos[vp], pos);
                maxPos[vp] = Math.max(maxPos[vp], pos);
            }
        }
        return this;
    }

    private IllegalArgumentException outside(int key, int bp, int slot, int basePages) {
        return new IllegalArgumentException("IndexedKvView: selected key " + key + " (page " + bp + ", slot " + slot
                + ") is not a used slot of the base view (" + basePages + " pages of " + pageSize() + ")");
    }

    /**
     * Whether the fused decode step takes every virtual page for one query at {@code qPos} under
     * {@code mask} (no per-key mask needed: the mask allows every position between each page's
     * smallest and largest). The caller also needs no soft cap and a decode tile.
     */
    boolean fusedFor(AttentionMask mask, long qPos) {
        for (int vp = 0; vp < pageCount(); vp++) {
            if (!mask.attendsAll(qPos, qPos, minPos[vp], maxPos[vp])) {
                return false;
            }
        }
        return true;
    }

    /** Key segments of the base's pages by base page index (null for pages holding no selected key). */
    MemorySegment[] keyPages() {
        return keyPages;
    }

    /** Value segments of the base's pages by base page index (null for pages holding no selected key). */
    MemorySegment[] valuePages() {
        return valuePages;
    }

    /** Base page of each virtual row ({@code page * pageSize() + slot} of this view). */
    int[] pageOf() {
        return pageOf;
    }

    /** Base slot of each virtual row. */
    int[] slotOf() {
        return slotOf;
    }

    @Override
    public int baseKey(int page, int slot) {
        int i = page * pageSize() + slot;
        return pageOf[i] * pageSize() + slotOf[i];
    }

    /** @throws UnsupportedOperationException always: the rows are read in place by index (see the class comment) */
    @Override
    public MemorySegment keys(int page) {
        throw new UnsupportedOperationException("IndexedKvView: no dense key page; its rows are read in place by "
                + "VectorKernels.decodeAttentionRows (page " + page + ")");
    }

    /** @throws UnsupportedOperationException always: the rows are read in place by index (see the class comment) */
    @Override
    public MemorySegment values(int page) {
        throw new UnsupportedOperationException("IndexedKvView: no dense value page; its rows are read in place by "
                + "VectorKernels.decodeAttentionRows (page " + page + ")");
    }

    @Override
    public long pageMinPosition(int page) {
        return minPos[page];
    }

    @Override
    public long pageMaxPosition(int page) {
        return maxPos[page];
    }

}
