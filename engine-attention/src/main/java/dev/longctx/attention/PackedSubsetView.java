package dev.longctx.attention;

import dev.longctx.core.tensor.DType;

/**
 * What {@link GatheredKvView} and {@link IndexedKvView} share: a selection of {@code count} keys of
 * a base view, in key-index order, presented as pages of the base's page size (virtual row
 * {@code i} is page {@code i / pageSize}, slot {@code i % pageSize}; every row valid, only the last
 * page short), with the base's dtype, head size and row stride, and each row's position. The
 * subclasses differ in where a row's bytes are read: copies in dense pages, or the base's own rows.
 *
 * <p>Not thread-safe to rebind; read-only between rebinds.
 */
abstract class PackedSubsetView implements KeySubsetView {
    private KvView base;
    private DType dtype;
    private int pageSize;
    private int headDim;
    private long rowBytes;
    private int count;
    /** Position of each virtual row (grown, never shrunk). */
    long[] positions = new long[0];

    /** Binds the view to {@code base} for a selection of {@code n} keys; grows {@link #positions} to hold them. */
    final void bind(KvView base, int n) {
        this.base = base;
        this.dtype = base.dtype();
        this.pageSize = base.pageSize();
        this.headDim = base.headDim();
        this.rowBytes = base.rowBytes();
        this.count = n;
        if (positions.length < n) {
            positions = new long[Math.max(n, 2 * positions.length)];
        }
    }

    @Override
    public final KvView base() {
        return base;
    }

    @Override
    public final int headDim() {
        return headDim;
    }

    @Override
    public final DType dtype() {
        return dtype;
    }

    @Override
    public final int pageSize() {
        return pageSize;
    }

    @Override
    public final int pageCount() {
        return (count + pageSize - 1) / pageSize;
    }

    @Override
    public final int pageLength(int page) {
        return Math.min(pageSize, count - page * pageSize);
    }

    @Override
    public final long position(int page, int slot) {
        return positions[page * pageSize + slot];
    }

    @Override
    public final boolean isValid(int page, int slot) {
        return slot < pageLength(page);
    }

    @Override
    public final boolean allValid(int page) {
        return true;
    }

    @Override
    public final int length() {
        return count;
    }

    /** The base's row stride: the rows are the base's (read in place or copied at the same stride). */
    @Override
    public final long rowBytes() {
        return rowBytes;
    }
}
