/** Benchmarks of the engine's kernels and the machine's roofline. */
package dev.longctx.bench;
