package dev.longctx.spark;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.models.Model;
import dev.longctx.models.serving.EngineStats;
import dev.longctx.models.serving.ServingEngine;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkEnv;
import org.apache.spark.SparkFiles;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The serving engines of this JVM (a Spark executor, or the driver in local mode): one per
 * {@link EngineSettings}, opened on first use by the first task that needs it and shared by every
 * later task of the JVM, so that the documents of concurrent tasks are batched together in one
 * engine. Engines live until {@link #closeAll()} or the JVM's shutdown; nothing here is ever
 * serialised or broadcast (the model file is memory-mapped by each JVM from its own path).
 *
 * <p>Each engine gets a compute pool of its own ({@link ExecutorThreads}: the settings' threads,
 * else {@code spark.executor.cores}, else the {@code local[N]} master, else the processors), closed
 * with it.
 *
 * <p>Threading: thread-safe. Opening is serialised (a task that finds an engine being opened waits
 * for it); {@link #closeAll()} must not race with running tasks: call it between jobs.
 */
public final class ExecutorEngines {
    private static final Logger LOG = LoggerFactory.getLogger(ExecutorEngines.class);
    private static final Map<EngineSettings, Opened> ENGINES = new ConcurrentHashMap<>();
    private static final Object OPEN_LOCK = new Object();
    private static boolean hookInstalled;

    private ExecutorEngines() {
    }

    /** One engine and what it owns, closed in reverse order. */
    private record Opened(Model model, ServingEngine engine, ComputePool pool, Path path, int threads) {
        void close() {
            try {
                engine.close();
            } finally {
                try {
                    model.close();
                } finally {
                    pool.close();
                }
            }
        }
    }

    /**
     * The engine for {@code settings}, opened now if this JVM has none.
     *
     * @throws EngineOpenException when the model cannot be found, read or served here
     */
    static ServingEngine acquire(EngineSettings settings) {
        Opened o = ENGINES.get(settings);
        if (o != null) {
            return o.engine();
        }
        synchronized (OPEN_LOCK) {
            o = ENGINES.get(settings);
            if (o == null) {
                o = open(settings);
                ENGINES.put(settings, o);
                installShutdownHook();
            }
            return o.engine();
        }
    }

    /** Engines open in this JVM. */
    public static int openEngines() {
        return ENGINES.size();
    }

    /** The compute threads of the engine for {@code settings} in this JVM, if it is open. */
    public static Optional<Integer> threads(EngineSettings settings) {
        Opened o = ENGINES.get(settings);
        return o == null ? Optional.empty() : Optional.of(o.threads());
    }

    /** A snapshot of the engine for {@code settings} in this JVM (queue, pages, token counters), if it is open. */
    public static Optional<EngineStats> stats(EngineSettings settings) {
        Opened o = ENGINES.get(settings);
        return o == null ? Optional.empty() : Optional.of(o.engine().stats());
    }

    /**
     * Closes every engine of this JVM, its model and its compute pool, freeing the KV pages and
     * unmapping the weights. For local mode and notebooks between jobs; an executor's engines are
     * also closed when its JVM shuts down. Tasks running at the time fail.
     */
    public static void closeAll() {
        synchronized (OPEN_LOCK) {
            List<Opened> all = new ArrayList<>(ENGINES.values());
            ENGINES.clear();
            for (Opened o : all) {
                try {
                    o.close();
                    LOG.info("closed the serving engine of {}", o.path());
                } catch (RuntimeException e) {
                    LOG.warn("closing the serving engine of {} failed: {}", o.path(), e.toString());
                }
            }
        }
    }

    private static Opened open(EngineSettings s) {
        Path path = resolve(s);
        SparkEnv env = SparkEnv.get();
        String cores = env == null ? null : env.conf().get("spark.executor.cores", null);
        String master = env == null ? null : env.conf().get("spark.master", null);
        int threads = ExecutorThreads.resolve(s.threads(), cores, master, Runtime.getRuntime().availableProcessors());
        ComputePool pool = ComputePool.create(threads);
        Model model = null;
        try {
            model = Model.open(path, Model.Options.defaults().withOps(new TensorOps(TensorOps.defaults().kernels(), pool)));
            ServingEngine engine = ServingEngine.builder(model)
                    .budgetBytes(s.kvBudgetBytes())
                    .maxRunning(s.maxRunning())
                    .maxQueue(s.maxQueue())
                    .chunkTokens(s.chunkTokens())
                    .stepTokens(s.stepTokens())
                    .name("spark-" + path.getFileName())
                    .build();
            LOG.info("opened {} for Spark tasks on {}: {} compute threads, KV budget {} bytes, up to {} sequences per step",
                    model, host(), threads, s.kvBudgetBytes(), s.maxRunning());
            return new Opened(model, engine, pool, path, threads);
        } catch (RuntimeException | Error e) {
            if (model != null) {
                model.close();
            }
            pool.close();
            throw new EngineOpenException("executor " + host() + " could not open the model " + path + " ("
                    + (s.sparkFile() ? "SparkFiles.get(\"" + s.model() + "\")" : "a path every executor must be able to read")
                    + "): " + e, e);
        }
    }

    private static Path resolve(EngineSettings s) {
        if (!s.sparkFile()) {
            return Path.of(s.model());
        }
        Path p;
        try {
            p = Path.of(SparkFiles.get(s.model()));
        } catch (RuntimeException e) {
            throw new EngineOpenException("executor " + host() + " cannot resolve SparkFiles.get(\"" + s.model()
                    + "\") (is this running inside Spark?): " + e, e);
        }
        if (!Files.exists(p)) {
            throw new EngineOpenException("executor " + host() + ": no file \"" + s.model() + "\" among the Spark files ("
                    + p + "); ship it with SparkContext.addFile or spark-submit --files first", null);
        }
        return p;
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            return "(unknown host)";
        }
    }

    private static void installShutdownHook() {
        if (!hookInstalled) {
            hookInstalled = true;
            Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().name("longctx-engines-shutdown").unstarted(ExecutorEngines::closeAll));
        }
    }
}
