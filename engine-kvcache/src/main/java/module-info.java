/**
 * Paged KV cache: a block pool of fixed-size pages under a byte budget, per-sequence block tables
 * with copy-on-write forks, the {@code KvView} the attention kernels read, eviction policies
 * (StreamingLLM, H2O, SnapKV, retrieval-head split) and head profiles.
 */
module dev.longctx.kvcache {
    requires transitive dev.longctx.attention;
    requires com.fasterxml.jackson.databind;
    requires org.slf4j;
    exports dev.longctx.kvcache;
}
