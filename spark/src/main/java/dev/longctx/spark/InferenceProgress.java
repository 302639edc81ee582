package dev.longctx.spark;

import java.io.Serializable;
import java.util.Objects;
import org.apache.spark.SparkContext;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.LongAccumulator;

/**
 * Progress of {@link DocumentInference} jobs as named Spark accumulators, visible in the Spark UI
 * (stage and task pages) and readable on the driver: documents done, documents that ended with an
 * error, prompt tokens and generated tokens.
 *
 * <pre>{@code
 * InferenceProgress progress = InferenceProgress.register(spark);
 * DocumentInference.builder(settings).textColumn("text").progress(progress).build()
 *         .transform(docs).write().parquet("out");
 * System.out.println(progress);   // documents=..., failed=..., promptTokens=..., outputTokens=...
 * }</pre>
 *
 * <p>Spark's accumulator semantics apply: tasks report their counts when they end (running tasks
 * also in executor heartbeats, which is what the UI shows live), and since the counts are made in
 * a transformation, a task that is retried or a Dataset that is computed twice (two actions on an
 * uncached result) counts its documents again.
 *
 * <p>Threading: thread-safe (the accumulators are); create it on the driver before the job.
 */
public final class InferenceProgress implements Serializable {
    private static final long serialVersionUID = 1L;

    private final LongAccumulator documents;
    private final LongAccumulator failed;
    private final LongAccumulator promptTokens;
    private final LongAccumulator outputTokens;

    private InferenceProgress(SparkContext sc, String prefix) {
        this.documents = sc.longAccumulator(prefix + ".documents");
        this.failed = sc.longAccumulator(prefix + ".failed");
        this.promptTokens = sc.longAccumulator(prefix + ".promptTokens");
        this.outputTokens = sc.longAccumulator(prefix + ".outputTokens");
    }

    /** Registers accumulators named {@code longctx.documents}, {@code longctx.failed}, ... with the session's context. */
    public static InferenceProgress register(SparkSession spark) {
        return register(spark, "longctx");
    }

    /** Registers accumulators named {@code prefix.documents}, {@code prefix.failed}, ... (one set per job you want to tell apart). */
    public static InferenceProgress register(SparkSession spark, String prefix) {
        Objects.requireNonNull(spark, "spark");
        Objects.requireNonNull(prefix, "prefix");
        return new InferenceProgress(spark.sparkContext(), prefix);
    }

    /** Counts one document: {@code error} whether it ended with an error. */
    void record(boolean error, long prompt, long output) {
        documents.add(1);
        if (error) {
            failed.add(1);
        }
        promptTokens.add(prompt);
        outputTokens.add(output);
    }

    /** Documents done (with or without an error). */
    public long documents() {
        return documents.value();
    }

    /** Documents whose row has an error. */
    public long failed() {
        return failed.value();
    }

    /** Prompt tokens of the documents done (template included). */
    public long promptTokens() {
        return promptTokens.value();
    }

    /** Tokens generated. */
    public long outputTokens() {
        return outputTokens.value();
    }

    @Override
    public String toString() {
        return "documents=" + documents() + ", failed=" + failed() + ", promptTokens=" + promptTokens() + ", outputTokens="
                + outputTokens();
    }
}
