package dev.longctx.attention;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.util.BitSet;
import java.util.Objects;

/**
 * A view of a subset of another view's keys, read in place: only the pages holding at least one
 * selected key are exposed (in their original order), and unselected slots of those pages are
 * invalid. Attention over it equals attention over the underlying view with every unselected key
 * evicted, and it reads only the exposed pages.
 *
 * <p>Suited to page-granular selections ({@link QuestAttention}): whole pages are read, so a
 * selection scattered over many pages saves little; {@link TokenSelectAttention} gathers its keys
 * instead. Per-page position and key bounds are the underlying page's (a superset of the selected
 * slots, so still valid bounds). Building it is O(selected pages); it does not copy the selection
 * passed to the package-private constructor, so it is valid only while that selection is unchanged.
 */
public final class SelectedKvView implements KeySubsetView {
    private final KvView base;
    private final int[] pages;
    private final int count;
    private final BitSet keys;
    private final boolean[] full;

    /**
     * @param base the underlying view
     * @param pages underlying page indices in increasing order, {@code count} of them used
     * @param keys selected key indices ({@code page * pageSize + slot}) of the underlying view
     */
    SelectedKvView(KvView base, int[] pages, int count, BitSet keys) {
        this.base = base;
        this.pages = pages;
        this.count = count;
        this.keys = keys;
        this.full = new boolean[count];
        int ps = base.pageSize();
        for (int i = 0; i < count; i++) {
            int from = pages[i] * ps;
            int n = base.pageLength(pages[i]);
            // Every used slot selected and valid: the kernels may skip the per-slot check.
            full[i] = keys.nextClearBit(from) >= from + n && base.allValid(pages[i]);
        }
    }

    /**
     * The view of {@code base} restricted to the keys in {@code selected} (key indices
     * {@code page * pageSize + slot}); the set is copied.
     */
    public static SelectedKvView of(KvView base, BitSet selected) {
        Objects.requireNonNull(base, "base");
        Objects.requireNonNull(selected, "selected");
        int ps = base.pageSize();
        int limit = base.pageCount() * ps;
        if (selected.length() > limit) {
            throw new IllegalArgumentException("SelectedKvView: selected key " + (selected.length() - 1)
                    + " outside the view's " + limit + " slots (" + base.pageCount() + " pages of " + ps + ")");
        }
        int[] pages = new int[base.pageCount()];
        int n = 0;
        for (int p = 0; p < base.pageCount(); p++) {
            int from = p * ps;
            int next = selected.nextSetBit(from);
            if (next >= 0 && next < from + base.pageLength(p)) {
                pages[n++] = p;
            }
        }
        return new SelectedKvView(base, pages, n, (BitSet) selected.clone());
    }

    @Override
    public KvView base() {
        return base;
    }

    /** Underlying page index of exposed page {@code page}. */
    public int basePage(int page) {
        return pages[page];
    }

    @Override
    public int baseKey(int page, int slot) {
        return pages[page] * base.pageSize() + slot;
    }

    @Override
    public int headDim() {
        return base.headDim();
    }

    @Override
    public DType dtype() {
        return base.dtype();
    }

    @Override
    public int pageSize() {
        return base.pageSize();
    }

    @Override
    public int pageCount() {
        return count;
    }

    @Override
    public int pageLength(int page) {
        return base.pageLength(pages[page]);
    }

    @Override
    public MemorySegment keys(int page) {
        return base.keys(pages[page]);
    }

    @Override
    public MemorySegment values(int page) {
        return base.values(pages[page]);
    }

    @Override
    public long position(int page, int slot) {
        return base.position(pages[page], slot);
    }

    @Override
    public boolean isValid(int page, int slot) {
        return keys.get(pages[page] * base.pageSize() + slot) && base.isValid(pages[page], slot);
    }

    @Override
    public boolean allValid(int page) {
        return full[page];
    }

    @Override
    public long pageMinPosition(int page) {
        return base.pageMinPosition(pages[page]);
    }

    @Override
    public long pageMaxPosition(int page) {
        return base.pageMaxPosition(pages[page]);
    }
}
