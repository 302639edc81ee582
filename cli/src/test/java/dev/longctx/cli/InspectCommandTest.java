package dev.longctx.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code longctx inspect}: each tensor's type and shape and the file's bits per weight, from the header for GGUF. */
class InspectCommandTest {
    /**
     * Bits per weight of each gguf-quants file (sum of tensor bytes x 8 / sum of elements), from
     * gguf-py 0.19.0's GGUFReader ({@code t.n_bytes}, {@code t.n_elements}), not from our code.
     */
    private static final Map<String, Double> GGUF_PY_BPW = Map.ofEntries(Map.entry("IQ4_NL", 4.526829),
            Map.entry("IQ4_XS", 4.277073), Map.entry("Q2_K", 2.653659), Map.entry("Q3_K", 3.465366), Map.entry("Q4_0", 4.526829),
            Map.entry("Q4_1", 5.026341), Map.entry("Q4_K", 4.526829), Map.entry("Q4_K_M-mix", 4.990439),
            Map.entry("Q5_0", 5.525854), Map.entry("Q5_1", 6.025366), Map.entry("Q5_K", 5.525854), Map.entry("Q6_K", 6.587317),
            Map.entry("Q8_0", 8.522927));
    private static final Pattern BPW = Pattern.compile("(?m)^bits per weight: ([0-9.]+) ");

    /** exit status, then stdout, then stderr. */
    private static String[] run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new LongctxCli());
        cl.setOut(new PrintWriter(out));
        cl.setErr(new PrintWriter(err));
        return new String[] {String.valueOf(cl.execute(args)), out.toString(), err.toString()};
    }

    private static double bitsPerWeight(String output) {
        Matcher m = BPW.matcher(output);
        assertTrue(m.find(), output);
        return Double.parseDouble(m.group(1));
    }

    /**
     * Every gguf-quants file, whatever its block types (most are not readable by the engine yet):
     * each tensor listed with the type the manifest (gguf-py) gives it, and gguf-py's bits per weight.
     */
    @Test
    void everyQuantisedFileIsListedWithTypesAndBitsPerWeight() throws Exception {
        Path dir = Fixtures.locate("fixtures/gguf-quants/manifest.json").getParent();
        JsonNode files = new ObjectMapper().readTree(Files.readString(dir.resolve("manifest.json"))).get("files");
        assertEquals(GGUF_PY_BPW.size(), files.size());
        for (Map.Entry<String, JsonNode> f : files.properties()) {
            String[] r = run("inspect", dir.resolve(f.getKey()).toString());
            assertEquals("0", r[0], f.getKey() + ": " + r[2]);
            String out = r[1];
            JsonNode types = f.getValue().get("types_by_tensor");
            assertTrue(out.contains("tensors: " + types.size() + "\n"), out);
            for (Map.Entry<String, JsonNode> t : types.properties()) {
                assertTrue(Pattern.compile("(?m)^  " + Pattern.quote(t.getKey()) + " +" + t.getValue().asText() + " +\\[")
                        .matcher(out).find(), f.getKey() + ": " + t.getKey() + " as " + t.getValue().asText() + "\n" + out);
            }
            String type = f.getKey().substring("model-".length(), f.getKey().length() - ".gguf".length());
            assertEquals(GGUF_PY_BPW.get(type), bitsPerWeight(out), 5e-5, f.getKey());
            for (JsonNode tt : f.getValue().get("tensor_types")) {
                assertTrue(Pattern.compile("(?m)^  " + tt.asText() + " +[0-9]+ tensors, ").matcher(out).find(), f.getKey() + "\n" + out);
            }
        }
    }

    /** A file the engine loads also gets its configuration; shapes are outermost first. */
    @Test
    void loadableGgufAlsoDescribesTheModel() {
        String[] r = run("inspect", Fixtures.locate("fixtures/gguf-quants/model-Q8_0.gguf").toString());
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].contains("format: gguf") && r[1].contains("KV heads: 2") && !r[1].contains("not loadable"), r[1]);
        assertTrue(r[1].contains("  blk.0.attn_k.weight") && r[1].contains("Q8_0    [128, 256]"), r[1]);
        assertTrue(r[1].contains("types:\n  F32        5 tensors, 1,280 elements, 32.0000 bits per weight\n"
                + "  Q8_0      15 tensors, 1,310,720 elements, 8.5000 bits per weight\n"), r[1]);
    }

    /** A type id ggml does not define is printed as its number and left out of bits per weight (it has no known size). */
    @Test
    void unknownTypeIdIsPrintedRaw(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        byte[] b = Files.readAllBytes(Fixtures.locate("fixtures/gguf-quants/model-Q8_0.gguf"));
        byte[] key = "output_norm.weight".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int at = -1;
        for (int i = 0; i + key.length < b.length && at < 0; i++) {
            at = java.util.Arrays.equals(b, i, i + key.length, key, 0, key.length) ? i + key.length : -1;
        }
        // after the name: u32 dimension count (1 for a norm), one u64 dimension, then the u32 type
        java.nio.ByteBuffer.wrap(b, at + 4 + 8, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(99);
        Path file = tmp.resolve("unknown-type.gguf");
        Files.write(file, b);
        String[] r = run("inspect", file.toString());
        assertEquals("0", r[0], r[2]);
        assertTrue(r[1].contains("not loadable by this engine") && r[1].contains("unsupported type 99"), r[1]);
        assertTrue(Pattern.compile("(?m)^  output_norm.weight +type 99 +\\[256\\]").matcher(r[1]).find(), r[1]);
        assertTrue(r[1].contains("leaves out 1 tensors of unknown size") && r[1].contains("  type 99    1 tensors, 256 elements, size unknown"), r[1]);
        // the other 19 tensors: 15 Q8_0 of 1,310,720 elements at 8.5 bits, 4 F32 norms of 256
        assertEquals((1_310_720 * 8.5 + 1024 * 32) / (1_310_720 + 1024), bitsPerWeight(r[1]), 5e-5, r[1]);
    }

    /** Non-GGUF formats: BF16 safetensors are 16 bits per weight, llama2.c checkpoints 32; --model still works. */
    @Test
    void otherFormatsAndTheModelOption() {
        String[] bf16 = run("inspect", Fixtures.locate("fixtures/hf/llama-bf16").toString());
        assertEquals("0", bf16[0], bf16[2]);
        assertEquals(16.0, bitsPerWeight(bf16[1]), 1e-9, bf16[1]);
        String[] llama2c = run("inspect", "--model", Fixtures.locate("fixtures/stories260k/stories260K.bin").toString());
        assertEquals("0", llama2c[0], llama2c[2]);
        assertEquals(32.0, bitsPerWeight(llama2c[1]), 1e-9, llama2c[1]);
        assertTrue(llama2c[1].contains("F32"), llama2c[1]);
    }

    /** Neither or both of FILE and --model is bad usage (exit 2); a file that is not GGUF inside is a model error. */
    @Test
    void badUsageAndBadFiles(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        assertEquals("2", run("inspect")[0]);
        String model = Fixtures.locate("fixtures/gguf-quants/model-Q8_0.gguf").toString();
        assertEquals("2", run("inspect", model, "--model", model)[0]);
        Path junk = tmp.resolve("junk.gguf");
        Files.write(junk, new byte[64]);
        StringWriter err = new StringWriter();
        CommandLine cl = new CommandLine(new LongctxCli());
        cl.setOut(new PrintWriter(new StringWriter()));
        cl.setErr(new PrintWriter(err));
        cl.setExecutionExceptionHandler((e, cmd, parsed) -> {
            cmd.getErr().println("longctx: " + e.getMessage());
            return 1;
        });
        assertEquals(1, cl.execute("inspect", junk.toString()));
        assertTrue(err.toString().contains("magic"), err.toString());
    }
}
