package dev.longctx.models.fuzz;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.models.tokenizer.StreamingDecoder;
import dev.longctx.models.tokenizer.Tokenizer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What the fuzz targets share: a scratch folder per thread that every input is written into (the
 * readers under test take paths and memory-map files, so inputs go through a real file), the tiny
 * Llama model the seed corpora are built from (config, Hugging Face tensor names and shapes), a
 * small safetensors writer, and a tokenizer exercise with its invariants.
 */
final class FuzzSupport {
    /** The tiny model: vocabulary, hidden size, heads, KV heads, head size, FFN size; one layer. */
    static final int VOCAB = 16;
    static final int HIDDEN = 8;
    static final int HEADS = 2;
    static final int KV_HEADS = 1;
    static final int HEAD_DIM = 4;
    static final int FFN = 16;

    /** The tiny model's config.json (tied embeddings, so no lm_head). */
    static final String TINY_CONFIG = """
            {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 8, "intermediate_size": 16,
             "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 4,
             "max_position_embeddings": 64, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "vocab_size": 16,
             "bos_token_id": 1, "eos_token_id": 2, "tie_word_embeddings": true, "hidden_act": "silu"}
            """;

    /** Text every tokenizer target encodes: ASCII, Latin-1, CJK, an emoji, digits, whitespace, special-token text. */
    static final String TEXT = "Hello, wörld! 日本 🙂 12345 <s></s> <|endoftext|>\n\t  end";

    private static final ObjectMapper JSON = new ObjectMapper();

    private static final ThreadLocal<Path> DIR = ThreadLocal.withInitial(() -> {
        try {
            // in memory where the machine has a tmpfs (each input is written once per execution)
            Path shm = Path.of("/dev/shm");
            Path d = Files.isDirectory(shm) && Files.isWritable(shm) ? Files.createTempDirectory(shm, "longctx-fuzz-")
                    : Files.createTempDirectory("longctx-fuzz-");
            d.toFile().deleteOnExit();
            return d;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    });

    private FuzzSupport() {
    }

    /** This thread's scratch folder (reused for every input). */
    static Path dir() {
        return DIR.get();
    }

    /** Writes {@code data} to {@code name} in this thread's scratch folder (replacing what was there). */
    static Path write(String name, byte[] data) {
        Path p = dir().resolve(name);
        try {
            Files.write(p, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        p.toFile().deleteOnExit();
        return p;
    }

    /** Removes {@code name} from this thread's scratch folder if it is there. */
    static void delete(String name) {
        try {
            Files.deleteIfExists(dir().resolve(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The tiny model's tensors as Hugging Face names them, with shapes (outermost first). */
    static Map<String, long[]> tinyHfTensors() {
        Map<String, long[]> t = new LinkedHashMap<>();
        t.put("model.embed_tokens.weight", new long[] {VOCAB, HIDDEN});
        t.put("model.norm.weight", new long[] {HIDDEN});
        String p = "model.layers.0.";
        t.put(p + "input_layernorm.weight", new long[] {HIDDEN});
        t.put(p + "self_attn.q_proj.weight", new long[] {HEADS * HEAD_DIM, HIDDEN});
        t.put(p + "self_attn.k_proj.weight", new long[] {KV_HEADS * HEAD_DIM, HIDDEN});
        t.put(p + "self_attn.v_proj.weight", new long[] {KV_HEADS * HEAD_DIM, HIDDEN});
        t.put(p + "self_attn.o_proj.weight", new long[] {HIDDEN, HEADS * HEAD_DIM});
        t.put(p + "post_attention_layernorm.weight", new long[] {HIDDEN});
        t.put(p + "mlp.gate_proj.weight", new long[] {FFN, HIDDEN});
        t.put(p + "mlp.up_proj.weight", new long[] {FFN, HIDDEN});
        t.put(p + "mlp.down_proj.weight", new long[] {HIDDEN, FFN});
        return t;
    }

    /** One tensor for {@link #safetensors}: name, dtype (F32, F16 or BF16) and shape. */
    record Entry(String name, String dtype, long[] shape) {
    }

    /**
     * A safetensors file holding {@code entries} in order, filled with small deterministic values,
     * and the given {@code __metadata__}.
     */
    static byte[] safetensors(Iterable<Entry> entries, Map<String, String> metadata) {
        ObjectNode header = JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        int seed = 0;
        for (Entry e : entries) {
            long n = 1;
            for (long d : e.shape()) {
                n *= d;
            }
            int width = e.dtype().equals("F32") ? 4 : 2;
            ByteBuffer b = ByteBuffer.allocate((int) n * width).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) {
                float v = ((seed++ * 7919) % 17 - 8) / 64f;
                switch (e.dtype()) {
                    case "F32" -> b.putFloat(v);
                    case "F16" -> b.putShort(Float.floatToFloat16(v));
                    case "BF16" -> b.putShort((short) (Float.floatToRawIntBits(v) >>> 16));
                    default -> throw new IllegalArgumentException(e.dtype());
                }
            }
            ObjectNode t = header.putObject(e.name());
            t.put("dtype", e.dtype());
            var shape = t.putArray("shape");
            for (long d : e.shape()) {
                shape.add(d);
            }
            t.putArray("data_offsets").add(data.size()).add(data.size() + b.capacity());
            data.writeBytes(b.array());
        }
        byte[] json;
        try {
            json = JSON.writeValueAsBytes(header);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ByteBuffer out = ByteBuffer.allocate(8 + json.length + data.size()).order(ByteOrder.LITTLE_ENDIAN);
        out.putLong(json.length).put(json).put(data.toByteArray());
        return out.array();
    }

    /**
     * Encodes {@link #TEXT} both ways, decodes the ids at once and streamed, and decodes the first
     * ids of the vocabulary one by one. Every id an encoder returns must lie in the vocabulary
     * (anything else would be silently wrong output): an {@link AssertionError} otherwise.
     */
    /**
     * The ground rule for a refused input: a typed error that says what and where. A
     * {@code ModelFormatException} names its source and has a message; anything less is a finding.
     */
    static void assertReported(dev.longctx.models.ModelFormatException e) {
        org.junit.jupiter.api.Assertions.assertTrue(e.source() != null && !e.source().isBlank(), "no source in: " + e.getMessage());
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage() != null && e.getMessage().length() > e.source().length() + 2,
                "no explanation in: " + e.getMessage());
    }

    /** A template the engine refused says why (and, for a syntax or limit error, where). */
    static void assertReported(dev.longctx.models.tokenizer.ChatTemplate.TemplateException e) {
        org.junit.jupiter.api.Assertions.assertTrue(e.getMessage() != null && !e.getMessage().isBlank(), "a template error with no message");
    }

    /** Asserts a tokenizer read from hostile input is sound: every id it encodes is in its vocabulary, and decoding never throws. */
    static void assertTokenizerSound(Tokenizer t) {
        int n = t.vocabSize();
        for (boolean special : new boolean[] {true, false}) {
            int[] ids = t.encode(TEXT, special, special);
            for (int id : ids) {
                if (id < 0 || id >= n) {
                    throw new AssertionError("encode returned id " + id + " outside the vocabulary of " + n);
                }
            }
            t.decode(ids);
            StreamingDecoder d = t.streamingDecoder(!special);
            for (int id : ids) {
                d.accept(id);
            }
            d.flush();
        }
        for (int id = 0; id < Math.min(n, 64); id++) {
            t.decode(new int[] {id});
            t.token(id);
        }
        t.bosId();
        t.eosId();
    }
}
