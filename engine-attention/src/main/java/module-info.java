/**
 * Attention kernels (naive reference, tiled exact, split-K decode, block-sparse with MInference
 * estimators, sink + window, Quest and TokenSelect top-k, selections persisted across layers or steps) and the read-only KV view they run
 * against, with the exact merge of partial softmax states.
 */
module dev.longctx.attention {
    requires transitive dev.longctx.core;
    exports dev.longctx.attention;
}
