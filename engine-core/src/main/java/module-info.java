/**
 * The tensor core of longctx: tensors over {@link java.lang.foreign.MemorySegment}, GGUF-compatible
 * dtypes, vectorised kernels behind a provider interface, RoPE, sampling and the shared compute pool.
 *
 * <p>The Vector API ({@code jdk.incubator.vector}) is an optional dependency: when the module is
 * not resolvable at run time, the scalar kernels are used and the reason is logged.
 */
module dev.longctx.core {
    requires static jdk.incubator.vector;
    requires java.management;
    requires org.slf4j;

    exports dev.longctx.core.tensor;
    exports dev.longctx.core.kernels;
    // One top-k rule (NaN ranks highest, ties to the lower index) for every selecting strategy.
    exports dev.longctx.core.select to dev.longctx.attention, dev.longctx.kvcache, dev.longctx.models, dev.longctx.bench;
    // The unchecked kernel layer (it trusts its arguments; TensorOps is the checked public face),
    // the block codecs and the provider choice: for our own modules only.
    exports dev.longctx.core.kernels.spi to dev.longctx.attention, dev.longctx.kvcache, dev.longctx.models, dev.longctx.cli,
            dev.longctx.bench;
    exports dev.longctx.core.parallel;
    exports dev.longctx.core.rope;
    exports dev.longctx.core.sampling;
}
