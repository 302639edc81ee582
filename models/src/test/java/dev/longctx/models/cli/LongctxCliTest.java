package dev.longctx.models.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.SharedFixtures;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

class LongctxCliTest {

    private static String run(StringWriter err, String... args) {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new LongctxCli());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        int code = cl.execute(args);
        return code + "\n" + out;
    }

    @Test
    void logitsPrintsJsonMatchingLlamaCpp() throws Exception {
        String model = SharedFixtures.locate("fixtures/stories260k/stories260K.gguf").toString();
        JsonNode ref = new ObjectMapper().readTree(Files.readString(
                SharedFixtures.locate("fixtures/stories260k/reference/logits_llamacpp.json")));
        StringBuilder ids = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            ids.append(i == 0 ? "" : ",").append(ref.get("token_ids").get(i).asInt());
        }
        String result = run(new StringWriter(), "logits", "--model", model, "--ids", ids.toString());
        assertTrue(result.startsWith("0\n"), result.substring(0, Math.min(200, result.length())));
        JsonNode logits = new ObjectMapper().readTree(result.substring(2)).get("logits");
        assertEquals(8, logits.size());
        for (int p = 0; p < 8; p++) {
            for (int v = 0; v < 512; v++) {
                assertEquals(ref.get("logits").get(p).get(v).asDouble(), logits.get(p).get(v).asDouble(), 1e-4);
            }
        }
    }

    @Test
    void inspectDescribesTheModelAndBadPathsAreClearErrors() {
        String model = SharedFixtures.locate("fixtures/stories260k/stories260K.gguf").toString();
        String result = run(new StringWriter(), "inspect", "--model", model);
        assertTrue(result.contains("format: gguf") && result.contains("KV heads: 4") && result.contains("token_embd.weight"),
                result);
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new LongctxCli());
        cl.setErr(new PrintWriter(err));
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("longctx: " + e.getMessage());
            return 1;
        });
        assertEquals(1, cl.execute("inspect", "--model", "/no/such/model.gguf"));
        assertTrue(err.toString().contains("no such model"), err.toString());
        assertEquals(2, new CommandLine(new LongctxCli()).execute("logits", "--model", model));
    }
}
