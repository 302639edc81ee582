package dev.longctx.models.fuzz;

import com.code_intelligence.jazzer.junit.DictionaryFile;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.longctx.models.Model;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.safetensors.SafetensorsFile;
import dev.longctx.models.safetensors.SafetensorsModel;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Timeout;

/**
 * Safetensors bytes, alone and as a sharded checkpoint, through {@link SafetensorsFile},
 * {@link SafetensorsModel} and the front door {@link Model#open} of a folder whose
 * {@code config.json} is the tiny Llama model's (so a well-formed file is bound to a config and
 * tensors that disagree with it are exercised). The only failure an input may cause is a
 * {@link ModelFormatException}; anything else that escapes, or an input past the timeout, is a
 * finding.
 *
 * <p>Without {@code JAZZER_FUZZ} this replays {@code SafetensorsFuzzTestInputs/<method>/} as a
 * normal test; with it, it fuzzes (see docs/reliability.md).
 */
class SafetensorsFuzzTest {
    /** Shard names the index target writes its two shards under. */
    static final String SHARD1 = "model-00001-of-00002.safetensors";
    static final String SHARD2 = "model-00002-of-00002.safetensors";

    /** One {@code model.safetensors}: header and every tensor read, then the folder opened as a model. */
    @DictionaryFile(resourcePath = "fuzz-dictionaries/safetensors.dict")
    @FuzzTest(maxDuration = "2h", maxExecutions = 1_000_000)
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void safetensorsFile(byte[] data) throws IOException {
        Path dir = folder();
        FuzzSupport.delete(SafetensorsModel.INDEX);
        Path file = FuzzSupport.write("model.safetensors", data);
        try (SafetensorsFile f = SafetensorsFile.open(file)) {
            for (SafetensorsFile.TensorInfo t : f.tensors().values()) {
                if (t.bytes() <= 1 << 16) {
                    f.tensor(t.name()).toFloatArray();
                }
            }
        } catch (ModelFormatException expected) {
            FuzzSupport.assertReported(expected);
            return;
        }
        openModel(dir);
    }

    /**
     * A sharded checkpoint: the input is {@code u16 n, n bytes of model.safetensors.index.json,
     * u32 m, m bytes of the first shard, the rest: the second shard} (little-endian; a short input
     * leaves the later parts empty), written as {@link #SHARD1} and {@link #SHARD2} beside the
     * index; then {@link SafetensorsModel#open} and, if that succeeds, {@link Model#open}.
     */
    @DictionaryFile(resourcePath = "fuzz-dictionaries/safetensors.dict")
    @FuzzTest(maxDuration = "2h", maxExecutions = 1_000_000)
    @Timeout(value = 10, unit = TimeUnit.SECONDS)
    void safetensorsIndex(byte[] data) throws IOException {
        Path dir = folder();
        ByteBuffer b = ByteBuffer.wrap(data).order(ByteOrder.LITTLE_ENDIAN);
        byte[] index = take(b, b.remaining() >= 2 ? Short.toUnsignedInt(b.getShort()) : 0);
        byte[] shard1 = take(b, b.remaining() >= 4 ? b.getInt() : 0);
        byte[] shard2 = take(b, b.remaining());
        FuzzSupport.delete("model.safetensors");
        FuzzSupport.write(SafetensorsModel.INDEX, index);
        FuzzSupport.write(SHARD1, shard1);
        FuzzSupport.write(SHARD2, shard2);
        try (SafetensorsModel m = SafetensorsModel.open(dir)) {
            for (String name : m.names()) {
                m.tensor(name).elementCount();
            }
        } catch (ModelFormatException expected) {
            FuzzSupport.assertReported(expected);
            return;
        }
        openModel(dir);
    }

    /** Splits an index target input back into its parts (for the seed writer and its test). */
    static byte[] join(String index, byte[] shard1, byte[] shard2) {
        byte[] json = index.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(2 + json.length + 4 + shard1.length + shard2.length).order(ByteOrder.LITTLE_ENDIAN);
        return b.putShort((short) json.length).put(json).putInt(shard1.length).put(shard1).put(shard2).array();
    }

    private static byte[] take(ByteBuffer b, int n) {
        int k = n < 0 ? 0 : Math.min(n, b.remaining());
        byte[] out = Arrays.copyOfRange(b.array(), b.position(), b.position() + k);
        b.position(b.position() + k);
        return out;
    }

    private static Path folder() {
        FuzzSupport.write("config.json", FuzzSupport.TINY_CONFIG.getBytes(StandardCharsets.UTF_8));
        return FuzzSupport.dir();
    }

    private static void openModel(Path dir) {
        try (Model m = Model.open(dir)) {
            m.tensors();
        } catch (ModelFormatException expected) {
            FuzzSupport.assertReported(expected);
            // tensors that do not fit the tiny config
        }
    }
}
