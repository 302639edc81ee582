package dev.longctx.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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
        String model = Fixtures.locate("fixtures/stories260k/stories260K.gguf").toString();
        JsonNode ref = new ObjectMapper().readTree(Files.readString(
                Fixtures.locate("fixtures/stories260k/reference/logits_llamacpp.json")));
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
        String model = Fixtures.locate("fixtures/stories260k/stories260K.gguf").toString();
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

    /** A model with sliding layers: inspect reports the layer types and KV bytes per type (Gemma 3 fixture of the models module). */
    @Test
    void inspectReportsKvBytesPerLayerType() {
        java.nio.file.Path gguf = java.nio.file.Path.of("").toAbsolutePath().getParent()
                .resolve("models/src/test/resources/fixtures/arch/gemma3-text/model.gguf");
        String result = run(new StringWriter(), "inspect", "--model", gguf.toString());
        // 6 layers, 2 KV heads of 16: 2 x 2 x 16 x 4 = 256 bytes per layer and token in F32
        assertTrue(result.contains("architecture: GEMMA3"), result);
        assertTrue(result.contains("layer types: 1 full attention, 5 sliding (window 16)"), result);
        assertTrue(result.contains("KV bytes per token by layer type (F32 pages): full attention 256, sliding 1280 up to 16 tokens"
                + " (at most 20480 bytes per sequence)"), result);
    }

    private static int exit(StringWriter err, String... args) {
        CommandLine cl = new CommandLine(new LongctxCli());
        cl.setOut(new PrintWriter(new StringWriter()));
        cl.setErr(new PrintWriter(err));
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("longctx: " + e.getMessage());
            return 1;
        });
        return cl.execute(args);
    }

    /** tokenize prints llama.cpp's ids; generate --json prints llama.cpp's greedy ids and text; duo reads a head profile. */
    @Test
    void tokenizeGenerateAndDuo(@org.junit.jupiter.api.io.TempDir java.nio.file.Path tmp) throws Exception {
        String model = Fixtures.locate("fixtures/stories260k/stories260K.gguf").toString();
        ObjectMapper json = new ObjectMapper();
        String tokens = run(new StringWriter(), "tokenize", "--model", model, "--text", "Hello, world!");
        assertEquals("0\n{\"ids\":[1,346,306,414,432,263,304,341,443]}\n", tokens);
        JsonNode greedy = json.readTree(Files.readString(Fixtures.locate("fixtures/stories260k/reference/greedy.json")))
                .get("cases").get(0);
        String result = run(new StringWriter(), "generate", "--model", model, "--prompt", "Once upon a time", "--temperature", "0",
                "-n", "64", "--ignore-eos", "--kv-type", "F32", "--json", "--threads", "2");
        assertTrue(result.startsWith("0\n"), result);
        JsonNode g = json.readTree(result.substring(2));
        assertEquals(greedy.get("prompt_ids"), g.get("prompt_ids"));
        assertEquals(greedy.get("generated_ids"), g.get("output_ids"));
        assertEquals(greedy.get("continuation_text").asText(), g.get("text").asText());
        assertTrue(g.get("timings").get("decode_tps").asDouble() > 0);
        java.nio.file.Path profile = tmp.resolve("profile.json");
        var c = dev.longctx.models.gguf.GgufFile.open(java.nio.file.Path.of(model));
        var config = dev.longctx.models.config.GgufConfigReader.read(c);
        c.close();
        float[][] scores = new float[config.layers()][config.kvHeads()];
        for (float[] row : scores) {
            row[0] = 1; // one retrieval head per layer
        }
        dev.longctx.kvcache.HeadProfile.byThreshold(scores, 0.5f).write(profile);
        String duo = run(new StringWriter(), "generate", "--model", model, "--prompt", "Once upon a time", "--temperature", "0",
                "-n", "8", "--strategy", "duo", "--profile", profile.toString(), "--budget", "64", "--json", "--threads", "2");
        assertEquals("duo", json.readTree(duo.substring(2)).get("strategy").asText(), duo);
        // moa: a profile whose every head prefers the widest window; fitted to --budget over prompt + max tokens
        java.nio.file.Path moaProfile = tmp.resolve("moa.json");
        double[][][] losses = new double[config.layers()][config.kvHeads()][];
        for (double[][] layer : losses) {
            for (int h = 0; h < layer.length; h++) {
                layer[h] = new double[] {3, 2, 1};
            }
        }
        new dev.longctx.kvcache.MoaProfile(4, new long[] {8, 16, 32}, new double[] {0, 0, 0}, losses).write(moaProfile);
        String moa = run(new StringWriter(), "generate", "--model", model, "--prompt", "Once upon a time", "--temperature", "0",
                "-n", "8", "--strategy", "moa", "--moa-profile", moaProfile.toString(), "--budget", "16", "--json", "--threads", "2");
        assertTrue(moa.startsWith("0\n"), moa);
        assertTrue(json.readTree(moa.substring(2)).get("strategy").asText().startsWith("moa"), moa);
        StringWriter err = new StringWriter();
        assertEquals(2, exit(err, "generate", "--model", model, "--prompt", "x", "--strategy", "moa", "--budget", "16"));
        assertTrue(err.toString().contains("--strategy moa needs --moa-profile"), err.toString());
    }

    @Test
    void generateKeepsKvPagesInTheLibraryDefault() {
        GenerateCommand generate = new GenerateCommand();
        new CommandLine(generate).parseArgs("--model", "m.gguf", "--prompt", "x");
        assertEquals(dev.longctx.kvcache.KvLayout.DEFAULT_DTYPE, generate.kvType);
    }

    /** Bad usage exits 2; a context the strategy cannot hold exits 1 with a message naming strategies that fit. */
    @Test
    void generateRefusesBadRequestsClearly() {
        String model = Fixtures.locate("fixtures/stories260k/stories260K.gguf").toString();
        assertEquals(2, exit(new StringWriter(), "generate", "--model", model));
        assertEquals(2, exit(new StringWriter(), "generate", "--model", model, "--prompt", "x", "--strategy", "duo"));
        StringWriter err = new StringWriter();
        assertEquals(1, exit(err, "generate", "--model", model, "--prompt", "Once upon a time", "--budget", "16", "-n", "64"));
        assertTrue(err.toString().contains("streaming, h2o, snapkv"), err.toString());
        err = new StringWriter();
        assertEquals(1, exit(err, "generate", "--model", model, "--prompt", "x", "--strategy", "lru"));
        assertTrue(err.toString().contains("unknown strategy 'lru'"), err.toString());
    }

    /** serve refuses what cannot work before it binds a port (the server itself is tested in the server module). */
    @Test
    void serveRefusesBadSettingsClearly() {
        String model = Fixtures.locate("fixtures/stories260k/stories260K.gguf").toString();
        StringWriter err = new StringWriter();
        assertEquals(2, exit(err, "serve", "--model", model, "--strategy", "duo"));
        assertTrue(err.toString().contains("--strategy duo needs --profile"), err.toString());
        err = new StringWriter();
        assertEquals(1, exit(err, "serve", "--model", model, "--strategy", "lru"));
        assertTrue(err.toString().contains("unknown strategy 'lru'"), err.toString());
        err = new StringWriter();
        assertEquals(1, exit(err, "serve", "--model", model, "--max-tokens", "0"));
        assertTrue(err.toString().contains("maxTokens must be positive"), err.toString());
        err = new StringWriter();
        assertEquals(1, exit(err, "serve", "--model", "/no/such/model.gguf"));
        assertTrue(err.toString().contains("no such model"), err.toString());
    }
}
