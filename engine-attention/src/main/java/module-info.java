/**
 * Attention kernels (exact, tiled, split-K decode, block-sparse, sink + window, top-k selected)
 * and the read-only KV view they run against. Lands with the attention issue.
 */
module dev.longctx.attention {
    requires transitive dev.longctx.core;
    exports dev.longctx.attention;
}
