/**
 * Benchmarks: JMH microbenchmarks of every kernel, the roofline probe (read bandwidth and FMA
 * peak measured from Java), and the quick core benchmark the README's first command runs.
 *
 * <p>JMH instantiates the {@code @State} classes and its generated code
 * ({@code dev.longctx.bench.jmh_generated}) reflectively, so both packages are opened to it when
 * the benchmarks run on the module path. The shaded {@code benchmarks.jar} strips this descriptor
 * and runs on the class path.
 */
module dev.longctx.bench {
    requires dev.longctx.core;
    requires dev.longctx.models;
    requires dev.longctx.cli;
    requires dev.longctx.server;
    requires java.net.http; // bench-http's client
    requires dev.longctx.attention;
    requires dev.longctx.kvcache;
    requires jdk.incubator.vector;
    requires jmh.core;
    requires org.slf4j;
    requires info.picocli;
    requires org.knowm.xchart;
    requires java.desktop;
    requires jdk.management; // allocation counters (the decode allocation check)
    requires jdk.jfr; // compilation events (the compiled-kernels check)
    requires com.fasterxml.jackson.databind;

    exports dev.longctx.bench;
    opens dev.longctx.bench to jmh.core, info.picocli;
    opens dev.longctx.bench.jmh_generated to jmh.core;
}
