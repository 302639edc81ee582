/** The shared compute pool all kernels run on. */
package dev.longctx.core.parallel;
