package dev.longctx.core.rope;

/**
 * Which elements of a head form the 2-D pairs that RoPE rotates. Both layouts rotate the same
 * pairs by the same angles; they differ only in where the two halves of pair {@code i} live, so a
 * weight file must be used with the layout its Q/K projections were exported in.
 */
public enum RopePairing {
    /**
     * Pair {@code i} is {@code (x[2i], x[2i+1])}: the layout of GGUF llama tensors and llama.cpp's
     * "normal" RoPE mode (llama.cpp permutes the HF Q/K rows into this order at conversion).
     */
    ADJACENT,
    /**
     * Pair {@code i} is {@code (x[i], x[i + d/2])} with {@code d} the rotary dimension: the layout
     * of Hugging Face checkpoints ({@code rotate_half}) and of GPT-NeoX / llama.cpp "neox" mode.
     */
    ROTATE_HALF
}
