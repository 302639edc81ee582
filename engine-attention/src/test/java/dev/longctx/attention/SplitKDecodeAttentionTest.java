package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SplitKDecodeAttentionTest {

    @Test
    void cutCoversEveryPageOnceAndCrossesHeadBoundaries() {
        int[] pages = {5, 0, 7, 1};
        List<int[]> segs = SplitKDecodeAttention.cut(pages, 4);
        int[] seen = new int[13];
        boolean crossed = false;
        int prevHead = -1;
        for (int[] s : segs) {
            int base = s[0] == 0 ? 0 : s[0] == 1 ? 5 : s[0] == 2 ? 5 : 12;
            for (int p = s[1]; p < s[2]; p++) {
                seen[base + p]++;
            }
            crossed |= prevHead >= 0 && s[0] != prevHead && s[1] != 0;
            prevHead = s[0];
        }
        for (int c : seen) {
            assertEquals(1, c);
        }
        // 13 pages in units of 4: the second unit (pages 4..7) spans heads 0 and 2.
        assertEquals(0, segs.get(1)[0]);
        assertEquals(2, segs.get(2)[0]);
        assertEquals(0, SplitKDecodeAttention.cut(new int[] {0, 0}, 8).size());
    }

    @Test
    void unitCountDependsOnThePageCountOnly() {
        assertEquals(1, SplitKDecodeAttention.units(15)); // tiled kernel
        assertEquals(2, SplitKDecodeAttention.units(16));
        assertEquals(24, SplitKDecodeAttention.units(192)); // 4K tokens x 3 KV heads, pages of 64
        assertEquals(SplitKDecodeAttention.MAX_UNITS, SplitKDecodeAttention.units(768));
        assertEquals(SplitKDecodeAttention.MAX_UNITS, SplitKDecodeAttention.units(Integer.MAX_VALUE));
    }

    @Test
    void matchesNaiveForDecodeShapes() {
        SplittableRandom r = new SplittableRandom(1);
        int[][] shapes = {{1, 1, 8, 1}, {1, 17, 16, 2}, {3, 512, 64, 4}, {1, 4099, 128, 8}, {1, 4099, 16, 4}, {2, 512, 128, 2}};
        for (int[] s : shapes) {
            KvView[] kv = Problems.views(r, 2, s[1], s[2], DType.F32, 32, 4);
            float[] q = Problems.gaussian(r, s[0] * 2 * s[3] * s[2], 1);
            AttentionProblem p = AttentionProblem.causal(q, s[0], 2 * s[3], kv);
            if (s[1] >= 512) { // long enough to be split, not handed to the tiled kernel
                int pages = kv[0].pageCount() + kv[1].pageCount();
                assertTrue(SplitKDecodeAttention.units(pages) >= 2, "split for Lk " + s[1]);
            }
            for (TensorOps ops : Problems.allOps()) {
                Problems.assertMatchesNaive(new SplitKDecodeAttention(ops), p, 1e-5,
                        "split-k " + ops.kernels().name() + "/" + ops.pool().threads() + "t");
            }
        }
    }

    @Test
    void matchesNaiveForFewRowChunksDeepInTheCache() {
        // a serving step's prefill slice: a few query tokens (causal among themselves) at the end
        // of a long cache, g = 3 as SmolLM2; 42 x 3 = 126 rows is the largest that fits one tile
        SplittableRandom r = new SplittableRandom(5);
        int[][] shapes = {{2, 1500, 64}, {7, 1537, 64}, {13, 777, 32}, {42, 2000, 16}, {43, 2000, 16}};
        for (int[] s : shapes) {
            KvView[] kv = Problems.views(r, 3, s[1], s[2], DType.F16, 32, 4);
            float[] q = Problems.gaussian(r, s[0] * 9 * s[2], 1);
            AttentionProblem p = AttentionProblem.causal(q, s[0], 9, kv);
            int pages = kv[0].pageCount() + kv[1].pageCount() + kv[2].pageCount();
            assertTrue(SplitKDecodeAttention.units(pages) >= 2, "split for Lk " + s[1]);
            for (TensorOps ops : Problems.allOps()) {
                Problems.assertMatchesNaive(new SplitKDecodeAttention(ops), p, 1e-5,
                        "split-k chunk " + s[0] + " " + ops.kernels().name() + "/" + ops.pool().threads() + "t");
            }
        }
    }

    @Test
    void fewRowTilesFoldWholePagesThroughTheFusedKernelForEveryPageType() {
        // 1-7 query rows (tokens x g), depths that are not a whole number of pages, every KV page
        // dtype the pool stores, scalar and Panama kernels on 1 and 2 threads: equal to the naive
        // kernel, and the fused page kernel really ran. With several tokens the causal diagonal's
        // pages need a mask and take the general path, so fewer pages are fused than folded.
        SplittableRandom r = new SplittableRandom(6);
        int[][] rowShapes = {{1, 1}, {1, 2}, {1, 3}, {2, 2}, {5, 1}, {7, 1}, {2, 3}};
        DType[] types = {DType.F32, DType.F16, DType.BF16, DType.Q8_0};
        int[] depths = {1000, 1537};
        for (DType t : types) {
            int d = t == DType.Q8_0 ? 64 : 40;
            for (int[] shape : rowShapes) {
                int tokens = shape[0];
                int g = shape[1];
                int lk = depths[(shape[0] + shape[1]) % depths.length];
                KvView[] kv = Problems.views(r, 2, lk, d, t, 32, 4);
                float[] q = Problems.gaussian(r, tokens * 2 * g * d, 1);
                AttentionProblem p = AttentionProblem.causal(q, tokens, 2 * g, kv);
                int pages = kv[0].pageCount() + kv[1].pageCount();
                assertTrue(SplitKDecodeAttention.units(pages) >= 2, "split for Lk " + lk);
                for (TensorOps ops : Problems.allOps()) {
                    SplitKDecodeAttention kernel = new SplitKDecodeAttention(ops);
                    String what = "fused " + t + " tokens=" + tokens + " g=" + g + " " + ops.kernels().name() + "/"
                            + ops.pool().threads() + "t";
                    Problems.assertMatchesNaive(kernel, p, 1e-5, what);
                    long fused = kernel.fusedPages();
                    assertTrue(fused > 0, what + ": the fused page kernel did not run");
                    if (tokens == 1) {
                        assertEquals(pages, fused, what + ": every page of a one-token decode is whole");
                    } else {
                        assertTrue(fused < pages, what + ": diagonal pages need the mask");
                    }
                }
            }
        }
    }

    @Test
    void unevenHeadsSoftCapAndF16Pages() {
        SplittableRandom r = new SplittableRandom(2);
        int d = 64;
        KvView a = DenseKvView.of(Problems.gaussian(r, 1000 * d, 1), Problems.gaussian(r, 1000 * d, 1), d, DType.F16, 16);
        KvView b = DenseKvView.of(Problems.gaussian(r, 37 * d, 1), Problems.gaussian(r, 37 * d, 1), d, DType.F16, 16);
        float[] q = Problems.gaussian(r, 8 * d, 2);
        // Head b is shorter: its query row sits at its own last position.
        AttentionProblem p = new AttentionProblem(q, 0, 1, 8, new KvView[] {a, b}, new long[] {999}, 0.125f, 10f,
                AttentionMask.NONE);
        Problems.assertMatchesNaive(new SplitKDecodeAttention(Problems.panamaTwoThreads()), p, 1e-5, "uneven heads");
    }

    @Test
    void oneAndTwoThreadsAreBitIdenticalAndEqualTheTiledKernelClosely() {
        SplittableRandom r = new SplittableRandom(3);
        KvView[] kv = Problems.views(r, 4, 3000, 64, DType.F16, 32, 4);
        float[] q = Problems.gaussian(r, 16 * 64, 1);
        AttentionProblem p = AttentionProblem.causal(q, 1, 16, kv);
        Problems.assertSameAcrossThreads(SplitKDecodeAttention::new, p);
    }

    @Test
    void observerSeesProbabilitiesThatSumToOne() {
        SplittableRandom r = new SplittableRandom(4);
        KvView[] kv = Problems.views(r, 2, 700, 16, DType.F32, 16, 4);
        float[] q = Problems.gaussian(r, 4 * 16, 1);
        AttentionProblem p = AttentionProblem.causal(q, 1, 4, kv);
        double[] sums = new double[4];
        new SplitKDecodeAttention(Problems.panamaTwoThreads()).attend(p, new float[p.outputLength()], null,
                (row, head, kvHead, page, probs, count) -> {
                    double s = 0;
                    for (int i = 0; i < count; i++) {
                        s += probs[i];
                    }
                    synchronized (sums) {
                        sums[head] += s;
                    }
                });
        for (double s : sums) {
            assertEquals(1.0, s, 1e-5);
        }
    }
}
