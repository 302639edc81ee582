package dev.longctx.models.decoder;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.Model;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.gguf.GgufFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every GGUF block type against references made outside this code base
 * ({@code shared/fixtures/gguf-quants}, made with llama.cpp's {@code llama-quantize} and gguf-py):
 * the decoded {@code blk.0.attn_q.weight} equals gguf-py's {@code dequantize} bit for bit, and the
 * logits of the whole model at every position are within 1e-3 of a float64 NumPy forward pass over
 * the weights as gguf-py decodes them, through both kernel providers.
 */
class QuantizedGgufTest {
    static final String DIR = "fixtures/gguf-quants/";

    static Path fixture(String name) {
        return SharedFixtures.locate(DIR + name);
    }

    static VectorKernels[] providers() {
        return new VectorKernels[] {KernelProvider.scalar(), KernelProvider.panama()};
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL",
            "IQ4_XS"})
    void decodesBitForBitAsGgufPy(String type) throws Exception {
        byte[] raw = Files.readAllBytes(fixture("dequant/" + type + ".blk.0.attn_q.weight.f32"));
        float[] expected = new float[raw.length / 4];
        ByteBuffer.wrap(raw).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(expected);
        try (GgufFile g = GgufFile.open(fixture("model-" + type + ".gguf"))) {
            Tensor t = g.tensor("blk.0.attn_q.weight");
            assertEquals(DType.valueOf(type), t.dtype());
            assertEquals(expected.length, t.rows() * t.columns());
            for (VectorKernels k : providers()) {
                float[] got = new float[expected.length];
                k.dequantize(t.dtype(), t.segment(), 0, got, 0, got.length);
                for (int i = 0; i < got.length; i++) {
                    if (Float.floatToRawIntBits(expected[i]) != Float.floatToRawIntBits(got[i])) {
                        throw new AssertionError(k.name() + " " + type + " element " + i + " (row " + i / t.columns()
                                + "): gguf-py " + expected[i] + ", ours " + got[i]);
                    }
                }
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL",
            "IQ4_XS", "Q4_K_M-mix"})
    void logitsMatchFloat64Reference(String type) throws Exception {
        JsonNode ref = new ObjectMapper().readTree(Files.readString(fixture("logits_f64-" + type + ".json")));
        int[] ids = new int[ref.get("input_ids").size()];
        for (int i = 0; i < ids.length; i++) {
            ids[i] = ref.get("input_ids").get(i).asInt();
        }
        try (Model m = Model.open(fixture("model-" + type + ".gguf")); ComputePool pool = ComputePool.create(2)) {
            Set<String> types = new TreeSet<>();
            for (ModelWeights.Layer l : m.weights().layers()) {
                types.add(l.wq().dtype().toString());
            }
            ModelConfig c = m.config();
            for (VectorKernels k : providers()) {
                KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 16, DType.F32);
                float[] logits;
                try (BlockPool blocks = new BlockPool(layout, 16L << 20); SequenceKvCache cache = SequenceKvCache.create(blocks)) {
                    logits = new Decoder(m.weights(), new TensorOps(k, pool)).forward(cache, ids, 0, true);
                }
                double max = 0;
                for (int p = 0; p < ids.length; p++) {
                    JsonNode row = ref.get("logits").get(p);
                    for (int j = 0; j < c.vocabSize(); j++) {
                        max = Math.max(max, Math.abs(logits[p * c.vocabSize() + j] - row.get(j).asDouble()));
                    }
                }
                assertTrue(max <= 1e-3, k.name() + " " + type + " " + types + ": max |logit - f64| = " + max);
            }
        }
    }

    /**
     * A norm vector declared as a block type (Q8_0 here: its 256 elements fit the F32 data's slot)
     * is refused with the tensor, its type and its offset; llama.cpp never quantises vectors.
     */
    @org.junit.jupiter.api.Test
    void aQuantisedNormIsRefusedNamingTensorTypeAndOffset(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        byte[] file = Files.readAllBytes(fixture("model-Q8_0.gguf"));
        byte[] name = "blk.0.attn_norm.weight".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        int at = indexOf(file, name);
        assertTrue(at > 0, "tensor info not found");
        ByteBuffer b = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN);
        int typeAt = at + name.length + 4 + 8; // n_dims (u32) = 1, one u64 dimension, then the type
        assertEquals(1, b.getInt(at + name.length));
        assertEquals(0, b.getInt(typeAt), "F32 before the patch");
        b.putInt(typeAt, DType.Q8_0.ggmlType());
        Path bad = tmp.resolve("quantised-norm.gguf");
        Files.write(bad, file);
        var e = org.junit.jupiter.api.Assertions.assertThrows(dev.longctx.models.ModelFormatException.class, () -> Model.open(bad));
        assertTrue(e.getMessage().contains("blk.0.attn_norm.weight") && e.getMessage().contains("Q8_0")
                && e.getMessage().contains("quantised-norm.gguf"), e.getMessage());
        try (GgufFile g = GgufFile.open(bad)) {
            String offset = Long.toString(g.tensors().get("blk.0.attn_norm.weight").offset());
            assertTrue(e.getMessage().contains(offset), e.getMessage() + " should give offset " + offset);
        }
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
