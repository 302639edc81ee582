package dev.longctx.spark;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.models.Model;
import dev.longctx.models.serving.Request;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Documents per second through Spark local mode against the same documents through one serving
 * engine called directly, with the same engine settings (threads, KV budget, sequences per step),
 * alternating the two a few times in one JVM. Not a test: a measurement (docs/distributed.md gives
 * the command and the figures). Besides documents per second of wall time it prints documents per
 * CPU-second of the whole process, which other processes on a shared machine disturb less.
 *
 * <p>Arguments: {@code [model] [documents] [outputTokens] [rounds] [master] [partitions]},
 * defaults: stories260K, 256, 32, 5, {@code local[2]}, 2.
 */
public final class SparkThroughputBench {
    private SparkThroughputBench() {
    }

    public static void main(String[] args) throws Exception {
        Path model = args.length > 0 ? Path.of(args[0]) : Fixtures.stories();
        int docs = args.length > 1 ? Integer.parseInt(args[1]) : 256;
        int outTokens = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        String master = args.length > 4 ? args[4] : "local[2]";
        int partitions = args.length > 5 ? Integer.parseInt(args[5]) : 2;
        int threads = ExecutorThreads.resolve(0, null, master, Runtime.getRuntime().availableProcessors());

        List<String> documents = new ArrayList<>();
        for (int i = 0; i < docs; i++) {
            documents.add(Fixtures.document(i, 4 + (i * 13) % 37)); // about 60..560 prompt tokens
        }
        GenerateOptions options = GenerateOptions.greedy(outTokens).withStopIds(List.of()); // every document generates outTokens
        EngineSettings settings = EngineSettings.ofPath(model.toString()).withThreads(threads).withKvBudgetBytes(256L << 20);

        SparkSession spark = SparkSession.builder().master(master).appName("longctx-throughput")
                .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate();
        StructType schema = new StructType().add("id", DataTypes.IntegerType).add("text", DataTypes.StringType);
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < docs; i++) {
            rows.add(RowFactory.create(i, documents.get(i)));
        }
        Dataset<Row> input = spark.createDataFrame(rows, schema).repartition(partitions).cache();
        input.count();
        DocumentInference inference = DocumentInference.builder(settings).textColumn("text").options(options).build();

        ComputePool pool = ComputePool.create(threads);
        try (Model m = Model.open(model, Model.Options.defaults().withOps(new TensorOps(TensorOps.defaults().kernels(), pool)));
             ServingEngine engine = ServingEngine.builder(m).budgetBytes(settings.kvBudgetBytes()).maxRunning(settings.maxRunning())
                     .maxQueue(Math.max(settings.maxQueue(), docs)).chunkTokens(settings.chunkTokens())
                     .stepTokens(settings.stepTokens()).build()) {
            // Warm-up: both engines open, JIT compiled.
            direct(engine, documents.subList(0, Math.min(32, docs)), options);
            inference.transform(input.limit(32)).write().format("noop").mode("overwrite").save();

            double[] d = new double[rounds];
            double[] s = new double[rounds];
            double[] dCpu = new double[rounds];
            double[] sCpu = new double[rounds];
            long[] dSteps = new long[rounds];
            long[] sSteps = new long[rounds];
            for (int r = 0; r < rounds; r++) {
                long generated = 0;
                for (int k = 0; k < 2; k++) { // direct first in odd rounds, Spark first in even ones
                    long t0 = System.nanoTime();
                    long c0 = cpuNanos();
                    if ((k + r) % 2 == 0) {
                        long steps0 = engine.stats().steps();
                        generated = direct(engine, documents, options);
                        d[r] = docs / ((System.nanoTime() - t0) / 1e9);
                        dCpu[r] = docs / ((cpuNanos() - c0) / 1e9);
                        dSteps[r] = engine.stats().steps() - steps0;
                    } else {
                        long steps0 = ExecutorEngines.stats(settings).orElseThrow().steps();
                        inference.transform(input).write().format("noop").mode("overwrite").save();
                        s[r] = docs / ((System.nanoTime() - t0) / 1e9);
                        sCpu[r] = docs / ((cpuNanos() - c0) / 1e9);
                        sSteps[r] = ExecutorEngines.stats(settings).orElseThrow().steps() - steps0;
                    }
                }
                System.out.printf(Locale.ROOT, "round %d: direct %.1f docs/s (%.1f per CPU-second, %d engine steps; %d tokens generated), "
                                + "spark %s %.1f docs/s (%.1f per CPU-second, %d engine steps), ratio %.3f (per CPU-second %.3f)%n",
                        r + 1, d[r], dCpu[r], dSteps[r], generated, master, s[r], sCpu[r], sSteps[r], s[r] / d[r], sCpu[r] / dCpu[r]);
            }
            long t0 = System.nanoTime();
            long promptTokens = 0;
            for (String doc : documents) {
                promptTokens += m.tokenizer().encode(doc).length;
            }
            System.out.printf(Locale.ROOT, "tokenizing the %d documents (%d prompt tokens) on one thread: %.1f ms%n", docs, promptTokens,
                    (System.nanoTime() - t0) / 1e6);
            double[] ratio = new double[rounds];
            double[] cpuRatio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                ratio[r] = s[r] / d[r];
                cpuRatio[r] = sCpu[r] / dCpu[r];
            }
            Arrays.sort(cpuRatio);
            Arrays.sort(d);
            Arrays.sort(s);
            Arrays.sort(ratio);
            System.out.printf(Locale.ROOT, "%d documents, %d output tokens each, %d engine threads, %d partitions, %d rounds: median "
                            + "direct %.1f docs/s, median spark %.1f docs/s; spark/direct per round: median %.3f (min %.3f, max %.3f)%n",
                    docs, outTokens, threads, partitions, rounds, d[rounds / 2], s[rounds / 2], ratio[rounds / 2], ratio[0],
                    ratio[rounds - 1]);
            System.out.printf(Locale.ROOT, "documents per CPU-second of the process, spark/direct per round: median %.3f (min %.3f, "
                    + "max %.3f)%n", cpuRatio[rounds / 2], cpuRatio[0], cpuRatio[rounds - 1]);
        } finally {
            pool.close();
            ExecutorEngines.closeAll();
            spark.stop();
        }
    }

    /** CPU time of every thread of this process (Spark's included). */
    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getProcessCpuTime();
    }

    /** Submits every document at once to the engine and waits for all; returns the tokens generated. */
    private static long direct(ServingEngine engine, List<String> documents, GenerateOptions options) {
        List<RequestHandle> handles = new ArrayList<>(documents.size());
        for (String doc : documents) {
            handles.add(engine.submit(Request.text(doc).options(options).build()));
        }
        long tokens = 0;
        for (RequestHandle h : handles) {
            Generation g = h.join();
            tokens += g.outputIds().length;
        }
        return tokens;
    }
}
