package dev.longctx.spark;

import java.io.Serializable;
import java.util.Objects;

/**
 * Where an executor finds the model and how its serving engine is sized. Only these settings
 * travel with a Spark job (they are {@link Serializable}); the model and the engine are opened on
 * each executor from them, once per JVM ({@link ExecutorEngines}), and are never serialised.
 *
 * <pre>{@code
 * EngineSettings.ofPath("/mnt/models/qwen2.5-0.5b-instruct-q8_0.gguf")   // a path every executor can read
 *         .withThreads(8).withKvBudgetBytes(4L << 30).withMaxRunning(32);
 * EngineSettings.ofSparkFile("model.gguf");      // shipped with SparkContext.addFile, found with SparkFiles.get
 * }</pre>
 *
 * <p>Threading: an immutable value.
 *
 * @param model a filesystem path (GGUF file, Hugging Face folder or llama2.c checkpoint) or, with
 *     {@code sparkFile}, the name given to {@code SparkContext.addFile}
 * @param sparkFile whether {@code model} is resolved with {@code SparkFiles.get} on the executor
 * @param threads compute threads of the engine; 0 derives them on the executor from
 *     {@code spark.executor.cores} (or the {@code local[N]} master), else the JVM's processors
 * @param kvBudgetBytes bytes of KV pages the engine may use for all its sequences (off-heap: count
 *     it in {@code spark.executor.memoryOverhead})
 * @param maxRunning sequences batched together in one engine step
 * @param maxQueue requests waiting in the engine (all tasks of the executor together)
 * @param chunkTokens prompt tokens per prefill chunk
 * @param stepTokens token rows per engine step
 */
public record EngineSettings(String model, boolean sparkFile, int threads, long kvBudgetBytes, int maxRunning, int maxQueue,
                             int chunkTokens, int stepTokens) implements Serializable {
    private static final long serialVersionUID = 1L;

    /** Default KV budget per executor: 1 GiB. */
    public static final long DEFAULT_KV_BUDGET_BYTES = 1L << 30;

    /** Validates every field, naming the one that is wrong. */
    public EngineSettings {
        Objects.requireNonNull(model, "model");
        if (model.isBlank()) {
            throw new IllegalArgumentException("the model path or SparkFiles name is blank");
        }
        if (threads < 0) {
            throw new IllegalArgumentException("threads must be >= 0 (0 = from the executor's cores), got " + threads);
        }
        positive("kvBudgetBytes", kvBudgetBytes);
        positive("maxRunning", maxRunning);
        positive("maxQueue", maxQueue);
        positive("chunkTokens", chunkTokens);
        positive("stepTokens", stepTokens);
    }

    /** A model at {@code path} on a filesystem every executor mounts (or the local disk in local mode). */
    public static EngineSettings ofPath(String path) {
        return new EngineSettings(path, false, 0, DEFAULT_KV_BUDGET_BYTES, 16, 1024, 256, 512);
    }

    /** A model shipped with {@code SparkContext.addFile(...)} under the file name {@code name}. */
    public static EngineSettings ofSparkFile(String name) {
        return new EngineSettings(name, true, 0, DEFAULT_KV_BUDGET_BYTES, 16, 1024, 256, 512);
    }

    /** The same settings with {@code n} compute threads (0: from the executor's cores). */
    public EngineSettings withThreads(int n) {
        return new EngineSettings(model, sparkFile, n, kvBudgetBytes, maxRunning, maxQueue, chunkTokens, stepTokens);
    }

    /** The same settings with a KV budget of {@code bytes}. */
    public EngineSettings withKvBudgetBytes(long bytes) {
        return new EngineSettings(model, sparkFile, threads, bytes, maxRunning, maxQueue, chunkTokens, stepTokens);
    }

    /** The same settings with up to {@code n} sequences batched per step. */
    public EngineSettings withMaxRunning(int n) {
        return new EngineSettings(model, sparkFile, threads, kvBudgetBytes, n, maxQueue, chunkTokens, stepTokens);
    }

    /** The same settings with up to {@code n} requests waiting in the engine. */
    public EngineSettings withMaxQueue(int n) {
        return new EngineSettings(model, sparkFile, threads, kvBudgetBytes, maxRunning, n, chunkTokens, stepTokens);
    }

    /** The same settings with prefill chunks of {@code tokens}. */
    public EngineSettings withChunkTokens(int tokens) {
        return new EngineSettings(model, sparkFile, threads, kvBudgetBytes, maxRunning, maxQueue, tokens, stepTokens);
    }

    /** The same settings with {@code tokens} token rows per step. */
    public EngineSettings withStepTokens(int tokens) {
        return new EngineSettings(model, sparkFile, threads, kvBudgetBytes, maxRunning, maxQueue, chunkTokens, tokens);
    }

    private static void positive(String what, long v) {
        if (v <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + v);
        }
    }
}
