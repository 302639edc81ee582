package dev.longctx.models.gguf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.SharedFixtures;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@link GgufFile#readHeader} and {@link GgmlType} on llama-quantize's files, whatever their block types. */
class GgufHeaderTest {
    private static final Path QUANTS = SharedFixtures.locate("fixtures/gguf-quants/manifest.json").getParent();

    /**
     * Every gguf-quants file: the header's types are the manifest's (gguf-py's), and each tensor's
     * size from GgmlType fills the space llama-quantize gave it up to the 32-byte alignment: the
     * block sizes of Q2_K..IQ4_XS checked against real files.
     */
    @Test
    void typesAndSizesMatchLlamaQuantizesFiles() throws Exception {
        JsonNode files = new ObjectMapper().readTree(Files.readString(QUANTS.resolve("manifest.json"))).get("files");
        for (Map.Entry<String, JsonNode> f : files.properties()) {
            GgufFile.Header h = GgufFile.readHeader(QUANTS.resolve(f.getKey()));
            JsonNode types = f.getValue().get("types_by_tensor");
            assertEquals(types.size(), h.tensors().size(), f.getKey());
            List<GgufFile.HeaderTensor> byOffset = new ArrayList<>(h.tensors());
            byOffset.sort(Comparator.comparingLong(GgufFile.HeaderTensor::relativeOffset));
            for (int i = 0; i < byOffset.size(); i++) {
                GgufFile.HeaderTensor t = byOffset.get(i);
                GgmlType type = GgmlType.fromId(t.ggmlType()).orElseThrow();
                assertEquals(types.get(t.name()).asText(), type.name(), f.getKey() + " " + t.name());
                long bytes = type.bytesFor(t.elements());
                assertTrue(bytes > 0, t.name());
                if (i + 1 < byOffset.size()) {
                    long room = byOffset.get(i + 1).relativeOffset() - t.relativeOffset();
                    assertTrue(room >= bytes && room - bytes < 32, f.getKey() + " " + t.name() + ": " + bytes + " bytes in " + room);
                }
            }
            assertEquals(3, h.version());
            assertEquals("llama", h.metadata().get("general.architecture"));
        }
    }

    /** A type id ggml does not define: the header still lists the tensor; open() still refuses the file. */
    /** The engine's decodable types and the file-format table agree on every id and block layout. */
    @Test
    void everyDecodableTypeHasTheSameLayoutInTheFileTable() {
        for (dev.longctx.core.tensor.DType t : dev.longctx.core.tensor.DType.values()) {
            GgmlType g = GgmlType.fromId(t.ggmlType()).orElseThrow(() -> new AssertionError(t + " missing from GgmlType"));
            org.junit.jupiter.api.Assertions.assertEquals(t.name(), g.name());
            org.junit.jupiter.api.Assertions.assertEquals(t.blockSize(), g.blockSize(), t.toString());
            org.junit.jupiter.api.Assertions.assertEquals(t.blockBytes(), g.blockBytes(), t.toString());
        }
    }

    @Test
    void unknownTypeIdIsListedNotDecoded(@TempDir Path tmp) throws Exception {
        Path file = withTypeOf(QUANTS.resolve("model-Q8_0.gguf"), "output_norm.weight", 99, tmp);
        GgufFile.HeaderTensor t = GgufFile.readHeader(file).tensors().stream()
                .filter(x -> x.name().equals("output_norm.weight")).findFirst().orElseThrow();
        assertEquals(99, t.ggmlType());
        assertTrue(GgmlType.fromId(99).isEmpty());
        ModelFormatException e = assertThrows(ModelFormatException.class, () -> GgufFile.open(file).close());
        assertTrue(e.getMessage().contains("unsupported type 99"), e.getMessage());
    }

    /** A GGUF copy of {@code source} with tensor {@code name} (one dimension) given ggml type {@code type}. */
    static Path withTypeOf(Path source, String name, int type, Path dir) throws Exception {
        byte[] b = Files.readAllBytes(source);
        byte[] key = name.getBytes(StandardCharsets.UTF_8);
        // a tensor info is: u64 name length, name, u32 dimension count, u64 per dimension, u32 type, u64 offset
        for (int i = 8; i + key.length < b.length; i++) {
            if (ByteBuffer.wrap(b, i - 8, 8).order(ByteOrder.LITTLE_ENDIAN).getLong() == key.length
                    && java.util.Arrays.equals(b, i, i + key.length, key, 0, key.length)) {
                int at = i + key.length;
                int dims = ByteBuffer.wrap(b, at, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
                ByteBuffer.wrap(b, at + 4 + 8 * dims, 4).order(ByteOrder.LITTLE_ENDIAN).putInt(type);
                Path out = dir.resolve("patched.gguf");
                Files.write(out, b);
                return out;
            }
        }
        throw new AssertionError("no tensor info for " + name);
    }
}
