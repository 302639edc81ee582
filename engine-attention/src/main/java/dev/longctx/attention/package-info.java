/**
 * Attention kernels and the {@code KvView} they read. Not implemented yet: see the attention issue.
 */
package dev.longctx.attention;
