/**
 * Paged KV cache, block pool, eviction policies and head profiles. Lands with the KV-cache issue.
 */
module dev.longctx.kvcache {
    requires transitive dev.longctx.attention;
    requires com.fasterxml.jackson.databind;
    requires org.slf4j;
    exports dev.longctx.kvcache;
}
