package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.tokenizer.Tokenizer;
import dev.longctx.models.tokenizer.Tokenizers;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code longctx eval} on stories260K: perplexity per strategy against the full cache, and the passkey grid. */
class EvalCommandTest {

    /** shared/fixtures beside or above the working directory (the models tests' convention). */
    static Path stories() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            for (Path p : new Path[] {dir.resolve("shared"), dir.resolveSibling("shared")}) {
                Path f = p.resolve("fixtures/stories260k/stories260K.gguf");
                if (Files.exists(f)) {
                    return f;
                }
            }
        }
        return fail("shared/fixtures/stories260k/stories260K.gguf not found beside or above " + Path.of("").toAbsolutePath());
    }

    @Test
    void perplexityRatiosAndPasskeyGrid() throws Exception {
        StringWriter out = new StringWriter();
        picocli.CommandLine cl = new picocli.CommandLine(new EvalCommand());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(new StringWriter()));
        int code = cl.execute("--model", stories().toString(), "--strategies", "full,streaming,h2o", "--budget", "48", "--passkey",
                "--lengths", "120", "--depths", "0,100", "--threads", "2", "--json");
        assertEquals(0, code, out.toString());
        JsonNode root = new ObjectMapper().readTree(out.toString());
        JsonNode ppl = root.get("perplexity");
        assertEquals(3, ppl.size());
        assertEquals(1.0, ppl.get(0).get("ratio_to_full").asDouble(), 1e-12);
        for (JsonNode n : ppl) {
            double p = n.get("perplexity").asDouble();
            assertTrue(p > 1 && p < 512, n.toString()); // a trained model beats the uniform 512
        }
        // The story is longer than the budget, so the evicting strategies lose some context.
        assertTrue(ppl.get(1).get("tokens").asInt() > 48);
        JsonNode fid = root.get("attention_fidelity");
        assertEquals(3, fid.size());
        assertEquals(0, fid.get(0).get("mean_relative_l2").asDouble(), 1e-5);
        assertEquals(1, fid.get(0).get("mean_mass_recovered").asDouble(), 1e-4);
        assertTrue(fid.get(1).get("mean_mass_recovered").asDouble() < 1, fid.get(1).toString());
        assertEquals(5, fid.get(1).get("layers").size());
        assertEquals(2 * 3, root.get("passkey").size());
        root.get("passkey").forEach(c -> assertTrue(c.has("correct") && c.get("prompt_tokens").asInt() > 60, c.toString()));
    }

    @Test
    void passkeyPromptHasTheStandardPartsAndLength() throws Exception {
        Tokenizer tok = Tokenizers.fromFile(stories().resolveSibling("tok512.bin"));
        String p = EvalCommand.passkeyPrompt(tok, "12345", 300, 0.5);
        assertTrue(p.startsWith(EvalCommand.TASK) && p.endsWith(EvalCommand.QUESTION), p);
        assertTrue(p.contains("The pass key is 12345. Remember it. 12345 is the pass key."), p);
        int n = tok.encode(p).length;
        assertTrue(n > 250 && n <= 320, n + " tokens");
        assertTrue(EvalCommand.shortStory().startsWith("Once upon a time"));
    }
}
