/**
 * Paged KV cache and eviction policies. Not implemented yet: see the KV-cache issue.
 */
package dev.longctx.kvcache;
