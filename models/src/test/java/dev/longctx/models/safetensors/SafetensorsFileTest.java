package dev.longctx.models.safetensors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.longctx.core.tensor.DType;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.SharedFixtures;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SafetensorsFileTest {
    static final Path BF16 = SharedFixtures.locate("fixtures/hf/llama-bf16/model.safetensors");
    static final Path GQA = SharedFixtures.locate("fixtures/hf/llama-gqa/model.safetensors");

    @Test
    void readsTheHfFixtures() throws Exception {
        try (SafetensorsFile f = SafetensorsFile.open(BF16)) {
            var emb = f.tensors().get("model.embed_tokens.weight");
            assertArrayEquals(new long[] {256, 64}, emb.shape());
            assertEquals(DType.BF16, emb.dtype());
            assertEquals("pt", f.metadata().get("format"));
            float[] v = f.tensor("model.embed_tokens.weight").toFloatArray();
            assertEquals(256 * 64, v.length);
            var e = assertThrows(ModelFormatException.class, () -> f.tensor("nope"));
            assertTrue(e.getMessage().contains("nope"));
        }
        try (SafetensorsFile f = SafetensorsFile.open(GQA)) {
            assertTrue(f.tensors().size() > 5);
            assertTrue(f.tensors().values().stream().allMatch(t -> t.dtype() == DType.F32));
        }
    }

    static MemorySegment file(String json, int dataBytes) {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        return MemorySegment.ofArray(b.array());
    }

    static void assertBad(String json, int dataBytes, String expected) {
        var e = assertThrows(ModelFormatException.class, () -> SafetensorsFile.parse(file(json, dataBytes), "bad.safetensors"));
        assertTrue(e.getMessage().contains("bad.safetensors") && e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void theFormatsChecksAreEnforced() {
        String ok = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}";
        assertEquals(1, SafetensorsFile.parse(file(ok, 16), "ok").tensors().size());
        assertBad(ok, 8, "outside the data section");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,16]}}", 16, "needs 24");
        assertBad("{\"a\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 16, "unsupported dtype 'I8'");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 16, "overlap");
        assertBad("{\"a\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,16]}}", 16, "overflows");
        assertBad("{\"a\":", 16, "malformed JSON");
        assertBad("{\"a\":{\"dtype\":\"F16\",\"shape\":[-1],\"data_offsets\":[0,2]}}", 16, "non-negative");
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 60);
        var e = assertThrows(ModelFormatException.class, () -> SafetensorsFile.parse(MemorySegment.ofArray(b.array()), "x"));
        assertTrue(e.getMessage().contains("header length"), e.getMessage());
    }

    /** 10,000 seeded mutations of a real file's header: parsed or rejected, never anything else. */
    @Test
    void tenThousandMutatedCopiesNeverCrash() throws Exception {
        byte[] original = Files.readAllBytes(GQA);
        int header = (int) (8 + ByteBuffer.wrap(original).order(ByteOrder.LITTLE_ENDIAN).getLong(0));
        SplittableRandom r = new SplittableRandom(7);
        byte[] work = original.clone();
        int rejected = 0;
        for (int trial = 0; trial < 10_000; trial++) {
            int at = r.nextInt(header);
            byte saved = work[at];
            int length = work.length;
            if (r.nextInt(10) == 0) {
                length = r.nextInt(work.length);
            } else {
                String json = "0123456789-[]{}\",:e";
                work[at] = (byte) (r.nextBoolean() ? r.nextInt(256) : json.charAt(r.nextInt(json.length())));
            }
            try {
                SafetensorsFile.parse(MemorySegment.ofArray(work).asSlice(0, length), "mutant-" + trial);
            } catch (ModelFormatException e) {
                rejected++;
            } catch (Throwable t) {
                fail("trial " + trial + ": " + t, t);
            }
            work[at] = saved;
        }
        assertTrue(rejected > 1000, "rejected " + rejected);
    }
}
