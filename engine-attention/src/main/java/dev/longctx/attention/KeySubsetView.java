package dev.longctx.attention;

/**
 * A {@link KvView} that exposes a subset of another view's keys, and can name, for each of its
 * slots, the key of the underlying view it stands for. The selected kernels run exact attention on
 * such a view and translate what the observer sees back to the underlying view's key indices.
 */
interface KeySubsetView extends KvView {

    /** The underlying view. */
    KvView base();

    /** Key index ({@code page * pageSize + slot}) in {@link #base()} of slot {@code slot} of page {@code page}. */
    int baseKey(int page, int slot);
}
