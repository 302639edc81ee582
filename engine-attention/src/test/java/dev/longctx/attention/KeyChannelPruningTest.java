package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * ThinK's channel selection ({@link KeyChannelPruning}) against its naive definition, and
 * {@link ChannelPrunedAttention} against the naive kernel on keys whose pruned channels are zero
 * (the equivalent explicit problem), at awkward sizes.
 */
class KeyChannelPruningTest {

    @Test
    void fastScoresEqualTheFrobeniusDefinition() {
        SplittableRandom r = new SplittableRandom(7);
        int[][] shapes = {{1, 1, 1, 24, 5, 8}, {7, 4, 2, 40, 133, 16}, {33, 6, 3, 64, 70, 32}, {2, 2, 2, 32, 1, 4}};
        for (DType t : new DType[] {DType.F32, DType.BF16, DType.F16}) {
            for (int[] sh : shapes) {
                int rows = sh[0], hq = sh[1], hkv = sh[2], d = sh[3], lk = sh[4], ps = sh[5];
                float[] q = Problems.gaussian(r, rows * hq * d, 1.3);
                KvView[] views = Problems.views(r, hkv, lk, d, t, ps, 2);
                if (lk > 10) {
                    ((DenseKvView) views[0]).invalidate(3);
                    ((DenseKvView) views[0]).invalidate(lk - 2);
                }
                for (TensorOps ops : Problems.allOps()) {
                    for (int h = 0; h < hkv; h++) {
                        double[] fast = KeyChannelPruning.scores(ops, q, rows, hq, hkv, h, views[h]);
                        double[] ref = KeyChannelPruning.referenceScores(q, rows, hq, hkv, h, views[h]);
                        for (int c = 0; c < d; c++) {
                            assertEquals(ref[c], fast[c], 1e-9 * Math.max(1, ref[c]), t + " " + java.util.Arrays.toString(sh)
                                    + " head " + h + " channel " + c);
                        }
                    }
                }
            }
        }
    }

    @Test
    void keepsTheTopChannelsWithTiesToTheLowerIndex() {
        assertArrayEquals(new boolean[] {false, true, true, false, true}, KeyChannelPruning.keep(new double[] {1, 3, 2, 2, 5}, 3));
        assertArrayEquals(new boolean[] {true, true, false}, KeyChannelPruning.keep(new double[] {0, 0, 0}, 2));
        assertEquals(128 - 51, KeyChannelPruning.keptChannels(128, 0.4)); // floor(0.4 * 128) = 51 pruned
        assertEquals(48, KeyChannelPruning.keptChannels(80, 0.4));
        assertEquals(64, KeyChannelPruning.keptChannels(64, 0));
        assertEquals(1, KeyChannelPruning.keptChannels(4, 0.99));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> KeyChannelPruning.keptChannels(64, 1));
        assertTrue(e.getMessage().contains("[0, 1)"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> KeyChannelPruning.keep(new double[3], 0));
        assertThrows(IllegalArgumentException.class, () -> KeyChannelPruning.scores(Problems.panamaOneThread(), new float[3], 1, 4, 2, 0,
                Problems.views(new SplittableRandom(1), 1, 4, 8, DType.F32, 4, 0)[0]));
    }

    /** The pruned kernel over split-K (decode), tiled (chunks) and Quest equals the naive kernel on channel-zeroed keys. */
    @Test
    void prunedAttentionEqualsNaiveOnZeroedKeyChannels() {
        SplittableRandom r = new SplittableRandom(11);
        int[][] shapes = {{1, 4, 2, 40, 301, 16}, {1, 6, 3, 24, 77, 8}, {5, 4, 2, 40, 130, 32}, {17, 2, 1, 64, 17, 16}};
        for (int[] sh : shapes) {
            int rows = sh[0], hq = sh[1], hkv = sh[2], d = sh[3], lk = sh[4], ps = sh[5];
            float[][] k = new float[hkv][];
            float[][] v = new float[hkv][];
            KvView[] views = new KvView[hkv];
            KvView[] zeroed = new KvView[hkv];
            boolean[][] masks = new boolean[hkv][];
            for (int h = 0; h < hkv; h++) {
                k[h] = Problems.gaussian(r, lk * d, 1);
                v[h] = Problems.gaussian(r, lk * d, 1);
                views[h] = DenseKvView.of(k[h], v[h], d, DType.F32, ps);
                masks[h] = new boolean[d];
                for (int c = 0; c < d; c++) {
                    masks[h][c] = r.nextInt(5) < 3; // about 40 % pruned, a different set per head
                }
                float[] kz = k[h].clone();
                for (int i = 0; i < lk; i++) {
                    for (int c = 0; c < d; c++) {
                        if (!masks[h][c]) {
                            kz[i * d + c] = 0;
                        }
                    }
                }
                zeroed[h] = DenseKvView.of(kz, v[h], d, DType.F32, ps);
            }
            float[] q = Problems.gaussian(r, rows * hq * d, 1.5);
            AttentionProblem p = AttentionProblem.causal(q, rows, hq, views);
            AttentionProblem ref = AttentionProblem.causal(q, rows, hq, zeroed);
            float[] refOut = new float[p.outputLength()];
            new NaiveAttention().attend(ref, refOut, null, null);
            float[] exactOut = new float[p.outputLength()];
            new NaiveAttention().attend(p, exactOut, null, null);
            assertTrue(Problems.relativeError(exactOut, refOut, refOut.length) > 1e-3, "pruning changes the output");
            TensorOps ops = Problems.panamaTwoThreads();
            AttentionKernel[] inners = rows == 1
                    ? new AttentionKernel[] {new SplitKDecodeAttention(ops), new QuestAttention(ops, lk + 1), new NaiveAttention()}
                    : new AttentionKernel[] {new TiledAttention(ops), new NaiveAttention()};
            for (AttentionKernel inner : inners) {
                ChannelPrunedAttention pruned = new ChannelPrunedAttention(inner, hkv);
                for (int h = 0; h < hkv; h++) {
                    pruned.keep(h, masks[h]);
                }
                float[] out = new float[p.outputLength()];
                pruned.attend(p, out, null, null);
                double err = Problems.relativeError(out, refOut, out.length);
                assertTrue(err < 2e-5, inner.name() + " " + p + ": relative error " + err);
            }
        }
    }

    /** With every channel kept (ratio 0) the pruned kernel is the inner kernel, bit for bit. */
    @Test
    void everyChannelKeptIsTheInnerKernel() {
        SplittableRandom r = new SplittableRandom(3);
        KvView[] views = Problems.views(r, 2, 90, 40, DType.BF16, 16, 4);
        float[] q = Problems.gaussian(r, 4 * 40, 1);
        AttentionProblem p = AttentionProblem.causal(q, 1, 4, views);
        TensorOps ops = Problems.panamaOneThread();
        float[] a = new float[p.outputLength()];
        float[] b = new float[p.outputLength()];
        new SplitKDecodeAttention(ops).attend(p, a, null, null);
        ChannelPrunedAttention all = new ChannelPrunedAttention(new SplitKDecodeAttention(ops), 2);
        boolean[] every = new boolean[40];
        java.util.Arrays.fill(every, true);
        all.keep(0, every);
        all.attend(p, b, null, null);
        assertArrayEquals(a, b);
        all.keep(0, null);
        assertFalse(all.name().isEmpty());
        all.attend(p, b, null, null);
        assertArrayEquals(a, b);
        assertThrows(IllegalArgumentException.class, () -> new ChannelPrunedAttention(new NaiveAttention(), 3).attend(p, b, null, null));
    }
}
