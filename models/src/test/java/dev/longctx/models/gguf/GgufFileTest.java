package dev.longctx.models.gguf;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.longctx.core.tensor.DType;
import dev.longctx.core.tensor.Tensor;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.SharedFixtures;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import dev.longctx.core.kernels.spi.Quantization;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class GgufFileTest {
    /**
     * The shared fixture: shared/fixtures beside the repository (CI puts shared/ there), or under
     * $LONGCTX_SHARED.
     */
    static final Path STORIES = SharedFixtures.locate("fixtures/stories260k/stories260K.gguf");

    @Test
    void readsTheStoriesModel() throws Exception {
        try (GgufFile g = GgufFile.open(STORIES)) {
            assertEquals(3, g.version());
            assertEquals(48, g.tensors().size());
            assertEquals(19, g.metadata().size());
            assertEquals("llama", g.string("general.architecture"));
            assertEquals(64, g.integer("llama.embedding_length"));
            assertEquals(5, g.integer("llama.block_count"));
            GgufFile.TensorInfo emb = g.tensors().get("token_embd.weight");
            assertArrayEquals(new long[] {512, 64}, emb.shape());
            assertEquals(DType.F32, emb.dtype());
            Tensor t = g.tensor("token_embd.weight");
            float[] v = t.toFloatArray();
            assertEquals(512 * 64, v.length);
            assertTrue(Float.isFinite(v[0]) && Float.isFinite(v[v.length - 1]));
            assertTrue(g.metadata().get("tokenizer.ggml.tokens") instanceof List<?> l && l.size() == 512);
            var e = assertThrows(ModelFormatException.class, () -> g.tensor("no.such.tensor"));
            assertTrue(e.getMessage().contains("no.such.tensor"), e.getMessage());
        }
    }

    @Test
    void handWrittenBadFilesNameTheProblem() {
        assertBad(bytes(b -> b.putInt(0x12345678).putInt(3).putLong(0).putLong(0).putLong(0)), "wrong magic");
        assertBad(bytes(b -> b.putInt(GgufFile.MAGIC).putInt(1).putLong(0).putLong(0).putLong(0)), "unsupported GGUF version 1");
        assertBad(bytes(b -> b.putInt(GgufFile.MAGIC).putInt(3).putLong(0).putLong(1L << 60).putLong(0)),
                "metadata count 1152921504606846976 cannot fit");
        assertBad(bytes(b -> b.putInt(GgufFile.MAGIC).putInt(3).putLong(1L << 60).putLong(0).putLong(0)), "tensor count");
        // One metadata key with a 2^60-byte string length.
        assertBad(bytes(b -> b.putInt(GgufFile.MAGIC).putInt(3).putLong(0).putLong(1).putLong(1L << 60).putLong(0)),
                "string length");
        // One tensor with an unsupported type (IQ2_XXS = 16).
        assertBad(bytes(b -> {
            b.putInt(GgufFile.MAGIC).putInt(3).putLong(1).putLong(0);
            b.putLong(1).put((byte) 'w').putInt(1).putLong(256).putInt(16).putLong(0);
            b.put(new byte[64]);
        }), "tensor 'w' has unsupported type 16");
        // A K-quant (Q4_K = 12) row that is not a whole number of 256-element blocks.
        assertBad(bytes(b -> {
            b.putInt(GgufFile.MAGIC).putInt(3).putLong(1).putLong(0);
            b.putLong(1).put((byte) 'w').putInt(2).putLong(576).putLong(2).putInt(12).putLong(0);
            b.put(new byte[64]);
        }), "tensor 'w' row of 576 elements is not a whole number of Q4_K blocks of 256");
        // A Q6_K (14) tensor of two blocks (420 bytes) in a file that holds less.
        assertBad(bytes(b -> {
            b.putInt(GgufFile.MAGIC).putInt(3).putLong(1).putLong(0);
            b.putLong(1).put((byte) 'w').putInt(2).putLong(256).putLong(2).putInt(14).putLong(0);
            b.put(new byte[300]);
        }), "past the end");
        // Dimensions whose product overflows.
        assertBad(bytes(b -> {
            b.putInt(GgufFile.MAGIC).putInt(3).putLong(1).putLong(0);
            b.putLong(1).put((byte) 'w').putInt(2).putLong(1L << 40).putLong(1L << 40).putInt(0).putLong(0);
        }), "overflows");
        // A tensor past the end.
        assertBad(bytes(b -> {
            b.putInt(GgufFile.MAGIC).putInt(3).putLong(1).putLong(0);
            b.putLong(1).put((byte) 'w').putInt(1).putLong(1024).putInt(0).putLong(0);
            b.put(new byte[40]);
        }), "past the end");
    }

    /**
     * A file with no tensors may end right after its metadata, without padding to the alignment
     * (llama.cpp's vocabulary-only files do); a file with tensors may not.
     */
    @Test
    void fileWithoutTensorsNeedsNoPadding() {
        MemorySegment vocabOnly = bytes(b -> {
            b.putInt(GgufFile.MAGIC).putInt(3).putLong(0).putLong(1);
            b.putLong(3).put("k.y".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).putInt(4).putInt(7); // u32 value 7
        });
        assertTrue(vocabOnly.byteSize() % GgufFile.DEFAULT_ALIGNMENT != 0);
        var parsed = GgufFile.parse(vocabOnly, "vocab.gguf");
        assertEquals(7L, parsed.metadata().get("k.y"));
        assertTrue(parsed.tensors().isEmpty());
        assertBad(bytes(b -> {
            b.putInt(GgufFile.MAGIC).putInt(3).putLong(1).putLong(0);
            b.putLong(1).put((byte) 'w').putInt(1).putLong(32).putInt(0).putLong(0);
        }), "data section would start");
    }

    private static MemorySegment bytes(java.util.function.Consumer<ByteBuffer> fill) {
        ByteBuffer b = ByteBuffer.allocate(4096).order(ByteOrder.LITTLE_ENDIAN);
        fill.accept(b);
        byte[] out = new byte[b.position()];
        b.flip().get(out);
        return MemorySegment.ofArray(out);
    }

    private static void assertBad(MemorySegment file, String expected) {
        var e = assertThrows(ModelFormatException.class, () -> GgufFile.parse(file, "bad.gguf"));
        assertTrue(e.getMessage().contains("bad.gguf") && e.getMessage().contains(expected), e.getMessage());
    }

    /**
     * 10,000 seeded mutations of the real file (byte flips in the header and tensor infos, 64-bit
     * fields set to huge values, truncations): each either parses or is rejected with a
     * ModelFormatException; nothing else (no OutOfMemoryError, NegativeArraySizeException, index
     * error) ever escapes.
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"fixtures/stories260k/stories260K.gguf", "fixtures/gguf-quants/model-Q4_K_M-mix.gguf",
            "fixtures/gguf-quants/model-Q3_K.gguf", "fixtures/gguf-quants/model-IQ4_XS.gguf",
            "fixtures/gguf-quants/model-Q5_1.gguf"})
    void tenThousandMutatedCopiesNeverCrash(String fixture) throws Exception {
        byte[] original = Files.readAllBytes(SharedFixtures.locate(fixture));
        int header = headerLength(original);
        SplittableRandom r = new SplittableRandom(2026);
        byte[] work = original.clone();
        int rejected = 0;
        int headerRejected = 0;
        for (int trial = 0; trial < 10_000; trial++) {
            int kind = r.nextInt(4);
            int length = work.length;
            int[] touched = new int[8];
            int nt = 0;
            if (kind == 0) {
                for (int i = 0; i < 1 + r.nextInt(4); i++) {
                    int at = r.nextInt(header);
                    touched[nt++] = at;
                    work[at] ^= (byte) (1 << r.nextInt(8));
                }
            } else if (kind == 1) {
                int at = r.nextInt(header - 8);
                long huge = r.nextBoolean() ? (1L << r.nextInt(40, 63)) : -1L - r.nextInt(5);
                for (int i = 0; i < 8; i++) {
                    touched[nt++] = at + i;
                }
                ByteBuffer.wrap(work).order(ByteOrder.LITTLE_ENDIAN).putLong(at, huge);
            } else if (kind == 2) {
                length = r.nextInt(work.length);
            } else {
                int at = r.nextInt(header);
                touched[nt++] = at;
                work[at] = (byte) r.nextInt(256);
            }
            MemorySegment seg = MemorySegment.ofArray(work).asSlice(0, length);
            try {
                var parsed = GgufFile.parse(seg, "mutant-" + trial + ".gguf");
                // Whatever types the mutated infos now name, the first block of each tensor decodes.
                for (GgufFile.TensorInfo t : parsed.tensors().values()) {
                    int n = t.dtype().blockSize();
                    if (t.bytes() >= t.dtype().blockBytes() && t.offset() + t.dtype().blockBytes() <= length) {
                        Quantization.dequantize(t.dtype(), seg, t.offset(), new float[n], 0, n);
                    }
                }
            } catch (ModelFormatException e) {
                rejected++;
            } catch (Throwable t) {
                fail("trial " + trial + " (kind " + kind + "): " + t, t);
            }
            try { // the header-only reader (inspect) of the same bytes: the same rule
                GgufFile.parseHeader(seg, "mutant-" + trial + ".gguf").tensors().forEach(t ->
                        GgmlType.fromId(t.ggmlType()).ifPresent(g -> g.bytesFor(t.elements())));
            } catch (ModelFormatException e) {
                headerRejected++;
            } catch (Throwable t) {
                fail("trial " + trial + " (kind " + kind + "), header only: " + t, t);
            }
            for (int i = 0; i < nt; i++) {
                work[touched[i]] = original[touched[i]];
            }
            if (kind == 1) {
                System.arraycopy(original, touched[0], work, touched[0], 8);
            }
        }
        assertTrue(rejected > 1000, "the mutations should mostly be caught, rejected " + rejected);
        assertTrue(headerRejected > 1000 && headerRejected <= rejected, "header-only rejections " + headerRejected
                + " (full parse: " + rejected + ")");
    }

    /** Bytes before the data section of the real file. */
    private static int headerLength(byte[] file) {
        MemorySegment seg = MemorySegment.ofArray(file);
        long first = GgufFile.parse(seg, "stories").tensors().values().stream()
                .mapToLong(GgufFile.TensorInfo::offset).min().orElseThrow();
        return (int) first;
    }
}
