/**
 * Benchmarks: JMH microbenchmarks of every kernel, the roofline probe (read bandwidth and FMA
 * peak measured from Java), and the quick core benchmark the README's first command runs.
 */
module dev.longctx.bench {
    requires dev.longctx.core;
    requires dev.longctx.models;
    requires jmh.core;
    requires org.slf4j;
    exports dev.longctx.bench;
}
