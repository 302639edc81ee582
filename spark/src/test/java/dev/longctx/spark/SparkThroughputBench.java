package dev.longctx.spark;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.models.Model;
import dev.longctx.models.serving.Request;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.GenerateOptions;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Documents per second through Spark local mode against the same documents through one serving
 * engine called directly (every document submitted at once), with the same engine settings
 * (threads, KV budget, sequences per step). Each round has documents of its own (no prefix-cache
 * hits from an earlier round), run both ways, the order alternating from round to round. Not a
 * test: a measurement (docs/distributed.md gives the command and the figures).
 *
 * <p>Besides documents per second of wall time it prints documents per CPU-second of the whole
 * process (less disturbed by other processes on a shared machine), the engine steps of each run
 * (equal when both batch alike), and the wall time of the same Spark job without inference (an
 * identity {@code mapPartitions}): Spark's own cost per job. {@code -Dbench.threads} also prints
 * the CPU time of each thread group during each Spark run.
 *
 * <p>Arguments: {@code [model] [documents] [outputTokens] [rounds] [master]}, defaults:
 * stories260K, 256, 32, 5, {@code local[2]} (one partition per core of the master).
 */
public final class SparkThroughputBench {
    private static final StructType SCHEMA = new StructType().add("id", DataTypes.IntegerType).add("text", DataTypes.StringType);

    private SparkThroughputBench() {
    }

    public static void main(String[] args) throws Exception {
        Path model = args.length > 0 ? Path.of(args[0]) : Fixtures.stories();
        int docs = args.length > 1 ? Integer.parseInt(args[1]) : 256;
        int outTokens = args.length > 2 ? Integer.parseInt(args[2]) : 32;
        int rounds = args.length > 3 ? Integer.parseInt(args[3]) : 5;
        String master = args.length > 4 ? args[4] : "local[2]";
        int threads = ExecutorThreads.resolve(0, null, master, Runtime.getRuntime().availableProcessors());

        GenerateOptions options = GenerateOptions.greedy(outTokens).withStopIds(List.of()); // every document generates outTokens
        EngineSettings settings = EngineSettings.ofPath(model.toString()).withThreads(threads).withKvBudgetBytes(256L << 20);
        SparkSession spark = SparkSession.builder().master(master).appName("longctx-throughput")
                .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
                .getOrCreate();
        DocumentInference inference = DocumentInference.builder(settings).textColumn("text").options(options).build();

        ComputePool pool = ComputePool.create(threads);
        try (Model m = Model.open(model, Model.Options.defaults().withOps(new TensorOps(TensorOps.defaults().kernels(), pool)));
             ServingEngine engine = ServingEngine.builder(m).budgetBytes(settings.kvBudgetBytes()).maxRunning(settings.maxRunning())
                     .maxQueue(Math.max(settings.maxQueue(), docs)).chunkTokens(settings.chunkTokens())
                     .stepTokens(settings.stepTokens()).build()) {
            // Warm-up: both engines open and compiled, on documents of no round.
            List<String> warm = documents(-1, Math.min(64, docs));
            direct(engine, warm, options);
            inference.transform(frame(spark, warm)).write().format("noop").mode("overwrite").save();

            double[] d = new double[rounds];
            double[] s = new double[rounds];
            double[] dCpu = new double[rounds];
            double[] sCpu = new double[rounds];
            double[] identity = new double[rounds];
            long promptTokens = 0;
            for (int r = 0; r < rounds; r++) {
                List<String> round = documents(r, docs);
                for (String doc : round) {
                    promptTokens += m.tokenizer().encode(doc).length;
                }
                Dataset<Row> frame = frame(spark, round);
                long dSteps = 0;
                long sSteps = 0;
                for (int k = 0; k < 2; k++) { // direct first in even rounds, Spark first in odd ones
                    long t0 = System.nanoTime();
                    long c0 = cpuNanos();
                    if ((k + r) % 2 == 0) {
                        long steps0 = engine.stats().steps();
                        direct(engine, round, options);
                        d[r] = docs / ((System.nanoTime() - t0) / 1e9);
                        dCpu[r] = docs / ((cpuNanos() - c0) / 1e9);
                        dSteps = engine.stats().steps() - steps0;
                    } else {
                        Map<String, Long> threads0 = threadCpu();
                        long steps0 = ExecutorEngines.stats(settings).orElseThrow().steps();
                        inference.transform(frame).write().format("noop").mode("overwrite").save();
                        s[r] = docs / ((System.nanoTime() - t0) / 1e9);
                        sCpu[r] = docs / ((cpuNanos() - c0) / 1e9);
                        sSteps = ExecutorEngines.stats(settings).orElseThrow().steps() - steps0;
                        if (System.getProperty("bench.threads") != null) {
                            printThreads(threads0, threadCpu());
                        }
                    }
                }
                long t0 = System.nanoTime();
                frame.mapPartitions((MapPartitionsFunction<Row, Row>) it -> it, Encoders.row(SCHEMA))
                        .write().format("noop").mode("overwrite").save();
                identity[r] = (System.nanoTime() - t0) / 1e6;
                System.out.printf(Locale.ROOT, "round %d: direct %.1f docs/s (%.1f per CPU-second, %d engine steps), spark %s %.1f "
                                + "docs/s (%.1f per CPU-second, %d engine steps), ratio %.3f (per CPU-second %.3f); the Spark job "
                                + "without inference %.0f ms%n", r + 1, d[r], dCpu[r], dSteps, master, s[r], sCpu[r], sSteps,
                        s[r] / d[r], sCpu[r] / dCpu[r], identity[r]);
            }
            double[] ratio = new double[rounds];
            double[] cpuRatio = new double[rounds];
            for (int r = 0; r < rounds; r++) {
                ratio[r] = s[r] / d[r];
                cpuRatio[r] = sCpu[r] / dCpu[r];
            }
            System.out.printf(Locale.ROOT, "%d rounds of %d documents (%.0f prompt tokens on average), %d output tokens each, %d engine "
                            + "threads, %s: median direct %.1f docs/s, median spark %.1f docs/s; spark/direct per round: median %.3f "
                            + "(min %.3f, max %.3f); per CPU-second: median %.3f (min %.3f, max %.3f); Spark job without inference: "
                            + "median %.0f ms%n", rounds, docs, promptTokens / (double) (rounds * docs), outTokens, threads, master,
                    median(d), median(s), median(ratio), min(ratio), max(ratio), median(cpuRatio), min(cpuRatio), max(cpuRatio),
                    median(identity));
        } finally {
            pool.close();
            ExecutorEngines.closeAll();
            spark.stop();
        }
    }

    /** The documents of round {@code round}: about 60 to 560 prompt tokens, none shared with another round. */
    private static List<String> documents(int round, int n) {
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            out.add(Fixtures.document(1_000_003 * (round + 2) + i, 4 + (i * 13) % 37));
        }
        return out;
    }

    /** A local data frame of {@code documents}: one partition per core of the master, no shuffle. */
    private static Dataset<Row> frame(SparkSession spark, List<String> documents) {
        List<Row> rows = new ArrayList<>(documents.size());
        for (int i = 0; i < documents.size(); i++) {
            rows.add(RowFactory.create(i, documents.get(i)));
        }
        return spark.createDataFrame(rows, SCHEMA);
    }

    /** Submits every document at once to the engine and waits for all. */
    private static void direct(ServingEngine engine, List<String> documents, GenerateOptions options) {
        List<RequestHandle> handles = new ArrayList<>(documents.size());
        for (String doc : documents) {
            handles.add(engine.submit(Request.text(doc).options(options).build()));
        }
        for (RequestHandle h : handles) {
            h.join();
        }
    }

    /** CPU time of every thread of this process (Spark's included). */
    private static long cpuNanos() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getProcessCpuTime();
    }

    /** CPU time per thread name, digits folded (a pool's threads summed). */
    private static Map<String, Long> threadCpu() {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        Map<String, Long> out = new HashMap<>();
        for (long id : mx.getAllThreadIds()) {
            ThreadInfo info = mx.getThreadInfo(id);
            long t = mx.getThreadCpuTime(id);
            if (info != null && t > 0) {
                out.merge(info.getThreadName().replaceAll("\\d+", "N"), t, Long::sum);
            }
        }
        return out;
    }

    private static void printThreads(Map<String, Long> before, Map<String, Long> after) {
        after.entrySet().stream()
                .map(e -> Map.entry(e.getKey(), e.getValue() - before.getOrDefault(e.getKey(), 0L)))
                .filter(e -> e.getValue() > 5_000_000)
                .sorted((a, b) -> Long.compare(b.getValue(), a.getValue()))
                .forEach(e -> System.out.printf(Locale.ROOT, "  %-50s %8.1f ms CPU%n", e.getKey(), e.getValue() / 1e6));
    }

    private static double median(double[] v) {
        double[] c = v.clone();
        Arrays.sort(c);
        return c[c.length / 2];
    }

    private static double min(double[] v) {
        return Arrays.stream(v).min().orElse(Double.NaN);
    }

    private static double max(double[] v) {
        return Arrays.stream(v).max().orElse(Double.NaN);
    }
}
