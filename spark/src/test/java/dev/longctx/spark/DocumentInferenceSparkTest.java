package dev.longctx.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.models.Model;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.serving.EngineStats;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.SparkException;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link DocumentInference} in Spark local mode ({@code local[2]}, UI off), one session for the
 * class, on stories260K (context length 2048): the outputs equal {@code Model.generate}; a
 * document longer than the model's context runs under StreamingLLM in a KV budget far smaller
 * than its context; bad rows come back with an error and the job goes on; a missing model fails
 * the job with a message naming it; every request's pages are back in the pool after each test.
 */
class DocumentInferenceSparkTest {
    private static final StructType TEXT = new StructType().add("id", DataTypes.IntegerType).add("text", DataTypes.StringType);

    private static SparkSession spark;
    private static Model reference;

    /** Small engine settings: 2 threads (the local[2] master), 8 MiB of KV pages. */
    private static EngineSettings settings() {
        return EngineSettings.ofPath(Fixtures.stories().toString()).withKvBudgetBytes(8L << 20).withMaxRunning(8);
    }

    @BeforeAll
    static void start() {
        spark = SparkSession.builder()
                .master("local[2]")
                .appName("longctx-spark-test")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.driver.bindAddress", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "2")
                .config("spark.sql.warehouse.dir", "target/spark-warehouse")
                .getOrCreate();
        reference = Model.open(Fixtures.stories());
    }

    @AfterAll
    static void stop() {
        ExecutorEngines.closeAll();
        if (spark != null) {
            spark.stop();
        }
        if (reference != null) {
            reference.close();
        }
    }

    /** No request is left in an engine, and no page is held but the prefix cache's. */
    @AfterEach
    void nothingLeftInFlight() throws InterruptedException {
        EngineStats s = ExecutorEngines.stats(settings()).orElse(null);
        for (int i = 0; s != null && (s.running() > 0 || s.waiting() > 0) && i < 600; i++) {
            Thread.sleep(10); // cancelled requests end at the engine's next step
            s = ExecutorEngines.stats(settings()).orElseThrow();
        }
        if (s != null) {
            assertEquals(0, s.running(), s.toString());
            assertEquals(0, s.waiting(), s.toString());
            assertEquals(s.pagesCached(), s.pagesUsed(), "pages held by no request nor the prefix cache: " + s);
        }
    }

    private static Dataset<Row> texts(List<Row> rows, int partitions) {
        return spark.createDataFrame(rows, TEXT).repartition(partitions);
    }

    @Test
    void outputsEqualGenerateForEveryDocument() {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            rows.add(RowFactory.create(i, Fixtures.document(i, 1 + (i * 7) % 40))); // 1..40 sentences: 15..600 tokens
        }
        InferenceProgress progress = InferenceProgress.register(spark, "equal");
        DocumentInference inference = DocumentInference.builder(settings())
                .textColumn("text")
                .promptTemplate("{text} Then")
                .options(GenerateOptions.greedy(24))
                .maxInFlightPerTask(3)
                .progress(progress)
                .build();
        List<Row> out = byId(inference.transform(texts(rows, 3)).collectAsList());

        assertEquals(rows.size(), out.size());
        long outputTokens = 0;
        long promptTokens = 0;
        for (Row r : out) {
            String doc = r.getAs("text");
            Generation g = reference.generate(doc + " Then", GenerateOptions.greedy(24));
            assertNull(r.getAs(OutputColumns.ERROR), () -> "row " + r.getAs("id"));
            assertEquals(g.text(), r.getAs(OutputColumns.GENERATED_TEXT), () -> "row " + r.getAs("id"));
            assertEquals(g.promptIds().length, (int) r.getAs(OutputColumns.PROMPT_TOKENS));
            assertEquals(g.outputIds().length, (int) r.getAs(OutputColumns.OUTPUT_TOKENS));
            assertEquals(g.finishReason().label(), r.getAs(OutputColumns.FINISH_REASON));
            assertTrue((double) r.getAs(OutputColumns.PREFILL_SECONDS) > 0);
            assertTrue((double) r.getAs(OutputColumns.DECODE_SECONDS) >= 0);
            outputTokens += g.outputIds().length;
            promptTokens += g.promptIds().length;
        }
        assertEquals(12, progress.documents());
        assertEquals(0, progress.failed());
        assertEquals(outputTokens, progress.outputTokens());
        assertEquals(promptTokens, progress.promptTokens());
        // One engine for both task threads of this JVM, with the local[2] master's 2 compute threads.
        assertEquals(2, ExecutorEngines.threads(settings()).orElseThrow());
    }

    @Test
    void rowsComeBackInInputOrderWhenLaterOnesFinishFirst() {
        List<Row> rows = new ArrayList<>();
        rows.add(RowFactory.create(0, Fixtures.document(0, 60))); // about 900 prompt tokens: 4 prefill chunks
        for (int i = 1; i < 10; i++) {
            rows.add(RowFactory.create(i, Fixtures.document(i, 1)));
        }
        DocumentInference inference = DocumentInference.builder(settings())
                .textColumn("text").options(GenerateOptions.greedy(12)).maxInFlightPerTask(3).build();
        List<Row> out = inference.transform(spark.createDataFrame(rows, TEXT).coalesce(1)).collectAsList();
        assertEquals(10, out.size());
        for (int i = 0; i < 10; i++) {
            Row r = out.get(i);
            assertEquals(i, (int) r.getAs("id"));
            assertEquals(reference.generate(r.getAs("text"), GenerateOptions.greedy(12)).text(), r.getAs(OutputColumns.GENERATED_TEXT),
                    "row " + i);
        }
    }

    @Test
    void documentLongerThanTheContextFinishesUnderStreamingInItsBudget() {
        String doc = Fixtures.document(99, 240);
        int promptTokens = reference.tokenizer().encode(doc).length;
        ModelConfig c = reference.config();
        assertTrue(promptTokens > c.maxPositions(), promptTokens + " tokens");
        // The whole context would need more KV pages than the engine has; StreamingLLM's 128 tokens per head fit.
        KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), KvLayout.DEFAULT_PAGE_SIZE, KvLayout.DEFAULT_DTYPE);
        long fullBytes = (long) c.layers() * c.kvHeads() * ((promptTokens + 16 + 63) / 64) * BlockPool.pageBytes(layout);
        EngineSettings small = settings().withKvBudgetBytes(fullBytes / 4);
        Strategy streaming = new Strategy.Streaming(4, 0);
        DocumentInference inference = DocumentInference.builder(small)
                .textColumn("text").options(GenerateOptions.greedy(16)).strategy(streaming).budgetTokens(128).build();
        Row r = inference.transform(texts(List.of(RowFactory.create(1, doc)), 1)).collectAsList().get(0);

        assertNull(r.getAs(OutputColumns.ERROR), () -> r.getAs(OutputColumns.ERROR));
        assertEquals(promptTokens, (int) r.getAs(OutputColumns.PROMPT_TOKENS));
        assertTrue(List.of("length", "eos").contains(r.<String>getAs(OutputColumns.FINISH_REASON)), r.toString());
        try (Session s = reference.session().strategy(streaming).budgetTokens(128).build()) {
            Generation g = s.generate(doc, GenerateOptions.greedy(16), null);
            assertEquals(g.text(), r.getAs(OutputColumns.GENERATED_TEXT));
            assertEquals(g.outputIds().length, (int) r.getAs(OutputColumns.OUTPUT_TOKENS));
        }
        EngineStats stats = ExecutorEngines.stats(small).orElseThrow();
        assertTrue((long) (stats.pagesUsed() + stats.pagesFree()) * BlockPool.pageBytes(layout) < fullBytes, stats.toString());
    }

    @Test
    void badRowsGetAnErrorAndTheJobGoesOn() {
        String tooLong = Fixtures.document(7, 240); // over the 2048-token context: refused under full
        List<Row> rows = List.of(
                RowFactory.create(0, Fixtures.document(0, 3)),
                RowFactory.create(1, ""),
                RowFactory.create(2, null),
                RowFactory.create(3, tooLong),
                RowFactory.create(4, "   "),
                RowFactory.create(5, Fixtures.document(5, 4)));
        InferenceProgress progress = InferenceProgress.register(spark, "bad");
        DocumentInference inference = DocumentInference.builder(settings())
                .textColumn("text").options(GenerateOptions.greedy(8)).strategy("full").progress(progress).build();
        List<Row> out = byId(inference.transform(texts(rows, 2)).collectAsList());

        assertEquals(6, out.size());
        for (int good : new int[] {0, 5}) {
            Row r = out.get(good);
            assertNull(r.getAs(OutputColumns.ERROR), r.toString());
            assertEquals(reference.generate(r.getAs("text"), GenerateOptions.greedy(8)).text(), r.getAs(OutputColumns.GENERATED_TEXT));
        }
        assertError(out.get(1), "BadRowException: the document is empty");
        assertError(out.get(2), "BadRowException: the document is null");
        assertError(out.get(3), "ContextBudgetException");
        assertEquals(reference.tokenizer().encode(tooLong).length, (int) out.get(3).getAs(OutputColumns.PROMPT_TOKENS));
        assertError(out.get(4), "BadRowException: the document is blank");
        assertEquals(6, progress.documents());
        assertEquals(4, progress.failed());
    }

    @Test
    void badTokenRowsGetAnError() {
        StructType schema = new StructType().add("id", DataTypes.IntegerType)
                .add("ids", DataTypes.createArrayType(DataTypes.IntegerType));
        int[] good = reference.tokenizer().encode(Fixtures.document(3, 2));
        List<Row> rows = List.of(
                RowFactory.create(0, Arrays.stream(good).boxed().toList()),
                RowFactory.create(1, List.of()),
                RowFactory.create(2, List.of(1, 100_000)),
                RowFactory.create(3, Arrays.asList(1, null, 3)),
                RowFactory.create(4, null));
        DocumentInference inference = DocumentInference.builder(settings())
                .tokensColumn("ids").options(GenerateOptions.greedy(8)).build();
        List<Row> out = byId(inference.transform(spark.createDataFrame(rows, schema)).collectAsList());

        assertNull(out.get(0).getAs(OutputColumns.ERROR));
        assertEquals(reference.generate(Fixtures.document(3, 2), GenerateOptions.greedy(8)).text(),
                out.get(0).getAs(OutputColumns.GENERATED_TEXT));
        assertError(out.get(1), "the token array is empty");
        assertError(out.get(2), "outside the vocabulary");
        assertError(out.get(3), "token 1 of the array is null");
        assertError(out.get(4), "the token array is null");
    }

    @Test
    void modelShippedWithAddFile() {
        spark.sparkContext().addFile(Fixtures.stories().toString());
        EngineSettings shipped = EngineSettings.ofSparkFile("stories260K.gguf").withKvBudgetBytes(4L << 20);
        DocumentInference inference = DocumentInference.builder(shipped)
                .textColumn("text").options(GenerateOptions.greedy(8)).build();
        String doc = Fixtures.document(11, 5);
        Row r = inference.transform(texts(List.of(RowFactory.create(0, doc)), 1)).collectAsList().get(0);
        assertEquals(reference.generate(doc, GenerateOptions.greedy(8)).text(), r.getAs(OutputColumns.GENERATED_TEXT));
    }

    @Test
    void aMissingModelFailsTheJobNamingIt() {
        DocumentInference inference = DocumentInference.builder(EngineSettings.ofPath("/no/such/model.gguf"))
                .textColumn("text").build();
        SparkException e = assertThrows(SparkException.class,
                () -> inference.transform(texts(List.of(RowFactory.create(0, "Once")), 1)).collectAsList());
        assertTrue(e.getMessage().contains("could not open the model /no/such/model.gguf"), e.getMessage());
        assertFalse(ExecutorEngines.stats(EngineSettings.ofPath("/no/such/model.gguf")).isPresent());
        // Empty partitions open nothing, so an empty input never touches the model.
        assertEquals(0, inference.transform(texts(List.of(), 2)).collectAsList().size());
    }

    @Test
    void aLimitCancelsWhatTheTaskNoLongerNeeds() throws InterruptedException {
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < 48; i++) {
            rows.add(RowFactory.create(i, Fixtures.document(i, 10)));
        }
        int window = 4;
        DocumentInference inference = DocumentInference.builder(settings())
                .textColumn("text").options(GenerateOptions.greedy(64)).maxInFlightPerTask(window).build();
        long before = ExecutorEngines.stats(settings()).map(EngineStats::completed).orElse(0L);
        List<Row> out = inference.transform(texts(rows, 1)).limit(2).collectAsList();
        assertEquals(2, out.size());
        for (Row r : out) {
            assertNotNull(r.getAs(OutputColumns.GENERATED_TEXT));
        }
        nothingLeftInFlight(); // the rest of the window was cancelled (or had finished) and its pages are free
        long submitted = ExecutorEngines.stats(settings()).orElseThrow().completed() - before;
        int most = 2 + PartitionInference.BUFFER_FACTOR * window; // the rows taken, and a full buffer behind them
        assertTrue(submitted >= 2 && submitted <= most, "rows are read only as the window frees up: " + submitted + " of 48 submitted");
    }

    /**
     * The rows sorted by id on the driver. Not {@code orderBy} on the Dataset: its range partitioner
     * samples the input first, which runs the inference (and counts the accumulators) twice.
     */
    private static List<Row> byId(List<Row> rows) {
        List<Row> sorted = new ArrayList<>(rows);
        sorted.sort(java.util.Comparator.comparingInt(r -> r.<Integer>getAs("id")));
        return sorted;
    }

    private static void assertError(Row r, String part) {
        String error = r.getAs(OutputColumns.ERROR);
        assertNotNull(error, r.toString());
        assertTrue(error.contains(part), error);
        assertNull(r.getAs(OutputColumns.GENERATED_TEXT));
        assertNull(r.getAs(OutputColumns.FINISH_REASON));
    }
}
