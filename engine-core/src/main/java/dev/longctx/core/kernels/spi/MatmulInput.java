package dev.longctx.core.kernels.spi;

/**
 * Activations {@code x} [tokens, cols] prepared once for several {@link dev.longctx.core.kernels.TensorOps#matmul} calls
 * that share them (Q, K and V projections; gate and up). Above the small-batch cutoff (16 tokens,
 * {@code TensorOps.SMALL_BATCH_MAX_TOKENS}), preparing means transposing into the blocked
 * layout of {@link VectorKernels#matmulRowsTransposed}; up to it {@code transposed} is null and
 * the kernels read {@code x} directly.
 *
 * <p>Invariant: {@code transposed}, when present, is {@code x} in that layout with row stride
 * {@code stride}; the caller must not change {@code x} while the input is in use.
 *
 * @param x row-major activations
 * @param tokens rows of {@code x}
 * @param cols columns of {@code x}
 * @param transposed blocked transpose of {@code x}, or null below the transposition threshold
 * @param stride tokens rounded up to {@link VectorKernels#TRANSPOSED_TOKEN_MULTIPLE}
 */
public record MatmulInput(float[] x, int tokens, int cols, float[] transposed, int stride) {
}
