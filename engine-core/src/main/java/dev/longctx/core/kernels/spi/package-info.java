/**
 * The kernel SPI, exported to longctx's own modules only: the {@code VectorKernels} interface,
 * which trusts its arguments, with its scalar reference ({@code ScalarKernels}) and the Vector API
 * implementation chosen by {@code KernelProvider}; the GGUF block codecs ({@code Quantization}) and
 * half-float conversions ({@code Halfs}); the matmul input descriptor.
 */
package dev.longctx.core.kernels.spi;
