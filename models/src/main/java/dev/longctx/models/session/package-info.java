/**
 * Sessions: a model, a long-context strategy and a KV budget; chunked prefill with progress and
 * generation with streaming tokens and stop conditions.
 */
package dev.longctx.models.session;
