package dev.longctx.models.fuzz;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.gguf.GgufFile;
import dev.longctx.models.gguf.GgufWriter;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Writes the fuzz targets' seed corpora into {@code src/test/resources/dev/longctx/models/fuzz/}
 * (Jazzer's layout: {@code <TestClass>Inputs/<method>/}): small valid files built from the tiny
 * Llama model and from the real fixtures (configs, tokenizers, chat templates, the stories260K
 * vocabulary). The seeds are committed; this regenerates them on demand only:
 * {@code ./mvnw -o -pl models -am test -Dtest=FuzzSeeds -Dlongctx.fuzz.writeSeeds=true
 * -Dsurefire.failIfNoSpecifiedTests=false}, run from the repository root (Surefire runs tests in
 * the module folder).
 */
@EnabledIfSystemProperty(named = "longctx.fuzz.writeSeeds", matches = "true")
class FuzzSeeds {
    private static final Path ROOT = Path.of("src/test/resources/dev/longctx/models/fuzz");
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void writeGgufSeeds() throws IOException {
        Path dir = clean("GgufFuzzTestInputs/gguf");
        tinyLlamaSpm().write(dir.resolve("seed-tiny-llama-spm.gguf"));
        tinyQwen2Gpt2().write(dir.resolve("seed-tiny-qwen2-gpt2.gguf"));
        new GgufWriter().put("general.architecture", "llama").put("general.name", "two-by-two")
                .put("llama.context_length", 16).tensor("t", new float[] {1, 2, 3, 4}, 2, 2)
                .write(dir.resolve("seed-minimal-2x2.gguf"));
        Files.write(dir.resolve("seed-all-types.gguf"), allTypes());
        // One small tensor of every block type (random valid blocks, two rows of two blocks): the
        // fuzzer mutates their scales, codes, types and shapes; the target decodes each.
        GgufWriter blocks = new GgufWriter().put("general.architecture", "llama").put("general.name", "block types");
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(17);
        for (dev.longctx.core.tensor.DType t : dev.longctx.core.tensor.DType.values()) {
            int cols = 2 * t.blockSize();
            java.lang.foreign.MemorySegment seg = java.lang.foreign.MemorySegment.ofArray(new byte[(int) t.bytesFor(2L * cols)]);
            dev.longctx.core.kernels.spi.SyntheticBlocks.fill(t, rnd, seg, 0, 2 * cols, 1.0);
            blocks.rawTensor("t." + t, t.ggmlType(), seg.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), 2, cols);
        }
        blocks.write(dir.resolve("seed-block-types.gguf"));
        // The metadata of the gemma3, granite, olmo2 and smollm3 fixtures (their config keys), no tensors
        for (String m : List.of("gemma3-text", "granite", "olmo2", "smollm3")) {
            try (GgufFile arch = GgufFile.open(SharedFixtures.resource("fixtures/arch/" + m + "/model.gguf"))) {
                GgufWriter w = new GgufWriter();
                arch.metadata().forEach((k, v) -> {
                    if (!k.equals("general.alignment") && !k.startsWith("tokenizer.")) {
                        w.put(k, v);
                    }
                });
                w.write(dir.resolve("seed-" + m + "-metadata.gguf"));
            }
        }
        // stories260K's real metadata (SentencePiece vocabulary of 512, config keys), no tensors
        try (GgufFile stories = GgufFile.open(SharedFixtures.locate("fixtures/stories260k/stories260K.gguf"))) {
            GgufWriter w = new GgufWriter();
            stories.metadata().forEach((k, v) -> {
                if (!k.equals("general.alignment")) {
                    w.put(k, v);
                }
            });
            w.write(dir.resolve("seed-stories260k-metadata.gguf"));
        }
    }

    @Test
    void writeSafetensorsSeeds() throws IOException {
        Path file = clean("SafetensorsFuzzTestInputs/safetensorsFile");
        List<FuzzSupport.Entry> f32 = new ArrayList<>();
        List<FuzzSupport.Entry> mixed = new ArrayList<>();
        String[] dtypes = {"F32", "F16", "BF16"};
        FuzzSupport.tinyHfTensors().forEach((n, s) -> {
            f32.add(new FuzzSupport.Entry(n, "F32", s));
            mixed.add(new FuzzSupport.Entry(n, dtypes[mixed.size() % 3], s));
        });
        Files.write(file.resolve("seed-tiny-llama-f32.safetensors"), FuzzSupport.safetensors(f32, Map.of("format", "pt")));
        Files.write(file.resolve("seed-tiny-llama-mixed.safetensors"), FuzzSupport.safetensors(mixed, Map.of()));
        List<FuzzSupport.Entry> three = List.of(new FuzzSupport.Entry("a", "F32", new long[] {2, 2}),
                new FuzzSupport.Entry("b", "BF16", new long[] {3}), new FuzzSupport.Entry("c", "F16", new long[0]));
        Files.write(file.resolve("seed-three-dtypes.safetensors"), FuzzSupport.safetensors(three, Map.of("format", "pt")));

        Path index = clean("SafetensorsFuzzTestInputs/safetensorsIndex");
        int half = f32.size() / 2;
        Files.write(index.resolve("seed-tiny-llama-two-shards.bin"), SafetensorsFuzzTest.join(indexJson(f32, half),
                FuzzSupport.safetensors(f32.subList(0, half), Map.of("format", "pt")),
                FuzzSupport.safetensors(f32.subList(half, f32.size()), Map.of("format", "pt"))));
        Files.write(index.resolve("seed-three-dtypes-two-shards.bin"), SafetensorsFuzzTest.join(indexJson(three, 1),
                FuzzSupport.safetensors(three.subList(0, 1), Map.of()), FuzzSupport.safetensors(three.subList(1, 3), Map.of())));
    }

    @Test
    void writeConfigSeeds() throws IOException {
        Path dir = clean("HfConfigFuzzTestInputs/configJson");
        Files.writeString(dir.resolve("seed-tiny-llama.json"), FuzzSupport.TINY_CONFIG);
        for (String m : List.of("gemma2-softcap", "llama-f16", "llama-rope-dynamic", "llama-rope-linear", "llama-rope-yarn",
                "phi3-fused", "qwen3-qknorm")) {
            Files.copy(SharedFixtures.resource("fixtures/hf/" + m + "/config.json"), dir.resolve("seed-" + m + ".json"));
        }
        for (String m : List.of("llama-bf16", "llama-gqa", "llama-tied-mha", "llama3-ropescaled", "mistral-swa",
                "qwen2-bias-tied")) {
            Files.copy(SharedFixtures.locate("fixtures/hf/" + m + "/config.json"), dir.resolve("seed-" + m + ".json"));
        }
        for (String m : List.of("gemma3-text", "granite", "olmo2", "smollm3")) {
            Files.copy(SharedFixtures.resource("fixtures/arch/" + m + "/config.json"), dir.resolve("seed-" + m + ".json"));
        }
    }

    @Test
    void writeTokenizerSeeds() throws IOException {
        Path dir = clean("TokenizerJsonFuzzTestInputs/tokenizerJson");
        Files.copy(SharedFixtures.locate("fixtures/hf/tokenizers/bytelevel-bpe/tokenizer.json"),
                dir.resolve("seed-bytelevel-bpe.json"));
        for (String t : List.of("sentencepiece-legacy", "sentencepiece-metaspace", "sentencepiece-metaspace-split")) {
            Files.copy(SharedFixtures.resource("fixtures/tokenizers/" + t + "/tokenizer.json"), dir.resolve("seed-" + t + ".json"));
        }
        // the split regexes of llama.cpp's pre-tokenizer families (GgufPreTokenizerTest's fixtures)
        for (String t : List.of("llama-bpe", "gpt-4o", "tekken")) {
            Files.copy(SharedFixtures.resource("fixtures/tokenizers/gguf-pre/" + t + "/tokenizer.json"),
                    dir.resolve("seed-pre-" + t + ".json"));
        }
        Files.writeString(dir.resolve("seed-small-bytelevel.json"), SMALL_BYTELEVEL);
        Files.writeString(dir.resolve("seed-small-metaspace.json"), SMALL_METASPACE);
    }

    /**
     * The five fixture chat templates, and every distinct template of the engine's conformance
     * cases (model-like templates and one per language feature), named after their first case.
     */
    @Test
    void writeChatTemplateSeeds() throws IOException {
        Path dir = clean("ChatTemplateFuzzTestInputs/chatTemplate");
        JsonNode all = JSON.readTree(SharedFixtures.resource("fixtures/chat-templates.json").toFile());
        for (var e : all.get("templates").properties()) {
            Files.writeString(dir.resolve("seed-" + e.getKey() + ".jinja"), e.getValue().asText());
        }
        JsonNode cases = JSON.readTree(SharedFixtures.resource("fixtures/template-conformance.json").toFile()).get("cases");
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (JsonNode c : cases) {
            String source = c.get("template").asText();
            if (seen.add(source)) {
                String name = c.get("name").asText().replaceAll("[^A-Za-z0-9_.-]", "_");
                Files.writeString(dir.resolve("seed-conformance-" + name + ".jinja"), source);
            }
        }
    }

    /** A small byte-level BPE tokenizer.json using several normalizers, pre-tokenizers and decoders. */
    static final String SMALL_BYTELEVEL = """
            {"version": "1.0", "added_tokens": [
              {"id": 0, "content": "<|endoftext|>", "special": true, "lstrip": false, "rstrip": false, "single_word": false},
              {"id": 15, "content": "<s>", "special": true, "lstrip": true, "rstrip": true, "single_word": true}],
             "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"},
               {"type": "Replace", "pattern": {"Regex": "\\\\s+"}, "content": " "}]},
             "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true},
               {"type": "Split", "pattern": {"Regex": "'s|'t| ?\\\\p{L}+| ?\\\\p{N}+| ?[^\\\\s\\\\p{L}\\\\p{N}]+|\\\\s+"},
                "behavior": "Isolated", "invert": false},
               {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]},
             "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
               {"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "<|endoftext|>", "type_id": 0}}],
               "special_tokens": {"<s>": {"id": "<s>", "ids": [15], "tokens": ["<s>"]},
                 "<|endoftext|>": {"id": "<|endoftext|>", "ids": [0], "tokens": ["<|endoftext|>"]}}},
             "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
             "model": {"type": "BPE", "dropout": null, "unk_token": null, "fuse_unk": false, "byte_fallback": false,
               "ignore_merges": true, "vocab": {"<|endoftext|>": 0, "H": 1, "e": 2, "l": 3, "o": 4, "\\u0120": 5, "w": 6,
                 "r": 7, "d": 8, ",": 9, "He": 10, "ll": 11, "llo": 12, "\\u0120w": 13, "1": 14},
               "merges": ["H e", ["l", "l"], "ll o", "\\u0120 w"]}}
            """;

    /** A small SentencePiece-style (Metaspace, byte fallback) tokenizer.json. */
    static final String SMALL_METASPACE = """
            {"version": "1.0", "added_tokens": [
              {"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true},
              {"id": 2, "content": "</s>", "special": true}],
             "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\\u2581"},
               {"type": "Replace", "pattern": {"String": " "}, "content": "\\u2581"}, {"type": "NFKC"}, {"type": "Lowercase"}]},
             "pre_tokenizer": {"type": "Metaspace", "replacement": "\\u2581", "prepend_scheme": "never", "split": true},
             "post_processor": {"type": "Sequence", "processors": [{"type": "ByteLevel"},
               {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}],
                "special_tokens": {"<s>": {"id": "<s>", "ids": [1]}}}]},
             "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\\u2581"}, "content": " "},
               {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
             "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
               "vocab": {"<unk>": 0, "<s>": 1, "</s>": 2, "<0x0A>": 3, "<0x21>": 4, "\\u2581": 5, "h": 6, "e": 7, "l": 8,
                 "o": 9, "\\u2581h": 10, "ll": 11, "\\u2581he": 12, "lo": 13, "<0xC3>": 14, "<0xB6>": 15},
               "merges": ["\\u2581 h", "\\u2581h e", "l l", "l o"]}}
            """;

    /** The tiny Llama model with a SentencePiece-style vocabulary of 16, all tensors F32. */
    private static GgufWriter tinyLlamaSpm() {
        List<String> tokens = List.of("<unk>", "<s>", "</s>", "\u2581", "H", "e", "l", "o", "\u2581H", "ll", "lo", "\u2581w",
                "<0x0A>", "<0x20>", "!", "\u2581end");
        List<Float> scores = new ArrayList<>();
        List<Integer> types = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            scores.add(-i * 0.5f);
            types.add(i == 0 ? 2 : i < 3 ? 3 : tokens.get(i).startsWith("<0x") ? 6 : 1);
        }
        GgufWriter w = new GgufWriter().put("general.architecture", "llama").put("general.name", "tiny-llama")
                .put("llama.context_length", 64).put("llama.embedding_length", FuzzSupport.HIDDEN)
                .put("llama.block_count", 1).put("llama.feed_forward_length", FuzzSupport.FFN)
                .put("llama.attention.head_count", FuzzSupport.HEADS).put("llama.attention.head_count_kv", FuzzSupport.KV_HEADS)
                .put("llama.rope.dimension_count", FuzzSupport.HEAD_DIM).put("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .put("llama.rope.freq_base", 10000f)
                .put("tokenizer.ggml.model", "llama").put("tokenizer.ggml.tokens", tokens).put("tokenizer.ggml.scores", scores)
                .put("tokenizer.ggml.token_type", types).put("tokenizer.ggml.bos_token_id", 1)
                .put("tokenizer.ggml.eos_token_id", 2).put("tokenizer.ggml.unknown_token_id", 0)
                .put("tokenizer.ggml.add_bos_token", true).put("tokenizer.ggml.add_space_prefix", true);
        return ggufTensors(w, false);
    }

    /** The tiny model as Qwen2 (q/k/v biases, untied output) with a byte-level BPE (gpt2) vocabulary of 16. */
    private static GgufWriter tinyQwen2Gpt2() {
        List<String> tokens = List.of("<|endoftext|>", "H", "e", "l", "o", "\u0120", "w", "r", "d", ",", "He", "ll", "llo",
                "\u0120w", "1", "!");
        List<Integer> types = new ArrayList<>();
        for (int i = 0; i < tokens.size(); i++) {
            types.add(i == 0 ? 3 : 1);
        }
        GgufWriter w = new GgufWriter().put("general.architecture", "qwen2").put("general.name", "tiny-qwen2")
                .put("qwen2.context_length", 64).put("qwen2.embedding_length", FuzzSupport.HIDDEN)
                .put("qwen2.block_count", 1).put("qwen2.feed_forward_length", FuzzSupport.FFN)
                .put("qwen2.attention.head_count", FuzzSupport.HEADS).put("qwen2.attention.head_count_kv", FuzzSupport.KV_HEADS)
                .put("qwen2.attention.layer_norm_rms_epsilon", 1e-6f).put("qwen2.rope.freq_base", 1000000f)
                .put("tokenizer.ggml.model", "gpt2").put("tokenizer.ggml.pre", "qwen2").put("tokenizer.ggml.tokens", tokens)
                .put("tokenizer.ggml.token_type", types).put("tokenizer.ggml.merges", List.of("H e", "l l", "ll o", "\u0120 w"))
                .put("tokenizer.ggml.bos_token_id", 0).put("tokenizer.ggml.eos_token_id", 0)
                .put("tokenizer.ggml.add_bos_token", false);
        return ggufTensors(w, true);
    }

    private static GgufWriter ggufTensors(GgufWriter w, boolean qwen) {
        int h = FuzzSupport.HIDDEN;
        int q = FuzzSupport.HEADS * FuzzSupport.HEAD_DIM;
        int kv = FuzzSupport.KV_HEADS * FuzzSupport.HEAD_DIM;
        int f = FuzzSupport.FFN;
        w.tensor("token_embd.weight", values(FuzzSupport.VOCAB * h), FuzzSupport.VOCAB, h);
        if (qwen) {
            w.tensor("output.weight", values(FuzzSupport.VOCAB * h), FuzzSupport.VOCAB, h);
        }
        w.tensor("output_norm.weight", ones(h), h);
        w.tensor("blk.0.attn_norm.weight", ones(h), h);
        w.tensor("blk.0.attn_q.weight", values(q * h), q, h);
        w.tensor("blk.0.attn_k.weight", values(kv * h), kv, h);
        w.tensor("blk.0.attn_v.weight", values(kv * h), kv, h);
        if (qwen) {
            w.tensor("blk.0.attn_q.bias", values(q), q);
            w.tensor("blk.0.attn_k.bias", values(kv), kv);
            w.tensor("blk.0.attn_v.bias", values(kv), kv);
        }
        w.tensor("blk.0.attn_output.weight", values(h * q), h, q);
        w.tensor("blk.0.ffn_norm.weight", ones(h), h);
        w.tensor("blk.0.ffn_gate.weight", values(f * h), f, h);
        w.tensor("blk.0.ffn_up.weight", values(f * h), f, h);
        w.tensor("blk.0.ffn_down.weight", values(h * f), h, f);
        return w;
    }

    /**
     * A GGUF file with one metadata value of every GGUF value type (arrays included), a 64-byte
     * {@code general.alignment}, and one tensor of each supported type (F32, F16, BF16, Q8_0, Q4_0).
     */
    private static byte[] allTypes() {
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x46554747).putInt(3).putLong(5).putLong(15);
        key(b, "general.architecture", 8);
        str(b, "llama");
        key(b, "general.alignment", 4);
        b.putInt(64);
        key(b, "u8", 0);
        b.put((byte) 200);
        key(b, "i8", 1);
        b.put((byte) -3);
        key(b, "u16", 2);
        b.putShort((short) 60000);
        key(b, "i16", 3);
        b.putShort((short) -300);
        key(b, "i32", 5);
        b.putInt(-70000);
        key(b, "f32", 6);
        b.putFloat(0.5f);
        key(b, "bool", 7);
        b.put((byte) 1);
        key(b, "u64", 10);
        b.putLong(1L << 40);
        key(b, "i64", 11);
        b.putLong(-5);
        key(b, "f64", 12);
        b.putDouble(-2.25);
        key(b, "array.i16", 9);
        b.putInt(3).putLong(3).putShort((short) 1).putShort((short) -2).putShort((short) 3);
        key(b, "array.string", 9);
        b.putInt(8).putLong(2);
        str(b, "a");
        str(b, "\u00e9\u6f22");
        key(b, "array.bool", 9);
        b.putInt(7).putLong(2).put((byte) 0).put((byte) 1);
        // tensors: name, dims (innermost first), type, offset (multiples of 64 from the data start)
        long[][] tensors = {{0, 4, 0}, {1, 4, 64}, {30, 4, 128}, {8, 32, 192}, {2, 64, 256}};
        String[] names = {"f32", "f16", "bf16", "q8_0", "q4_0"};
        for (int i = 0; i < tensors.length; i++) {
            str(b, names[i]);
            b.putInt(1).putLong(tensors[i][1]).putInt((int) tensors[i][0]).putLong(tensors[i][2]);
        }
        int dataStart = (b.position() + 63) / 64 * 64;
        byte[] out = new byte[dataStart + 256 + 36];
        b.flip().get(out, 0, b.limit());
        ByteBuffer d = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        d.position(dataStart).putFloat(1).putFloat(-2).putFloat(0.5f).putFloat(3);
        d.position(dataStart + 64).putShort(Float.floatToFloat16(1)).putShort(Float.floatToFloat16(-1))
                .putShort(Float.floatToFloat16(0.25f)).putShort(Float.floatToFloat16(2));
        d.position(dataStart + 128).putShort((short) 0x3f80).putShort((short) 0xc000).putShort((short) 0x3f00)
                .putShort((short) 0x4040);
        d.position(dataStart + 192).putShort(Float.floatToFloat16(0.01f));
        for (int i = 0; i < 32; i++) {
            d.put((byte) (i * 7 - 100));
        }
        d.position(dataStart + 256);
        for (int block = 0; block < 2; block++) {
            d.putShort(Float.floatToFloat16(0.1f));
            for (int i = 0; i < 16; i++) {
                d.put((byte) (i * 17 + block));
            }
        }
        return out;
    }

    private static void key(ByteBuffer b, String key, int type) {
        str(b, key);
        b.putInt(type);
    }

    private static void str(ByteBuffer b, String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        b.putLong(bytes.length).put(bytes);
    }

    private static String indexJson(List<FuzzSupport.Entry> entries, int firstShardCount) throws IOException {
        var root = JSON.createObjectNode();
        root.putObject("metadata").put("total_size", 0);
        var map = root.putObject("weight_map");
        for (int i = 0; i < entries.size(); i++) {
            map.put(entries.get(i).name(), i < firstShardCount ? SafetensorsFuzzTest.SHARD1 : SafetensorsFuzzTest.SHARD2);
        }
        return JSON.writerWithDefaultPrettyPrinter().writeValueAsString(root);
    }

    private static float[] values(int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = ((i * 7919) % 17 - 8) / 64f;
        }
        return v;
    }

    private static float[] ones(int n) {
        float[] v = new float[n];
        Arrays.fill(v, 1f);
        return v;
    }

    private static Path clean(String rel) throws IOException {
        Path dir = ROOT.resolve(rel);
        Files.createDirectories(dir);
        try (var files = Files.list(dir)) {
            for (Path p : files.filter(p -> p.getFileName().toString().startsWith("seed-")).toList()) {
                Files.delete(p);
            }
        }
        return dir;
    }
}
