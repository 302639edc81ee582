/**
 * Selection utilities shared by the attention kernels and KV-cache policies (exported to
 * longctx's own modules only): {@link dev.longctx.core.select.TopK}, one ranking rule for every
 * top-k choice.
 */
package dev.longctx.core.select;
