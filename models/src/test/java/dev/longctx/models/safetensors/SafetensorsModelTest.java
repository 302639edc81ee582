package dev.longctx.models.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.models.ModelFormatException;
import dev.longctx.models.SharedFixtures;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SafetensorsModelTest {

    /** Writes the named tensors of {@code src} into a new safetensors file (F32 only, as llama-gqa). */
    private static void writeShard(SafetensorsFile src, List<String> names, Path out) throws Exception {
        StringBuilder header = new StringBuilder("{");
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        for (String n : names) {
            var info = src.tensors().get(n);
            float[] v = src.tensor(n).toFloatArray();
            long begin = data.size();
            ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : v) {
                b.putFloat(f);
            }
            data.write(b.array());
            if (header.length() > 1) {
                header.append(',');
            }
            header.append('"').append(n).append("\":{\"dtype\":\"F32\",\"shape\":")
                    .append(java.util.Arrays.toString(info.shape()).replace(" ", "")).append(",\"data_offsets\":[")
                    .append(begin).append(',').append(data.size()).append("]}");
        }
        byte[] h = header.append('}').toString().getBytes(StandardCharsets.UTF_8);
        ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length);
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        file.write(len.array());
        file.write(h);
        file.write(data.toByteArray());
        Files.write(out, file.toByteArray());
    }

    @Test
    void shardsListedInTheIndexReadLikeTheSingleFile(@TempDir Path dir) throws Exception {
        Path gqa = SharedFixtures.locate("fixtures/hf/llama-gqa/model.safetensors").getParent();
        try (SafetensorsModel single = SafetensorsModel.open(gqa);
             SafetensorsFile src = SafetensorsFile.open(gqa.resolve("model.safetensors"))) {
            List<String> names = new ArrayList<>(src.tensors().keySet());
            List<String> a = names.subList(0, names.size() / 2);
            List<String> b = names.subList(names.size() / 2, names.size());
            writeShard(src, a, dir.resolve("model-00001-of-00002.safetensors"));
            writeShard(src, b, dir.resolve("model-00002-of-00002.safetensors"));
            StringBuilder map = new StringBuilder("{\"weight_map\":{");
            for (int i = 0; i < names.size(); i++) {
                map.append(i == 0 ? "" : ",").append('"').append(names.get(i)).append("\":\"model-0000")
                        .append(i < a.size() ? 1 : 2).append("-of-00002.safetensors\"");
            }
            Files.writeString(dir.resolve(SafetensorsModel.INDEX), map.append("}}").toString());
            try (SafetensorsModel sharded = SafetensorsModel.open(dir)) {
                assertEquals(single.names(), sharded.names());
                for (String n : names) {
                    assertArrayEquals(single.tensor(n).toFloatArray(), sharded.tensor(n).toFloatArray(), n);
                }
            }
            Files.writeString(dir.resolve(SafetensorsModel.INDEX), "{\"weight_map\":{\"x\":\"../evil.safetensors\"}}");
            var e = assertThrows(ModelFormatException.class, () -> SafetensorsModel.open(dir));
            assertTrue(e.getMessage().contains("not a file in the model folder"), e.getMessage());
            Files.writeString(dir.resolve(SafetensorsModel.INDEX),
                    "{\"weight_map\":{\"missing.weight\":\"model-00001-of-00002.safetensors\"}}");
            e = assertThrows(ModelFormatException.class, () -> SafetensorsModel.open(dir));
            assertTrue(e.getMessage().contains("missing.weight"), e.getMessage());
            // Found by fuzzing: a shard that is not there was a NoSuchFileException; "/" an NPE; a NUL an InvalidPathException
            for (String shard : List.of("model-20001-of-00002.safetensors", "/", "a\\u0000b", ".", "sub/x.safetensors")) {
                Files.writeString(dir.resolve(SafetensorsModel.INDEX), "{\"weight_map\":{\"w\":\"" + shard + "\"}}");
                e = assertThrows(ModelFormatException.class, () -> SafetensorsModel.open(dir), shard);
                assertTrue(e.getMessage().contains("not a file in the model folder"), e.getMessage());
            }
        }
    }
}
