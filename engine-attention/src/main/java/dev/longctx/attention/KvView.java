package dev.longctx.attention;

import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;

/**
 * The read-only view an attention kernel runs against: the cached keys and values of one layer
 * and one KV head, as an ordered sequence of pages.
 *
 * <p><b>Layout.</b> Page {@code p} holds up to {@link #pageSize()} slots; the first
 * {@link #pageLength(int) pageLength(p)} are in use. Its keys are {@code pageSize} rows of
 * {@link #headDim()} elements of {@link #dtype()} ({@code dtype().bytesFor(headDim)} bytes per row,
 * row {@code s} at byte {@code s * rowBytes}), and so are its values. Kernels read pages in place.
 *
 * <p><b>Key index.</b> Kernels and observers name a key by {@code page * pageSize() + slot}.
 *
 * <p><b>Invariants</b> (implementations guarantee them; kernels rely on them to skip masked
 * pages): positions of valid slots strictly increase in view order (page by page, slot by slot);
 * {@link #pageMinPosition} and {@link #pageMaxPosition} bound the positions of a page's valid
 * slots. Invalid slots (evicted) are never attended and never reported to observers.
 */
public interface KvView {

    /** Elements per key and per value vector. */
    int headDim();

    /** Element type of the pages: F32, F16, BF16 or Q8_0. */
    DType dtype();

    /** Slots per page. */
    int pageSize();

    /** Number of pages. */
    int pageCount();

    /** Slots in use in page {@code page} (0..pageSize). */
    int pageLength(int page);

    /** Keys of page {@code page}: {@code pageSize} rows in {@link #dtype()}. */
    MemorySegment keys(int page);

    /** Values of page {@code page}: {@code pageSize} rows in {@link #dtype()}. */
    MemorySegment values(int page);

    /** Position of the token in slot {@code slot} of page {@code page} (what masks compare). */
    long position(int page, int slot);

    /** False for slots whose token was evicted. */
    boolean isValid(int page, int slot);

    /** True when every used slot of the page is valid (lets kernels skip per-slot checks). */
    default boolean allValid(int page) {
        int n = pageLength(page);
        for (int s = 0; s < n; s++) {
            if (!isValid(page, s)) {
                return false;
            }
        }
        return true;
    }

    /** Smallest position among the page's used slots. */
    default long pageMinPosition(int page) {
        return position(page, 0);
    }

    /** Largest position among the page's used slots. */
    default long pageMaxPosition(int page) {
        return position(page, pageLength(page) - 1);
    }

    /**
     * Quest's per-page key bounds of every page at once, or null when the view does not maintain
     * them: page {@code p}'s per-channel minimum of its stored keys is
     * {@code keyBounds().min()[p * headDim() + c]}, its maximum likewise in {@code max()}. The
     * bounds cover every stored key of the page (evicted ones may be included), so for any valid
     * key they hold. One contiguous pair of arrays, so that a scan over thousands of pages reads
     * them as a stream instead of chasing per-page objects (at 64K tokens that chase cost Quest
     * about 0.5 us per page). The arrays belong to the view: read-only, and valid until the
     * cache behind it is next written.
     */
    default PageKeyBounds keyBounds() {
        return null;
    }

    /** Per-channel minimum of page {@code page}'s keys (a copy), or null; see {@link #keyBounds}. */
    default float[] keyMin(int page) {
        PageKeyBounds b = keyBounds();
        return b == null ? null : java.util.Arrays.copyOfRange(b.min(), page * headDim(), (page + 1) * headDim());
    }

    /** Per-channel maximum of page {@code page}'s keys (a copy), or null; see {@link #keyBounds}. */
    default float[] keyMax(int page) {
        PageKeyBounds b = keyBounds();
        return b == null ? null : java.util.Arrays.copyOfRange(b.max(), page * headDim(), (page + 1) * headDim());
    }

    /** Number of used slots over all pages (valid or not). */
    default int length() {
        int n = 0;
        for (int p = 0; p < pageCount(); p++) {
            n += pageLength(p);
        }
        return n;
    }

    /** Bytes of one key or value row. */
    default long rowBytes() {
        return dtype().bytesFor(headDim());
    }
}
