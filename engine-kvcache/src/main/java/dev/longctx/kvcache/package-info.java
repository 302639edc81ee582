/**
 * The paged KV cache: a {@link dev.longctx.kvcache.BlockPool} of fixed-size per-head pages within a
 * byte budget, shared by {@link dev.longctx.kvcache.SequenceKvCache sequences} that append,
 * fork (copy-on-write) and expose their pages to the attention kernels as
 * {@link dev.longctx.attention.KvView}s. Eviction policies ({@link dev.longctx.kvcache.EvictionPolicy}:
 * StreamingLLM, H2O, SnapKV, the retrieval-head split) decide what each sequence keeps.
 */
package dev.longctx.kvcache;
