/**
 * Kernels: {@link dev.longctx.core.kernels.TensorOps} validates shapes and dtypes and spreads the
 * work of the vector kernels over the {@link dev.longctx.core.parallel.ComputePool}. The kernels
 * themselves (a scalar reference and a Vector API implementation behind one interface, chosen
 * once at start-up) are internal: {@code -Dlongctx.vector=scalar|panama|auto} forces the choice.
 */
package dev.longctx.core.kernels;
