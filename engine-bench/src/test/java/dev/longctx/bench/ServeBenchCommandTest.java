package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code longctx bench-serve} on stories260K: one JSON record per concurrency level with the fields the issue names. */
class ServeBenchCommandTest {

    private static String run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        picocli.CommandLine cl = new picocli.CommandLine(new ServeBenchCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        assertEquals(0, code, out + "\n" + err);
        return out.toString();
    }

    @Test
    void oneRecordPerConcurrencyLevel() throws Exception {
        String out = run("--model", EvalCommandTest.stories().toString(), "--concurrency", "1,3", "--requests", "2",
                "--prompt-tokens", "70-90", "--output-tokens", "12", "--shared-prefix", "64", "--chunk", "32", "--step-tokens", "64",
                "--threads", "2", "--no-warmup", "--json");
        List<String> lines = out.lines().toList();
        assertEquals(2, lines.size(), out);
        ObjectMapper mapper = new ObjectMapper();
        int[] sessions = {1, 3};
        for (int i = 0; i < 2; i++) {
            JsonNode r = mapper.readTree(lines.get(i));
            assertEquals(sessions[i], r.get("sessions").asInt());
            assertEquals(sessions[i] * 2, r.get("requests").asInt());
            for (String f : new String[] {"decode_tps", "prefill_tps", "ttft_p50_ms", "ttft_p99_ms", "itl_p50_ms", "itl_p99_ms"}) {
                assertTrue(r.get(f).asDouble() > 0, f + " in " + r);
            }
            assertTrue(r.get("ttft_p99_ms").asDouble() >= r.get("ttft_p50_ms").asDouble());
            assertTrue(r.get("prefix_hit_rate").asDouble() > 0, "later requests reuse the 64-token prefix (one block): " + r);
        }
    }

    @Test
    void theTableAndTheInterferenceRun() {
        String out = run("--model", EvalCommandTest.stories().toString(), "--concurrency", "2", "--prompt-tokens", "30",
                "--output-tokens", "40", "--interfere", "200", "--chunk", "16", "--step-tokens", "24", "--threads", "2");
        assertTrue(out.contains("sessions") && out.contains("decode/s"), out);
        assertTrue(out.contains("while a 200-token prompt was prefilled"), out);
        // the control run (same requests, no long prompt) gives the same tokens' gaps at the same depths
        java.util.regex.Matcher gaps = java.util.regex.Pattern.compile("control run without it: .*; (\\d+) gaps\\)").matcher(out);
        assertTrue(gaps.find(), out);
        assertTrue(Integer.parseInt(gaps.group(1)) > 0, out);
        assertNotEquals(-1, out.indexOf("ttft"));
    }

    @Test
    void theKvPageDtypeIsTheOneAskedFor() throws Exception {
        for (String kv : new String[] {"f16", "F32"}) {
            String out = run("--model", EvalCommandTest.stories().toString(), "--concurrency", "2", "--prompt-tokens", "20",
                    "--output-tokens", "6", "--chunk", "16", "--threads", "2", "--no-warmup", "--kv-dtype", kv, "--json");
            JsonNode r = new ObjectMapper().readTree(out.lines().toList().getFirst());
            assertEquals(kv.toUpperCase(java.util.Locale.ROOT), r.get("kv_dtype").asText(), out);
            assertTrue(r.get("decode_tps").asDouble() > 0, out);
        }
    }

    @Test
    void badRangesAreRefused() {
        picocli.CommandLine cl = new picocli.CommandLine(new ServeBenchCommand());
        cl.setOut(new PrintWriter(new StringWriter()));
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err));
        assertEquals(2, cl.execute("--model", EvalCommandTest.stories().toString(), "--prompt-tokens", "50-10"));
        assertTrue(err.toString().contains("--prompt-tokens takes N or MIN-MAX"), err.toString());
        assertEquals(2, cl.execute("--model", EvalCommandTest.stories().toString(), "--concurrency", "0"));
        err.getBuffer().setLength(0);
        assertEquals(2, cl.execute("--model", EvalCommandTest.stories().toString(), "--kv-dtype", "q4_0"));
        assertTrue(err.toString().contains("--kv-dtype takes f32, f16, bf16 or q8_0, got 'q4_0'"), err.toString());
    }
}
