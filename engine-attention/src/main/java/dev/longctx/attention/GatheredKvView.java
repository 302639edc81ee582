package dev.longctx.attention;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.BitSet;

/**
 * A view holding copies of selected keys and values of another view, packed densely into pages of
 * the same size and dtype, in the original order (so positions still increase). For token-level
 * selections: attention over k gathered keys reads O(k) rows, however the selection is scattered
 * over the underlying pages, where a {@link SelectedKvView} would read every page it touches.
 *
 * <p>Reusable: {@link #reset} refills it and keeps its buffers, so a per-thread instance allocates
 * only while the largest selection grows. Gathering costs O(k * rowBytes) copying. Not thread-safe.
 */
final class GatheredKvView extends PackedSubsetView {
    private MemorySegment[] keys = new MemorySegment[0];
    private MemorySegment[] values = new MemorySegment[0];
    private int[] baseKeys = new int[0];

    /** Refills the view with the keys of {@code base} in {@code selected} (key indices page * pageSize + slot). */
    GatheredKvView reset(KvView base, BitSet selected) {
        if (base() == null || base.dtype() != dtype() || base.pageSize() != pageSize() || base.headDim() != headDim()
                || base.rowBytes() != rowBytes()) {
            // Page buffers are sized for one (dtype, page size, head dim, row stride); drop them when that changes.
            keys = new MemorySegment[0];
            values = new MemorySegment[0];
        }
        int n = selected.cardinality();
        bind(base, n);
        int pageSize = pageSize();
        long rowBytes = rowBytes();
        int pages = (n + pageSize - 1) / pageSize;
        if (keys.length < pages) {
            int old = keys.length;
            keys = Arrays.copyOf(keys, Math.max(pages, 2 * old));
            values = Arrays.copyOf(values, keys.length);
            // Off-heap, as DenseKvView and the cache: the Vector API intrinsifies 16-bit loads only from
            // native segments. An automatic arena frees the pages with the view.
            Arena arena = Arena.ofAuto();
            for (int p = old; p < keys.length; p++) {
                keys[p] = arena.allocate(rowBytes * pageSize, 64);
                values[p] = arena.allocate(rowBytes * pageSize, 64);
            }
        }
        if (baseKeys.length < positions.length) {
            baseKeys = new int[positions.length];
        }
        // Page by page (its segments fetched once), runs of consecutive selected slots copied in one
        // call each, cut where a gathered page fills: the same bytes in the same order as a copy per
        // key, without a segment lookup and two small copies per key (TidalDecode's sparse layers at
        // 16K: 2,048 keys per head, mostly scattered, the recent window one run).
        int i = 0;
        int key = selected.nextSetBit(0);
        while (key >= 0) {
            int bp = key / pageSize;
            int pageEnd = (bp + 1) * pageSize;
            MemorySegment bk = base.keys(bp);
            MemorySegment bv = base.values(bp);
            while (key >= 0 && key < pageEnd) {
                int runEnd = Math.min(selected.nextClearBit(key), pageEnd);
                int slot = key - bp * pageSize;
                int left = runEnd - key;
                while (left > 0) {
                    int m = Math.min(left, pageSize - i % pageSize);
                    long dst = (long) (i % pageSize) * rowBytes;
                    MemorySegment.copy(bk, slot * rowBytes, keys[i / pageSize], dst, m * rowBytes);
                    MemorySegment.copy(bv, slot * rowBytes, values[i / pageSize], dst, m * rowBytes);
                    for (int j = 0; j < m; j++) {
                        positions[i + j] = base.position(bp, slot + j);
                        baseKeys[i + j] = bp * pageSize + slot + j;
                    }
                    i += m;
                    slot += m;
                    left -= m;
                }
                key = runEnd < pageEnd ? selected.nextSetBit(runEnd) : selected.nextSetBit(pageEnd);
            }
        }
        return this;
    }

    @Override
    public int baseKey(int page, int slot) {
        return baseKeys[page * pageSize() + slot];
    }

    @Override
    public MemorySegment keys(int page) {
        return keys[page];
    }

    @Override
    public MemorySegment values(int page) {
        return values[page];
    }
}
