package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.DoubleAdder;
import org.junit.jupiter.api.Test;

class TiledAttentionTest {

    /** (Lq, Lk, D, g) combinations covering every value of each list of the issue at least once. */
    static final int[][] SHAPES = {
            {1, 1, 8, 1}, {1, 17, 16, 2}, {3, 17, 64, 4}, {1, 512, 128, 8}, {3, 512, 8, 2},
            {64, 512, 64, 1}, {64, 4099, 16, 4}, {257, 512, 128, 2}, {257, 4099, 8, 8}, {1, 4099, 128, 4},
    };

    @Test
    void matchesNaiveAcrossShapesProvidersAndThreads() {
        SplittableRandom r = new SplittableRandom(1);
        for (int[] s : SHAPES) {
            int lq = s[0];
            int lk = s[1];
            int d = s[2];
            int g = s[3];
            int kvHeads = 2;
            KvView[] kv = Problems.views(r, kvHeads, lk, d, DType.F32, 32, 4);
            float[] q = Problems.gaussian(r, lq * kvHeads * g * d, 1);
            AttentionProblem p = AttentionProblem.causal(q, lq, kvHeads * g, kv);
            for (TensorOps ops : Problems.allOps()) {
                Problems.assertMatchesNaive(new TiledAttention(ops), p, 1e-5,
                        ops.kernels().name() + "/" + ops.pool().threads() + "t");
            }
        }
    }

    @Test
    void f16AndBf16AndQ8PagesMatchNaiveOnTheSamePagesAndF32WithinTheirPrecision() {
        SplittableRandom r = new SplittableRandom(2);
        TensorOps ops = Problems.panamaTwoThreads();
        for (DType t : new DType[] {DType.F16, DType.BF16, DType.Q8_0}) {
            int d = 64;
            int lk = 300;
            float[] k = Problems.gaussian(r, lk * d, 1);
            float[] v = Problems.gaussian(r, lk * d, 1);
            float[] q = Problems.gaussian(r, 5 * 4 * d, 1);
            AttentionProblem quant = AttentionProblem.causal(q, 5, 4, DenseKvView.of(k, v, d, t, 16));
            AttentionProblem exact = AttentionProblem.causal(q, 5, 4, DenseKvView.of(k, v, d, DType.F32, 16));
            Problems.assertMatchesNaive(new TiledAttention(ops), quant, 1e-5, t + " pages");
            float[] a = new float[quant.outputLength()];
            float[] b = new float[exact.outputLength()];
            new TiledAttention(ops).attend(quant, a, null, null);
            new NaiveAttention().attend(exact, b, null, null);
            double err = Problems.relativeError(a, b, a.length);
            double bound = t == DType.F16 ? 2e-2 : 5e-2; // BF16 keeps 8 mantissa bits, Q8_0 about 7
            assertTrue(err <= bound, t + " vs f32 pages: " + err);
        }
    }

    @Test
    void softCappingSlidingWindowAndSinksMatchNaive() {
        SplittableRandom r = new SplittableRandom(3);
        KvView[] kv = Problems.views(r, 2, 700, 32, DType.F32, 16, 4);
        float[] q = Problems.gaussian(r, 40 * 4 * 32, 3);
        long[] pos = AttentionProblem.lastPositions(kv[0], 40);
        for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.NONE,
                AttentionMask.slidingWindow(64, 4), AttentionMask.slidingWindow(1, 0), AttentionMask.slidingWindow(100, 0)}) {
            for (float cap : new float[] {0f, 5f}) {
                AttentionProblem p = new AttentionProblem(q, 0, 40, 4, kv, pos, 0.2f, cap, mask);
                for (TensorOps ops : Problems.allOps()) {
                    Problems.assertMatchesNaive(new TiledAttention(ops), p, 1e-5, mask + " cap=" + cap);
                }
            }
        }
    }

    @Test
    void tilesHoldWholeVectorsOfRowsWhereTheGroupAllows() {
        // g = 1, 2, 4, 8: 128 rows; g = 3 and 6: 96 rows (not 126); g = 5 and 7: no
        // multiple of 32 fits, so as many tokens as fit.
        int[] expected = {0, 128, 64, 32, 32, 25, 16, 18, 16};
        for (int g = 1; g <= 8; g++) {
            int t = TiledAttention.tileTokens(g);
            assertEquals(expected[g], t, "g=" + g);
            assertTrue(t * g <= TiledAttention.TILE_ROWS, "g=" + g);
        }
    }

    @Test
    void fullyMaskedRowsGiveZeroAndNegativeInfinity() {
        SplittableRandom r = new SplittableRandom(4);
        int d = 16;
        float[] k = Problems.gaussian(r, 50 * d, 1);
        float[] v = Problems.gaussian(r, 50 * d, 1);
        long[] kpos = new long[50];
        for (int i = 0; i < 50; i++) {
            kpos[i] = 100 + i;
        }
        KvView view = DenseKvView.of(k, v, kpos, d, DType.F32, 16);
        float[] q = Problems.gaussian(r, 3 * d, 1);
        // Row 0 sits before every key (fully masked), rows 1 and 2 see some keys.
        AttentionProblem p = new AttentionProblem(q, 0, 3, 1, new KvView[] {view}, new long[] {50, 120, 149},
                0.25f, 0f, AttentionMask.CAUSAL);
        float[] out = new float[p.outputLength()];
        float[] lse = new float[3];
        new TiledAttention(Problems.panamaTwoThreads()).attend(p, out, lse, null);
        for (int c = 0; c < d; c++) {
            assertEquals(0f, out[c]);
        }
        assertEquals(Float.NEGATIVE_INFINITY, lse[0]);
        assertTrue(Float.isFinite(lse[1]) && Float.isFinite(lse[2]));
        Problems.assertMatchesNaive(new TiledAttention(Problems.panamaTwoThreads()), p, 1e-5, "partly masked");
    }

    @Test
    void evictedSlotsAreNeverAttended() {
        SplittableRandom r = new SplittableRandom(5);
        int d = 16;
        DenseKvView view = (DenseKvView) Problems.views(r, 1, 100, d, DType.F32, 16, 0)[0];
        for (int i = 10; i < 40; i += 3) {
            view.invalidate(i);
        }
        float[] q = Problems.gaussian(r, 7 * 2 * d, 1);
        AttentionProblem p = AttentionProblem.causal(q, 7, 2, view);
        Problems.assertMatchesNaive(new TiledAttention(Problems.panamaTwoThreads()), p, 1e-5, "evicted slots");
    }

    @Test
    void observerProbabilitiesSumToOneAndEqualTheReference() {
        // (query rows, query heads): a single tile of 18 rows, and 100 x 4 = 400 rows in tiles
        // of 128 (both key-major prefill tiles), with a ragged last tile.
        for (int[] shape : new int[][] {{9, 4}, {100, 8}}) {
            int lq = shape[0];
            int hq = shape[1];
            SplittableRandom r = new SplittableRandom(6);
            KvView[] kv = Problems.views(r, 2, 257, 16, DType.F32, 16, 4);
            float[] q = Problems.gaussian(r, lq * hq * 16, 1);
            AttentionProblem p = AttentionProblem.causal(q, lq, hq, kv);
            int g = hq / 2;
            int ps = kv[0].pageSize();
            float[][] tiled = new float[lq * hq][kv[0].pageCount() * ps];
            float[][] naive = new float[lq * hq][kv[0].pageCount() * ps];
            DoubleAdder calls = new DoubleAdder();
            new TiledAttention(Problems.panamaTwoThreads()).attend(p, new float[p.outputLength()], null,
                    (row, head, kvHead, page, probs, count) -> {
                        assertEquals(head / g, kvHead);
                        System.arraycopy(probs, 0, tiled[row * hq + head], page * ps, count);
                        calls.add(1);
                    });
            new NaiveAttention().attend(p, new float[p.outputLength()], null,
                    (row, head, kvHead, page, probs, count) -> System.arraycopy(probs, 0, naive[row * hq + head], page * ps, count));
            assertEquals(lq * hq * kv[0].pageCount(), calls.sum());
            for (int i = 0; i < tiled.length; i++) {
                double sum = 0;
                for (float f : tiled[i]) {
                    sum += f;
                }
                assertEquals(1.0, sum, 1e-5, "lq=" + lq + " row " + i);
                for (int k = 0; k < tiled[i].length; k++) {
                    assertEquals(naive[i][k], tiled[i][k], 1e-6, "lq=" + lq + " row " + i + " key " + k);
                }
            }
        }
    }

    @Test
    void nanInputsGiveNaNRowsWithoutHanging() {
        SplittableRandom r = new SplittableRandom(7);
        KvView[] kv = Problems.views(r, 1, 40, 16, DType.F32, 16, 0);
        float[] q = Problems.gaussian(r, 2 * 16, 1);
        q[3] = Float.NaN;
        AttentionProblem p = AttentionProblem.causal(q, 2, 1, kv);
        float[] out = new float[p.outputLength()];
        new TiledAttention(Problems.panamaTwoThreads()).attend(p, out, null, null);
        assertTrue(Float.isNaN(out[0]), "row with NaN query");
        assertTrue(Float.isFinite(out[16]), "other row unaffected");
    }

    @Test
    void oneAndTwoThreadsAreBitIdentical() {
        SplittableRandom r = new SplittableRandom(8);
        KvView[] kv = Problems.views(r, 2, 1000, 64, DType.F16, 32, 4);
        float[] q = Problems.gaussian(r, 100 * 8 * 64, 1);
        AttentionProblem p = AttentionProblem.causal(q, 100, 8, kv);
        Problems.assertSameAcrossThreads(TiledAttention::new, p);
    }

    @Test
    void aDecodeTileReadsEachAttendedPageOnceBesidesEarlyTouchesAndNeverAnExcludedOne() {
        SplittableRandom r = new SplittableRandom(41);
        int g = 3;
        int d = 64;
        // 700 keys in pages of 16 (2 KiB of F16 keys per page); the window of 128 and 4 sinks
        // exclude pages 1..34 for the one query row at position 699.
        BlockSparseTesting.CountingView view = new BlockSparseTesting.CountingView(
                Problems.views(r, 1, 700, d, DType.F16, 16, 4)[0]);
        float[] q = Problems.gaussian(r, g * d, 1);
        AttentionMask window = AttentionMask.slidingWindow(128, 4);
        AttentionProblem causal = AttentionProblem.causal(q, 1, g, view);
        AttentionProblem p = new AttentionProblem(q, 0, 1, g, new KvView[] {view}, causal.queryPositions(),
                causal.scale(), 0f, window);
        float[] out = new float[p.outputLength()];
        new TiledAttention(Problems.panamaOneThread()).attend(p, out, null, null);
        long qPos = causal.queryPositions()[0];
        boolean previousPartial = false;
        boolean any = false;
        int fused = 0;
        int[] keyReads = new int[view.pageCount()];
        int[] valueReads = new int[view.pageCount()];
        for (int page = 0; page < view.pageCount(); page++) {
            keyReads[page] = view.keyReads.get(page);
            valueReads[page] = view.valueReads.get(page);
        }
        for (int page = 0; page < view.pageCount(); page++) {
            int visible = 0;
            for (int slot = 0; slot < view.pageLength(page); slot++) {
                visible += window.allows(qPos, view.position(page, slot)) ? 1 : 0;
            }
            boolean excluded = visible == 0;
            assertEquals(page >= 1 && page <= 34, excluded, "page " + page);
            // Read once by its own fold; touched early as well when the page folded before it took
            // the general (masked) path, which loads the next attended page's first lines. Pages
            // seen whole go through the fused step, which touches nothing ahead.
            int expected = excluded ? 0 : any && previousPartial ? 2 : 1;
            assertEquals(expected, keyReads[page], "keys of page " + page);
            assertEquals(expected, valueReads[page], "values of page " + page);
            if (!excluded) {
                any = true;
                previousPartial = visible < view.pageLength(page);
                fused += previousPartial ? 0 : 1;
            }
        }
        assertTrue(fused >= 7, "pages fully inside the window: " + fused);
        float[] ref = new float[p.outputLength()];
        new NaiveAttention().attend(p, ref, null, null);
        double err = Problems.relativeError(out, ref, ref.length);
        assertTrue(err <= 2e-5, "against naive with the mask, relative error " + err);
    }
}
