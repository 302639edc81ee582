/**
 * Kernels: the {@link dev.longctx.core.kernels.VectorKernels} interface with a scalar reference
 * and a Vector API implementation chosen by {@link dev.longctx.core.kernels.KernelProvider}, and
 * {@link dev.longctx.core.kernels.TensorOps}, which validates shapes and spreads work over the
 * {@link dev.longctx.core.parallel.ComputePool}.
 */
package dev.longctx.core.kernels;
