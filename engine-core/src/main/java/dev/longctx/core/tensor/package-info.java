/** Tensors over {@link java.lang.foreign.MemorySegment}, GGUF dtypes, quantisation and memory-mapped files. */
package dev.longctx.core.tensor;
