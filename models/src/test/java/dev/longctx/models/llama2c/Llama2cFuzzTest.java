package dev.longctx.models.llama2c;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.ModelFormatException;
import dev.longctx.models.SharedFixtures;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.Decoder;
import dev.longctx.models.decoder.ModelWeights;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * 10,000 seeded mutants of stories260K.bin through the loader, the weight mapping and (for the
 * first loadable ones) a two-token forward pass: each either works or is rejected with a
 * {@link ModelFormatException}; nothing else escapes (no OutOfMemoryError, arithmetic or index
 * error, negative array size).
 */
class Llama2cFuzzTest {
    private static final int HEADER_INTS = 7;
    /** Forward passes are run on this many loadable mutants (each takes about a millisecond). */
    private static final int FORWARDS = 200;

    @Test
    void tenThousandMutatedCheckpointsNeverCrash() throws Exception {
        byte[] original = Files.readAllBytes(SharedFixtures.locate("fixtures/stories260k/stories260K.bin"));
        SplittableRandom r = new SplittableRandom(260);
        TensorOps ops = new TensorOps(KernelProvider.get(), ComputePool.create(1));
        byte[] work = original.clone();
        ByteBuffer header = ByteBuffer.wrap(work).order(ByteOrder.LITTLE_ENDIAN);
        int rejected = 0;
        int forwards = 0;
        for (int trial = 0; trial < 10_000; trial++) {
            int kind = r.nextInt(5);
            int length = work.length;
            int field = r.nextInt(HEADER_INTS);
            switch (kind) {
                case 0 -> work[r.nextInt(4 * HEADER_INTS)] ^= (byte) (1 << r.nextInt(8)); // a bit flip in the header
                case 1 -> header.putInt(4 * field, r.nextInt()); // any int
                case 2 -> header.putInt(4 * field, switch (r.nextInt(4)) { // edge values
                    case 0 -> 0;
                    case 1 -> -1;
                    case 2 -> Integer.MIN_VALUE;
                    default -> Integer.MAX_VALUE;
                });
                case 3 -> header.putInt(4 * field, 1 + r.nextInt(64)); // small, plausible sizes
                default -> length = r.nextInt(work.length); // truncation
            }
            String name = "mutant-" + trial + ".bin";
            try {
                Llama2cCheckpoint c = Llama2cCheckpoint.parse(MemorySegment.ofArray(work).asSlice(0, length), name);
                ModelWeights w = ModelWeights.fromGgufNames(c.config(), c.tensors()::get, c.tensors()::containsKey);
                if (forwards < FORWARDS) {
                    forwards++;
                    forward(w, ops);
                }
            } catch (ModelFormatException e) {
                rejected++;
                assertTrue(e.getMessage().contains(name) || e.getMessage().startsWith("weights"), e.getMessage());
            } catch (Throwable t) {
                fail("trial " + trial + " (kind " + kind + ", field " + field + "): " + t, t);
            }
            System.arraycopy(original, 0, work, 0, 4 * HEADER_INTS);
        }
        assertTrue(rejected > 5_000, "most mutants must be rejected, rejected " + rejected);
        assertTrue(forwards > 0, "some mutants (e.g. another seq_len) must still load and run");
    }

    private static void forward(ModelWeights w, TensorOps ops) {
        ModelConfig c = w.config();
        KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), 16, DType.F32);
        try (BlockPool pool = new BlockPool(layout, 1L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            float[] logits = new Decoder(w, ops).forward(cache, new int[] {0, Math.min(5, c.vocabSize() - 1)}, 0, false);
            assertTrue(logits.length == c.vocabSize());
        }
    }
}
