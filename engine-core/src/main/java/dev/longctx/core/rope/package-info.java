/** Rotary position embeddings (RoPE) with HF-compatible scaling variants. */
package dev.longctx.core.rope;
