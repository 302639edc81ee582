/**
 * Batch long-document inference on Apache Spark: {@link dev.longctx.spark.DocumentInference} runs
 * every row of a {@code Dataset<Row>} (a text column or a column of token ids) through a
 * {@link dev.longctx.models.serving.ServingEngine} opened once per executor JVM
 * ({@link dev.longctx.spark.ExecutorEngines}) and adds the generated text, token counts, finish
 * reason, timings and an error column. Progress goes to Spark accumulators
 * ({@link dev.longctx.spark.InferenceProgress}). See {@code docs/distributed.md}.
 *
 * <p>This module stays on the class path (no {@code module-info}): Spark's jars carry no
 * {@code Automatic-Module-Name} and their derived names ({@code spark.sql.2.13}) are not valid
 * module names, and Spark loads user code into the unnamed module of its executors anyway.
 */
package dev.longctx.spark;
