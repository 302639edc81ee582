package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.KvView;
import dev.longctx.core.rope.Rope;
import dev.longctx.core.rope.RopePairing;
import dev.longctx.core.rope.RopeScaling;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class RepositionTest {
    static final int D = 64;

    @Test
    void repositionedKeysEqualFreshlyRotatedOnesAndShiftsDoNotCompound() {
        // YaRN has an attention factor != 1: a re-rotation that re-applied it would compound.
        Rope rope = new Rope(D, D, 10000, new RopeScaling.Yarn(4, 1024, 32, 1, 1, 0, Float.NaN, true), 4096);
        assertTrue(rope.attentionFactor() != 1f);
        KvLayout layout = new KvLayout(1, 1, D, 4, DType.F32);
        SplittableRandom r = new SplittableRandom(1);
        int n = 30;
        float[][] base = new float[n][D];
        try (BlockPool pool = new BlockPool(layout, 1 << 22); SequenceKvCache c = SequenceKvCache.create(pool)) {
            for (int i = 0; i < n; i++) {
                for (int j = 0; j < D; j++) {
                    base[i][j] = (float) r.nextGaussian();
                }
                float[] k = base[i].clone();
                long pos = 3L * i + 5; // gaps between original positions
                rope.rotateHeads(k, 0, 1, pos, 0, RopePairing.ROTATE_HALF);
                c.append(0, k, new float[D], pos);
            }
            new StreamingLlmPolicy(2, 10).afterStep(c, 0);
            assertEquals(12, c.validLength(0, 0));
            long next = c.reposition(0, 0, 0, rope, RopePairing.ROTATE_HALF);
            assertEquals(12, next);
            assertKeysRotatedAt(c, base, rope, 0);
            // Shift far away and back: pure rotations, so nothing compounds.
            for (int round = 0; round < 5; round++) {
                c.reposition(0, 0, 100_000, rope, RopePairing.ROTATE_HALF);
                c.reposition(0, 0, 0, rope, RopePairing.ROTATE_HALF);
            }
            assertKeysRotatedAt(c, base, rope, 0);
            // The next token continues at the returned position.
            float[] k = new float[D];
            c.append(0, k, new float[D], next);
            assertThrows(IllegalArgumentException.class, () -> c.append(0, new float[D], new float[D], 5));
        }
    }

    @Test
    void contiguousStreamingLlmRepositionsAfterEachEviction() {
        Rope rope = Rope.standard(D, 10000, 4096);
        KvLayout layout = new KvLayout(1, 1, D, 4, DType.F32);
        StreamingLlmPolicy policy = StreamingLlmPolicy.contiguous(2, 6, rope, RopePairing.ROTATE_HALF);
        assertEquals(EvictionPolicy.Positions.CONTIGUOUS, policy.positions());
        assertEquals(EvictionPolicy.Positions.ORIGINAL, new StreamingLlmPolicy(2, 6).positions());
        try (BlockPool pool = new BlockPool(layout, 1 << 22); SequenceKvCache c = SequenceKvCache.create(pool)) {
            long pos = 0;
            for (int t = 0; t < 40; t++) {
                c.append(0, new float[D], new float[D], pos);
                policy.afterStep(c, 0);
                pos = c.validLength(0, 0); // the next token is rotated at the cache length
            }
            KvView v = c.view(0, 0);
            long expected = 0;
            for (int p = 0; p < v.pageCount(); p++) {
                for (int s = 0; s < v.pageLength(p); s++) {
                    if (v.isValid(p, s)) {
                        assertEquals(expected++, v.position(p, s));
                    }
                }
            }
            assertEquals(8, expected);
        }
        assertEquals("full", new FullCachePolicy().name());
    }

    /** Valid key j (in cache order) must equal base[original index] rotated freshly at first + j. */
    private static void assertKeysRotatedAt(SequenceKvCache c, float[][] base, Rope rope, long first) {
        KvView v = c.view(0, 0);
        int[] kept = {0, 1, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29}; // 2 sinks + the last 10 of 30
        float[] key = new float[D];
        int j = 0;
        for (int p = 0; p < v.pageCount(); p++) {
            for (int s = 0; s < v.pageLength(p); s++) {
                if (!v.isValid(p, s)) {
                    continue;
                }
                assertEquals(first + j, v.position(p, s));
                Quantization.dequantize(DType.F32, v.keys(p), s * v.rowBytes(), key, 0, D);
                float[] fresh = base[kept[j]].clone();
                rope.rotateHeads(fresh, 0, 1, first + j, 0, RopePairing.ROTATE_HALF);
                for (int d = 0; d < D; d++) {
                    assertEquals(fresh[d], key[d], 1e-5f * Math.max(1f, Math.abs(fresh[d])), "key " + j + " dim " + d);
                    assertTrue(v.keyMin(p)[d] <= key[d] && key[d] <= v.keyMax(p)[d]);
                }
                j++;
            }
        }
        assertEquals(kept.length, j);
    }
}
