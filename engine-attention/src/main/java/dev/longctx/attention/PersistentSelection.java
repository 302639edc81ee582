package dev.longctx.attention;

import java.util.Arrays;
import java.util.BitSet;

/**
 * Token positions chosen once and attended again later: per KV head, a sorted set of key
 * positions, plus a position from which every key is kept (the tokens that arrived after the
 * selection). TidalDecode reuses a selection across the following layers of one decode step,
 * Recycled Attention across the following decode steps of one layer; both attend it through
 * {@link PersistentSelectionAttention} and record it with {@link #record}.
 *
 * <p>Positions, not slots, identify the keys, so a selection stays valid while the cache grows
 * (new pages, new slots) and is shared by layers whose pages differ.
 *
 * <p>Threading: not thread-safe; it belongs to one sequence, used by one thread at a time. Distinct
 * KV heads may be recorded concurrently (each call writes only its head's arrays), and the kernel
 * reads it from the pool's threads after the caller's hand-off.
 */
public final class PersistentSelection {
    private final long[][] positions;
    private final int[] counts;
    private long keepFrom = Long.MAX_VALUE;
    private boolean recorded;

    /** An empty selection for {@code kvHeads} KV heads. */
    public PersistentSelection(int kvHeads) {
        if (kvHeads <= 0) {
            throw new IllegalArgumentException("persistent selection: kvHeads must be positive, got " + kvHeads);
        }
        this.positions = new long[kvHeads][0];
        this.counts = new int[kvHeads];
    }

    /** KV heads it holds a selection for. */
    public int kvHeads() {
        return counts.length;
    }

    /**
     * Records the positions of {@code keys} (key indices {@code page * pageSize + slot} of
     * {@code view}, as {@link SelectedAttention#selectedKeys} returns them) as KV head
     * {@code kvHead}'s selection, replacing the previous one.
     */
    public void record(int kvHead, KvView view, BitSet keys) {
        int n = keys.cardinality();
        long[] p = positions[kvHead];
        if (p.length < n) {
            p = positions[kvHead] = new long[Math.max(n, 2 * p.length)];
        }
        int ps = view.pageSize();
        int i = 0;
        for (int key = keys.nextSetBit(0); key >= 0; key = keys.nextSetBit(key + 1)) {
            p[i++] = view.position(key / ps, key % ps);
        }
        Arrays.sort(p, 0, n); // already increasing in a cache (positions of valid slots increase); cheap
        counts[kvHead] = n;
    }

    /** Records {@code positions[0, n)} (increasing) as KV head {@code kvHead}'s selection, replacing the previous one. */
    void record(int kvHead, long[] positions, int n) {
        long[] p = this.positions[kvHead];
        if (p.length < n) {
            p = this.positions[kvHead] = new long[Math.max(n, 2 * p.length)];
        }
        System.arraycopy(positions, 0, p, 0, n);
        Arrays.sort(p, 0, n); // already increasing from a selection in key order of a cache; cheap
        counts[kvHead] = n;
    }

    /** Keys at {@code position} or later are attended whatever the selection (tokens that came after it). */
    public void keepFrom(long position) {
        this.keepFrom = position;
    }

    /** The position from which every key is kept; {@link Long#MAX_VALUE} when none is. */
    public long keepFrom() {
        return keepFrom;
    }

    /** Marks the selection complete (every head recorded) or, with false, stale. */
    public void recorded(boolean done) {
        this.recorded = done;
    }

    /** Whether a complete selection is held. */
    public boolean isRecorded() {
        return recorded;
    }

    /** Selected positions of {@code kvHead}. */
    public int count(int kvHead) {
        return counts[kvHead];
    }

    /** A copy of {@code kvHead}'s selected positions, increasing. */
    public long[] positions(int kvHead) {
        return Arrays.copyOf(positions[kvHead], counts[kvHead]);
    }

    /** Whether the key at {@code position} is attended through {@code kvHead}: selected, or at or after {@link #keepFrom()}. */
    public boolean keeps(int kvHead, long position) {
        return position >= keepFrom || Arrays.binarySearch(positions[kvHead], 0, counts[kvHead], position) >= 0;
    }

    /** Index of the first selected position of {@code kvHead} that is {@code >= position} (the count if none). */
    int firstAtOrAfter(int kvHead, long position) {
        long[] p = positions[kvHead];
        int lo = 0;
        int hi = counts[kvHead];
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (p[mid] < position) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** The raw selected positions of {@code kvHead} (the first {@link #count} are used). */
    long[] raw(int kvHead) {
        return positions[kvHead];
    }
}
