package dev.longctx.spark;

import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Strategy;
import java.io.Serializable;
import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Runs every row of a {@code Dataset<Row>} through a language model: a text column rendered into a
 * prompt template (or a column of token ids), generated with the options, long-context strategy
 * and token budget given here, on a serving engine opened once per executor JVM
 * ({@link ExecutorEngines}). The result is the input with the {@link OutputColumns} appended.
 *
 * <pre>{@code
 * DocumentInference summarise = DocumentInference.builder(EngineSettings.ofPath("/mnt/models/model.gguf"))
 *         .textColumn("body")
 *         .promptTemplate("{text}\n\nSummary:")
 *         .options(GenerateOptions.greedy(200))
 *         .strategy(new Strategy.Streaming(4, 0)).budgetTokens(4096)   // bounded KV memory per document
 *         .progress(InferenceProgress.register(spark))
 *         .build();
 * Dataset<Row> out = summarise.transform(spark.read().parquet("contracts"));
 * out.write().parquet("summaries");
 * }</pre>
 *
 * <p><b>How a partition runs.</b> Each Spark task takes its engine from {@link ExecutorEngines}
 * and submits its rows, in order, as separate requests, keeping up to
 * {@link Builder#maxInFlightPerTask} of them generating at once (a row that ends early frees its
 * place at once, and waits for the rows before it); rows come out in input order. Concurrent tasks
 * of one executor share the engine, so their documents are batched together in its steps. A task that ends early (a failure, a {@code limit}, a
 * killed job) cancels its requests, and their KV pages return to the engine.
 *
 * <p><b>Bad rows</b> do not fail the job: a null or blank text, a null or empty id array, ids
 * outside the vocabulary, a prompt longer than the model's context under a strategy that keeps
 * every token, or a request larger than the executor's KV budget gives a row with the
 * {@link OutputColumns#ERROR} column set. Settings that would fail every row (a missing model
 * file, a text column with a model that has no tokenizer) fail the task with an
 * {@link EngineOpenException} or an {@link IllegalArgumentException}; a wrong column name or type
 * fails {@link #transform} on the driver.
 *
 * <p>Like any transformation, the result is computed for each action on it: write it out, or
 * {@code persist()} it before several actions, so documents are not generated twice.
 *
 * <p>Threading: immutable and serialisable (this object is shipped to the tasks); {@link #transform}
 * may be called from any thread. The builder is for one thread.
 */
public final class DocumentInference implements Serializable {
    private static final long serialVersionUID = 1L;
    /** Where the document goes in a prompt template. */
    public static final String PLACEHOLDER = "{text}";

    private final EngineSettings engine;
    private final String textColumn;
    private final String tokensColumn;
    private final String template;
    private final boolean chat;
    private final String systemPrompt;
    private final OptionsSpec options;
    private final StrategySpec strategy;
    private final int budgetTokens;
    private final long timeoutNanos;
    private final int maxInFlightPerTask;
    private final InferenceProgress progress;

    private DocumentInference(Builder b) {
        this.engine = b.engine;
        this.textColumn = b.textColumn;
        this.tokensColumn = b.tokensColumn;
        this.template = b.template;
        this.chat = b.chat;
        this.systemPrompt = b.systemPrompt;
        this.options = OptionsSpec.of(b.options);
        this.strategy = b.strategy == null ? null : StrategySpec.of(b.strategy);
        this.budgetTokens = b.budgetTokens;
        this.timeoutNanos = b.timeout == null ? 0 : b.timeout.toNanos();
        this.maxInFlightPerTask = b.maxInFlightPerTask > 0 ? b.maxInFlightPerTask : b.engine.maxRunning();
        this.progress = b.progress;
    }

    /** A builder over the engine {@code settings} (the model and how each executor's engine is sized). */
    public static Builder builder(EngineSettings settings) {
        return new Builder(settings);
    }

    /**
     * The input with the {@link OutputColumns} appended, computed lazily, one request per row.
     *
     * @throws IllegalArgumentException when the input column is missing or of the wrong type, or
     *     the input already has a column named like an output column
     */
    public Dataset<Row> transform(Dataset<Row> documents) {
        Objects.requireNonNull(documents, "documents");
        StructType in = documents.schema();
        int column = inputColumn(in);
        StructType out = outputSchema(in);
        return documents.mapPartitions(new PartitionInference(this, column, in.fields().length), Encoders.row(out));
    }

    /**
     * The schema {@link #transform} gives for an input of schema {@code input}.
     *
     * @throws IllegalArgumentException as {@link #transform}
     */
    public StructType outputSchema(StructType input) {
        inputColumn(input);
        for (String name : OutputColumns.NAMES) {
            if (Arrays.asList(input.fieldNames()).contains(name)) {
                throw new IllegalArgumentException("the input already has a column named '" + name
                        + "', which DocumentInference adds; rename or drop it first");
            }
        }
        return OutputColumns.appendTo(input);
    }

    private int inputColumn(StructType in) {
        String name = textColumn != null ? textColumn : tokensColumn;
        int i = Arrays.asList(in.fieldNames()).indexOf(name);
        if (i < 0) {
            throw new IllegalArgumentException("no column '" + name + "' in the input; its columns are "
                    + Arrays.toString(in.fieldNames()));
        }
        DataType t = in.fields()[i].dataType();
        if (textColumn != null && !t.equals(DataTypes.StringType)) {
            throw new IllegalArgumentException("text column '" + name + "' is " + t.simpleString() + ", not string");
        }
        if (tokensColumn != null && !(t instanceof ArrayType a && a.elementType().equals(DataTypes.IntegerType))) {
            throw new IllegalArgumentException("token column '" + name + "' is " + t.simpleString() + ", not array<int>");
        }
        return i;
    }

    EngineSettings engine() {
        return engine;
    }

    boolean textInput() {
        return textColumn != null;
    }

    String template() {
        return template;
    }

    boolean chat() {
        return chat;
    }

    String systemPrompt() {
        return systemPrompt;
    }

    OptionsSpec options() {
        return options;
    }

    StrategySpec strategy() {
        return strategy;
    }

    int budgetTokens() {
        return budgetTokens;
    }

    long timeoutNanos() {
        return timeoutNanos;
    }

    int maxInFlightPerTask() {
        return maxInFlightPerTask;
    }

    InferenceProgress progress() {
        return progress;
    }

    /**
     * Options of a {@link DocumentInference}. Defaults: greedy, 256 tokens, the engine's strategy
     * ({@code full}) with its default budget, no template ({@code {text}}), no time limit.
     */
    public static final class Builder {
        private final EngineSettings engine;
        private String textColumn;
        private String tokensColumn;
        private String template = PLACEHOLDER;
        private boolean chat;
        private String systemPrompt;
        private GenerateOptions options = GenerateOptions.greedy(256);
        private Strategy strategy;
        private int budgetTokens;
        private Duration timeout;
        private int maxInFlightPerTask;
        private InferenceProgress progress;

        private Builder(EngineSettings engine) {
            this.engine = Objects.requireNonNull(engine, "settings");
        }

        /** Documents are the text of this string column (rendered into the {@linkplain #promptTemplate template}). */
        public Builder textColumn(String name) {
            this.textColumn = Objects.requireNonNull(name, "name");
            return this;
        }

        /** Prompts are the token ids of this {@code array<int>} column, used as they are (no template). */
        public Builder tokensColumn(String name) {
            this.tokensColumn = Objects.requireNonNull(name, "name");
            return this;
        }

        /**
         * The prompt: {@code template} with every {@value #PLACEHOLDER} replaced by the document
         * (default: the document alone). Encoded with the tokenizer's defaults (e.g. a BOS token).
         *
         * @throws IllegalArgumentException when the template has no {@value #PLACEHOLDER}
         */
        public Builder promptTemplate(String template) {
            Objects.requireNonNull(template, "template");
            if (!template.contains(PLACEHOLDER)) {
                throw new IllegalArgumentException("the prompt template has no " + PLACEHOLDER + " for the document: " + template);
            }
            this.template = template;
            return this;
        }

        /**
         * Sends the rendered prompt as a user message through the model's chat template (with a
         * system message first when {@code systemPrompt} is not null). A model without a chat
         * template fails the task.
         */
        public Builder chat(String systemPrompt) {
            this.chat = true;
            this.systemPrompt = systemPrompt;
            return this;
        }

        /** How to generate (default: greedy, 256 tokens, the model's EOS ids). Every row uses the same seed. */
        public Builder options(GenerateOptions o) {
            this.options = Objects.requireNonNull(o, "options");
            return this;
        }

        /**
         * The long-context strategy of every document (default: the engine's, {@code full}).
         *
         * @throws IllegalArgumentException for {@code duo}, whose head profile is not shipped to executors
         */
        public Builder strategy(Strategy s) {
            StrategySpec.of(s);
            this.strategy = s;
            return this;
        }

        /** A strategy by name ({@code full}, {@code streaming}, {@code h2o}, {@code snapkv}, {@code quest}, {@code sparse-prefill}). */
        public Builder strategy(String name) {
            return strategy(Strategy.parse(Objects.requireNonNull(name, "name")));
        }

        /** Tokens per KV head each document may keep (see {@code Request.Builder.budgetTokens}). */
        public Builder budgetTokens(int tokens) {
            if (tokens <= 0) {
                throw new IllegalArgumentException("budgetTokens must be positive, got " + tokens);
            }
            this.budgetTokens = tokens;
            return this;
        }

        /** The most time from submission to a document's last token; past it the row ends with {@code timeout}. */
        public Builder timeout(Duration d) {
            Objects.requireNonNull(d, "timeout");
            if (d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException("timeout must be positive, got " + d);
            }
            this.timeout = d;
            return this;
        }

        /**
         * Requests one task keeps generating in the engine at once (default: the engine's
         * {@code maxRunning}); finished rows waiting for an earlier one are held besides, up to
         * four times this in all.
         */
        public Builder maxInFlightPerTask(int n) {
            if (n <= 0) {
                throw new IllegalArgumentException("maxInFlightPerTask must be positive, got " + n);
            }
            this.maxInFlightPerTask = n;
            return this;
        }

        /** Accumulators that count documents and tokens (default: none). */
        public Builder progress(InferenceProgress p) {
            this.progress = Objects.requireNonNull(p, "progress");
            return this;
        }

        /**
         * The inference.
         *
         * @throws IllegalArgumentException when neither or both of a text and a token column are
         *     set, or a template or chat is given for token input
         */
        public DocumentInference build() {
            if ((textColumn == null) == (tokensColumn == null)) {
                throw new IllegalArgumentException("set exactly one of textColumn and tokensColumn");
            }
            if (tokensColumn != null && (!template.equals(PLACEHOLDER) || chat)) {
                throw new IllegalArgumentException("token ids are used as they are: a prompt template or chat needs a text column");
            }
            return new DocumentInference(this);
        }
    }
}
