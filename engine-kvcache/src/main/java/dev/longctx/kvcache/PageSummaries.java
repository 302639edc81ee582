package dev.longctx.kvcache;

import dev.longctx.attention.PageKeyBounds;
import java.util.Arrays;

/**
 * What attention kernels read about every page of one block table (one layer and KV head), kept
 * in contiguous arrays indexed like the table: slots used, the positions bounding the valid slots,
 * whether every slot is valid, and Quest's per-channel key bounds. A decode step reads this for
 * every page of every head; read through the per-page {@link PageMeta} objects, which lie
 * scattered on the heap, it cost about 0.5 us per page at 64K tokens (a cache miss or more each).
 *
 * <p><b>Invariant</b> (kept by {@link SequenceKvCache} on every write, eviction, compaction and
 * re-positioning; table index {@code i < size}): {@code count[i]} is the page's used slots;
 * {@code minPos[i]}/{@code maxPos[i]} are the positions of its first/last valid slot, or of its
 * first/last used slot when none is valid (0 when empty); {@code allValid[i]} says no used slot is
 * evicted; {@code keyMin}/{@code keyMax} at {@code [i * headDim, (i + 1) * headDim)} are the
 * per-channel min/max of every stored (rounded) key of the page, evicted ones included, and the
 * packed bounds at the same indices are those rounded outward to bfloat16 (Quest scans those). The
 * summary describes table entries, not pool pages: a page shared by two forks has an entry in each.
 *
 * <p>Not thread-safe: written by the owning sequence between steps, read by kernels during one.
 */
final class PageSummaries {
    private final int headDim;
    int[] count;
    long[] minPos;
    long[] maxPos;
    boolean[] allValid;
    private PageKeyBounds bounds;

    PageSummaries(int headDim, int capacity) {
        this.headDim = headDim;
        count = new int[capacity];
        minPos = new long[capacity];
        maxPos = new long[capacity];
        allValid = new boolean[capacity];
        bounds = PageKeyBounds.withPacked(new float[capacity * headDim], new float[capacity * headDim]);
    }

    /** The key bounds of every entry, contiguous (replaced when the arrays grow). */
    PageKeyBounds bounds() {
        return bounds;
    }

    /** Room for at least {@code pages} entries. */
    void ensureCapacity(int pages) {
        if (pages <= count.length) {
            return;
        }
        int n = Math.max(pages, count.length * 2);
        count = Arrays.copyOf(count, n);
        minPos = Arrays.copyOf(minPos, n);
        maxPos = Arrays.copyOf(maxPos, n);
        allValid = Arrays.copyOf(allValid, n);
        bounds = new PageKeyBounds(Arrays.copyOf(bounds.min(), n * headDim), Arrays.copyOf(bounds.max(), n * headDim),
                Arrays.copyOf(bounds.packedMin(), n * headDim), Arrays.copyOf(bounds.packedMax(), n * headDim));
    }

    /** Re-derives entry i's count, positions and validity from the page's metadata. */
    void refreshPositions(int i, PageMeta m) {
        count[i] = m.count;
        allValid[i] = m.invalid == 0;
        long lo = m.count == 0 ? 0 : m.positions[0];
        long hi = m.count == 0 ? 0 : m.positions[m.count - 1];
        if (m.invalid > 0) {
            for (int s = 0; s < m.count; s++) {
                if (m.valid[s]) {
                    lo = m.positions[s];
                    break;
                }
            }
            for (int s = m.count - 1; s >= 0; s--) {
                if (m.valid[s]) {
                    hi = m.positions[s];
                    break;
                }
            }
        }
        minPos[i] = lo;
        maxPos[i] = hi;
    }

    /** Empties entry i's key bounds (before the keys of a page are included again). */
    void resetBounds(int i) {
        bounds.reset(i * headDim, (i + 1) * headDim);
    }

    /** Widens entry i's key bounds to include one stored key. */
    void includeKey(int i, float[] key) {
        bounds.include(i * headDim, key, 0, headDim);
    }

    /** Removes entry i of {@code size}, moving the later ones down (the table lost that page). */
    void remove(int i, int size) {
        int tail = size - i - 1;
        System.arraycopy(count, i + 1, count, i, tail);
        System.arraycopy(minPos, i + 1, minPos, i, tail);
        System.arraycopy(maxPos, i + 1, maxPos, i, tail);
        System.arraycopy(allValid, i + 1, allValid, i, tail);
        System.arraycopy(bounds.min(), (i + 1) * headDim, bounds.min(), i * headDim, tail * headDim);
        System.arraycopy(bounds.max(), (i + 1) * headDim, bounds.max(), i * headDim, tail * headDim);
        System.arraycopy(bounds.packedMin(), (i + 1) * headDim, bounds.packedMin(), i * headDim, tail * headDim);
        System.arraycopy(bounds.packedMax(), (i + 1) * headDim, bounds.packedMax(), i * headDim, tail * headDim);
    }

    /** An independent copy (a fork's tables start equal). */
    PageSummaries copy() {
        PageSummaries c = new PageSummaries(headDim, count.length);
        System.arraycopy(count, 0, c.count, 0, count.length);
        System.arraycopy(minPos, 0, c.minPos, 0, minPos.length);
        System.arraycopy(maxPos, 0, c.maxPos, 0, maxPos.length);
        System.arraycopy(allValid, 0, c.allValid, 0, allValid.length);
        System.arraycopy(bounds.min(), 0, c.bounds.min(), 0, bounds.min().length);
        System.arraycopy(bounds.max(), 0, c.bounds.max(), 0, bounds.max().length);
        System.arraycopy(bounds.packedMin(), 0, c.bounds.packedMin(), 0, bounds.packedMin().length);
        System.arraycopy(bounds.packedMax(), 0, c.bounds.packedMax(), 0, bounds.packedMax().length);
        return c;
    }
}
