package dev.longctx.spark;

import java.util.List;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.Metadata;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * The columns {@link DocumentInference} appends to each row, after the input's own columns. Every
 * one is nullable: a row that ended with an error has {@link #ERROR} set, {@link #PROMPT_TOKENS}
 * when the prompt was encoded before the error, and nulls elsewhere; a row without an error has a
 * null {@link #ERROR} and every other column set.
 *
 * <table>
 * <caption>Output columns</caption>
 * <tr><th>column</th><th>type</th><th>what</th></tr>
 * <tr><td>{@code generated_text}</td><td>string</td><td>the generated text (cut before a stop string)</td></tr>
 * <tr><td>{@code prompt_tokens}</td><td>int</td><td>tokens of the prompt (template included)</td></tr>
 * <tr><td>{@code output_tokens}</td><td>int</td><td>tokens generated (a stop id included)</td></tr>
 * <tr><td>{@code finish_reason}</td><td>string</td><td>{@code eos}, {@code stop_string}, {@code length} or {@code timeout}</td></tr>
 * <tr><td>{@code prefill_seconds}</td><td>double</td><td>time the engine spent on this prompt</td></tr>
 * <tr><td>{@code decode_seconds}</td><td>double</td><td>time from the first generated token to the last</td></tr>
 * <tr><td>{@code error}</td><td>string</td><td>why the row has no output ({@code Type: message}), else null</td></tr>
 * </table>
 *
 * <p>Threading: constants only.
 */
public final class OutputColumns {
    /** The generated text. */
    public static final String GENERATED_TEXT = "generated_text";
    /** Prompt tokens after the template and tokenizer. */
    public static final String PROMPT_TOKENS = "prompt_tokens";
    /** Generated tokens. */
    public static final String OUTPUT_TOKENS = "output_tokens";
    /** Why generation ended ({@code FinishReason.label()}). */
    public static final String FINISH_REASON = "finish_reason";
    /** Prefill time in seconds. */
    public static final String PREFILL_SECONDS = "prefill_seconds";
    /** Decode time in seconds. */
    public static final String DECODE_SECONDS = "decode_seconds";
    /** The error of a row that produced no output, else null. */
    public static final String ERROR = "error";

    /** Every output column, in the order they are appended. */
    public static final List<String> NAMES = List.of(GENERATED_TEXT, PROMPT_TOKENS, OUTPUT_TOKENS, FINISH_REASON, PREFILL_SECONDS,
            DECODE_SECONDS, ERROR);

    private OutputColumns() {
    }

    /** {@code input} with the output columns appended. */
    static StructType appendTo(StructType input) {
        return input
                .add(new StructField(GENERATED_TEXT, DataTypes.StringType, true, Metadata.empty()))
                .add(new StructField(PROMPT_TOKENS, DataTypes.IntegerType, true, Metadata.empty()))
                .add(new StructField(OUTPUT_TOKENS, DataTypes.IntegerType, true, Metadata.empty()))
                .add(new StructField(FINISH_REASON, DataTypes.StringType, true, Metadata.empty()))
                .add(new StructField(PREFILL_SECONDS, DataTypes.DoubleType, true, Metadata.empty()))
                .add(new StructField(DECODE_SECONDS, DataTypes.DoubleType, true, Metadata.empty()))
                .add(new StructField(ERROR, DataTypes.StringType, true, Metadata.empty()));
    }
}
