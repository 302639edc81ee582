/**
 * Attention kernels and the read-only {@link dev.longctx.attention.KvView} they run against.
 *
 * <p>{@link dev.longctx.attention.NaiveAttention} is the oracle; every other kernel is tested
 * against it with the equivalent explicit mask. Partial results combine with
 * {@link dev.longctx.attention.PartialState#merge}.
 */
package dev.longctx.attention;
