package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.kvcache.KvLayout;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code longctx bench} end to end on the tiny preset: one JSON record per strategy and depth, and a chart. */
class LongContextBenchTest {

    @Test
    void jsonRecordsAndChart(@TempDir Path tmp) throws Exception {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new LongContextBench());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(new StringWriter()));
        Path chart = tmp.resolve("bench.png");
        int code = cl.execute("--model", "tiny", "--weights", "F32", "--strategies", "full,streaming,h2o,duo", "--depths", "40,300",
                "--budget", "48", "--decode", "4", "--reps", "2", "--threads", "2", "--chunk", "16", "--json", "--chart",
                chart.toString());
        assertEquals(0, code, out.toString());
        JsonNode records = new ObjectMapper().readTree(out.toString());
        assertEquals(8, records.size());
        assertEquals("duo", records.get(7).get("strategy").asText());
        for (JsonNode r : records) {
            assertTrue(r.get("prefill_tps").asDouble() > 0 && r.get("decode_tps").asDouble() > 0, r.toString());
            assertTrue(r.get("kv_bytes").asLong() > 0, r.toString());
            assertTrue(r.get("peak_rss_bytes").asLong() > r.get("kv_bytes").asLong(), "per-run peak RSS on Linux: " + r);
            // the tiny model has no sliding-window layer: all its KV is in full-attention layers
            assertEquals(0, r.get("kv_bytes_sliding_layers").asLong(), r.toString());
            assertEquals(r.get("kv_bytes").asLong(), r.get("kv_bytes_full_attention_layers").asLong(), r.toString());
        }
        // At depth 300 the bounded strategies hold less KV than the full cache.
        long full = records.get(1).get("kv_bytes").asLong();
        long streaming = records.get(3).get("kv_bytes").asLong();
        assertEquals("full", records.get(1).get("strategy").asText());
        assertTrue(streaming < full, streaming + " vs " + full);
        assertTrue(Files.size(chart) > 1000, "chart written");
        try (var files = Files.list(tmp)) {
            assertEquals(1, files.count(), "only the chart, no partial file beside it");
        }
    }

    /** The warm-up decodes long enough for per-layer methods to reach C2, capped for shallow models. */
    @Test
    void warmUpDecodesUntilPerLayerMethodsAreCompiled() {
        assertEquals(200, WarmUp.steps(30, 32)); // SmolLM2: 200 x 30 = 6000 calls
        assertTrue(WarmUp.steps(16, 32) * 16 >= WarmUp.C2_INVOCATIONS);
        assertEquals(WarmUp.MAX_STEPS, WarmUp.steps(2, 32));
        assertEquals(600, WarmUp.steps(30, 300)); // never fewer than two cells' worth
    }

    @Test
    void kvPagesDefaultToTheLibraryDefault() {
        LongContextBench bench = new LongContextBench();
        new CommandLine(bench).parseArgs();
        DemoCommand demo = new DemoCommand();
        new CommandLine(demo).parseArgs();
        assertEquals(KvLayout.DEFAULT_DTYPE, bench.kvType);
        assertEquals(KvLayout.DEFAULT_DTYPE, demo.kvType);
    }

    @Test
    void cellsThatCannotRunAreReportedBeforeAnyWork() {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new LongContextBench());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        // The tiny preset has a context of 4096 positions.
        int code = cl.execute("--model", "tiny", "--weights", "F32", "--strategies", "full,streaming", "--depths", "40,5000",
                "--budget", "32", "--decode", "2", "--reps", "1", "--threads", "1", "--chunk", "512", "--json");
        assertEquals(0, code, err.toString());
        String log = err.toString();
        int skipped = log.indexOf("full depth 5000: skipped: depth 5000 + 2 decoded tokens exceeds the model's context of 4096");
        assertTrue(skipped >= 0, log);
        assertTrue(skipped < log.indexOf("full depth 40 rep 1"), "reported before the first run: " + log);
        assertTrue(out.toString().contains("\"skipped\""), out.toString());
        // A bounded strategy runs past the model's context, as sessions allow.
        assertTrue(log.contains("streaming depth 5000 rep 1: prefill"), log);
    }

    @Test
    void mediansAndSpreads() {
        assertEquals(2.0, LongContextBench.median(new double[] {3, 1, 2}));
        assertEquals(2.5, LongContextBench.median(new double[] {4, 1, 2, 3}));
        assertEquals(1.5, LongContextBench.spread(new double[] {4, 1, 2}));
    }
}
