package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.DoubleAdder;
import org.junit.jupiter.api.Test;

class BlockSparseAttentionTest {

    /** (Lq, Lk, D, g): every value of g {1,2,4,8}, Lq {1,3,64,257}, Lk {17,512,4099} at least once. */
    static final int[][] SHAPES = {
            {1, 17, 16, 1}, {3, 17, 64, 4}, {1, 512, 128, 8}, {3, 512, 8, 2}, {64, 512, 64, 1},
            {64, 4099, 16, 4}, {257, 512, 128, 2}, {257, 4099, 8, 8}, {1, 4099, 128, 4}, {17, 17, 32, 8},
    };

    @Test
    void keepEverythingIsBitIdenticalToTiledAcrossShapesDtypesProvidersAndThreads() {
        SplittableRandom r = new SplittableRandom(11);
        for (int[] s : SHAPES) {
            for (DType dtype : new DType[] {DType.F32, DType.F16}) {
                int lq = s[0];
                int d = s[2];
                int g = s[3];
                int kvHeads = 2;
                KvView[] kv = Problems.views(r, kvHeads, s[1], d, dtype, 32, 4);
                float[] q = Problems.gaussian(r, lq * kvHeads * g * d, 1);
                AttentionProblem p = AttentionProblem.causal(q, lq, kvHeads * g, kv);
                for (TensorOps ops : Problems.allOps()) {
                    assertBitIdentical(p, ops, ops.kernels().name() + "/" + ops.pool().threads() + "t/" + dtype);
                }
            }
        }
    }

    @Test
    void keepEverythingIsBitIdenticalUnderWindowsSoftCapsAndEvictions() {
        SplittableRandom r = new SplittableRandom(12);
        KvView[] kv = Problems.views(r, 2, 700, 32, DType.F16, 16, 4);
        for (int i = 20; i < 200; i += 7) {
            ((DenseKvView) kv[1]).invalidate(i);
        }
        float[] q = Problems.gaussian(r, 40 * 4 * 32, 3);
        long[] pos = AttentionProblem.lastPositions(kv[0], 40);
        for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.NONE,
                AttentionMask.slidingWindow(64, 4)}) {
            for (float cap : new float[] {0f, 5f}) {
                AttentionProblem p = new AttentionProblem(q, 0, 40, 4, kv, pos, 0.2f, cap, mask);
                for (TensorOps ops : Problems.allOps()) {
                    assertBitIdentical(p, ops, mask + " cap=" + cap);
                }
            }
        }
    }

    /**
     * Asserts bit-identity with the tiled kernel. The Panama kernels' {@code reduceLanes(ADD)} sums
     * lanes in an order that differs between the interpreter, C1 and C2, so the tiled kernel itself
     * can change its last bits from one call to the next while the JIT warms up. So a mismatch is
     * retried a few times: a real difference (another page order, another tile) shows in every
     * attempt, a warm-up one does not.
     */
    private static void assertBitIdentical(AttentionProblem p, TensorOps ops, String what) {
        final int attempts = 10;
        float[] tiled = new float[p.outputLength()];
        float[] sparse = new float[p.outputLength()];
        float[] lTiled = new float[p.queryRows() * p.queryHeads()];
        float[] lSparse = new float[lTiled.length];
        for (int i = 0; i < attempts; i++) {
            new TiledAttention(ops).attend(p, tiled, lTiled, null);
            new BlockSparseAttention(ops, BlockMaskEstimator.KEEP_ALL).attend(p, sparse, lSparse, null);
            if (Arrays.equals(tiled, sparse) && Arrays.equals(lTiled, lSparse)) {
                return;
            }
            assertTrue(ops.kernels().isVectorized(), "scalar kernels are deterministic: " + what + " " + p);
        }
        // Panama: the same pages in the same order, so only the JIT's lane-sum order can differ.
        double err = Problems.relativeError(sparse, tiled, tiled.length);
        assertTrue(err <= 1e-6, what + " " + p + ": relative difference " + err);
    }

    @Test
    void randomMasksMatchNaiveOnTheEquivalentElementMask() {
        SplittableRandom r = new SplittableRandom(13);
        int[][] shapes = {{64, 512, 32, 4}, {257, 700, 16, 2}, {3, 100, 64, 8}, {100, 100, 16, 1}};
        for (int[] s : shapes) {
            for (DType dtype : new DType[] {DType.F32, DType.F16}) {
                int g = s[3];
                KvView[] kv = Problems.views(r, 2, s[1], s[2], dtype, 16, 4);
                float[] q = Problems.gaussian(r, s[0] * 2 * g * s[2], 1);
                AttentionProblem p = AttentionProblem.causal(q, s[0], 2 * g, kv);
                for (double density : new double[] {0.1, 0.5}) {
                    BlockMask mask = BlockSparseTesting.randomMask(r, p, density, density < 0.3);
                    for (TensorOps ops : Problems.allOps()) {
                        BlockSparseTesting.assertMatchesMaskedNaive(new BlockSparseAttention(ops, BlockMaskEstimator.KEEP_ALL),
                                p, mask, 1e-5, "random " + density + " " + dtype);
                    }
                }
            }
        }
    }

    @Test
    void emptyRowsGiveZeroOutputAndNegativeInfinityLse() {
        SplittableRandom r = new SplittableRandom(14);
        KvView[] kv = Problems.views(r, 1, 200, 16, DType.F32, 16, 0);
        float[] q = Problems.gaussian(r, 50 * 2 * 16, 1);
        AttentionProblem p = AttentionProblem.causal(q, 50, 2, kv);
        BlockMask.Builder b = BlockMask.builder(p); // Bq = 32 tokens: two query blocks
        b.keep(0, 1, 3); // block 0 keeps nothing
        BlockMask mask = b.build();
        float[] out = new float[p.outputLength()];
        float[] lse = new float[50 * 2];
        new BlockSparseAttention(Problems.panamaTwoThreads(), BlockMaskEstimator.KEEP_ALL).attend(p, mask, out, lse, null);
        for (int i = 0; i < 32 * 2; i++) {
            assertEquals(Float.NEGATIVE_INFINITY, lse[i], "row-head " + i);
        }
        for (int i = 0; i < 32 * 2 * 16; i++) {
            assertEquals(0f, out[i]);
        }
        BlockSparseTesting.assertMatchesMaskedNaive(new BlockSparseAttention(Problems.panamaTwoThreads(),
                BlockMaskEstimator.KEEP_ALL), p, mask, 1e-5, "empty rows");
    }

    @Test
    void droppedPagesAreNeverRead() {
        SplittableRandom r = new SplittableRandom(15);
        int d = 32;
        KvView[] base = Problems.views(r, 3, 1000, d, DType.F16, 16, 4);
        BlockSparseTesting.CountingView[] counted = new BlockSparseTesting.CountingView[3];
        for (int h = 0; h < 3; h++) {
            counted[h] = new BlockSparseTesting.CountingView(base[h]);
        }
        float[] q = Problems.gaussian(r, 200 * 6 * d, 1);
        AttentionProblem p = AttentionProblem.causal(q, 200, 6, counted);
        BlockMask mask = BlockSparseTesting.randomMask(r, p, 0.05, true);
        for (boolean withObserver : new boolean[] {false, true}) {
            for (var c : counted) {
                for (int page = 0; page < c.pageCount(); page++) {
                    c.keyReads.set(page, 0);
                    c.valueReads.set(page, 0);
                }
            }
            AttentionObserver obs = withObserver ? (row, head, kvHead, page, probs, count) -> { } : null;
            new BlockSparseAttention(Problems.panamaTwoThreads(), BlockMaskEstimator.KEEP_ALL)
                    .attend(p, mask, new float[p.outputLength()], null, obs);
            int dropped = 0;
            int read = 0;
            for (int h = 0; h < 3; h++) {
                boolean[] keptSomewhere = new boolean[counted[h].pageCount()];
                for (int b = 0; b < mask.queryBlocks(); b++) {
                    for (int page : mask.keptPages(h, b)) {
                        keptSomewhere[page] = true;
                    }
                }
                for (int page = 0; page < keptSomewhere.length; page++) {
                    if (!keptSomewhere[page]) {
                        dropped++;
                        assertEquals(0, counted[h].reads(page), "head " + h + " dropped page " + page + " was read");
                    } else {
                        read += counted[h].reads(page);
                    }
                }
            }
            assertTrue(dropped > 20, "the mask should drop pages for every query block, dropped " + dropped);
            assertTrue(read > 0, "kept pages are read");
        }
    }

    @Test
    void aSingleTileReadsOnlyItsKeptPages() {
        SplittableRandom r = new SplittableRandom(16);
        int d = 16;
        BlockSparseTesting.CountingView view = new BlockSparseTesting.CountingView(
                Problems.views(r, 1, 640, d, DType.F32, 16, 0)[0]);
        float[] q = Problems.gaussian(r, 16 * 4 * d, 1);
        AttentionProblem p = AttentionProblem.causal(q, 16, 4, view); // Bq = 16: one query block
        BlockMask mask = BlockSparseTesting.randomMask(r, p, 0.3, true);
        assertEquals(1, mask.queryBlocks());
        new BlockSparseAttention(Problems.panamaTwoThreads(), BlockMaskEstimator.KEEP_ALL)
                .attend(p, mask, new float[p.outputLength()], null, null);
        for (int page = 0; page < view.pageCount(); page++) {
            if (!mask.isKept(0, 0, page)) {
                assertEquals(0, view.reads(page), "dropped page " + page);
            } else {
                assertTrue(view.keyReads.get(page) == 1, "kept page " + page + " keys read once");
            }
        }
    }

    @Test
    void observerSeesExactProbabilitiesOverKeptBlocksAndZerosElsewhere() {
        SplittableRandom r = new SplittableRandom(17);
        KvView[] kv = Problems.views(r, 2, 257, 16, DType.F32, 16, 4);
        int lq = 40;
        float[] q = Problems.gaussian(r, lq * 4 * 16, 1);
        AttentionProblem p = AttentionProblem.causal(q, lq, 4, kv);
        BlockMask mask = BlockSparseTesting.randomMask(r, p, 0.4, true);
        int ps = kv[0].pageSize();
        float[][] sparse = new float[lq * 4][kv[0].pageCount() * ps];
        float[][] naive = new float[lq * 4][kv[0].pageCount() * ps];
        DoubleAdder calls = new DoubleAdder();
        new BlockSparseAttention(Problems.panamaTwoThreads(), BlockMaskEstimator.KEEP_ALL).attend(p, mask,
                new float[p.outputLength()], null, (row, head, kvHead, page, probs, count) -> {
                    assertEquals(head / 2, kvHead);
                    System.arraycopy(probs, 0, sparse[row * 4 + head], page * ps, count);
                    calls.add(1);
                });
        BlockSparseTesting.naiveWithMask(p, mask, new float[p.outputLength()], null,
                (row, head, kvHead, page, probs, count) -> System.arraycopy(probs, 0, naive[row * 4 + head], page * ps, count));
        assertEquals(lq * 4 * kv[0].pageCount(), calls.sum());
        for (int i = 0; i < sparse.length; i++) {
            double sum = 0;
            for (float f : sparse[i]) {
                sum += f;
            }
            assertEquals(1.0, sum, 1e-5, "row " + i);
            for (int k = 0; k < sparse[i].length; k++) {
                assertEquals(naive[i][k], sparse[i][k], 1e-6, "row " + i + " key " + k);
            }
        }
    }

    @Test
    void estimatedMasksMatchNaiveOnTheEquivalentElementMask() {
        SplittableRandom r = new SplittableRandom(18);
        List<BlockMaskEstimator> estimators = List.of(MInferenceEstimators.aShape(1, 3), MInferenceEstimators.aShape(),
                MInferenceEstimators.verticalSlash(), MInferenceEstimators.verticalSlash(40, 60),
                MInferenceEstimators.topKBlocks(), MInferenceEstimators.topKBlocks(4),
                MInferenceEstimators.topKBlockFraction(0.2));
        int[][] shapes = {{300, 300, 32, 4}, {100, 1500, 16, 2}, {257, 700, 64, 1}};
        for (int[] s : shapes) {
            int g = s[3];
            KvView[] kv = Problems.views(r, 2, s[1], s[2], DType.F16, 16, 4);
            float[] q = Problems.gaussian(r, s[0] * 2 * g * s[2], 1);
            AttentionProblem p = AttentionProblem.causal(q, s[0], 2 * g, kv);
            for (BlockMaskEstimator e : estimators) {
                TensorOps ops = Problems.panamaTwoThreads();
                BlockSparseAttention kernel = new BlockSparseAttention(ops, e);
                BlockMask mask = e.estimate(p, ops);
                assertTrue(mask.density() < 1, e.name() + " keeps everything: " + mask);
                BlockSparseTesting.assertMatchesMaskedNaive(kernel, p, mask, 1e-5, e.name());
                // attend() without a mask runs the estimator's own mask.
                float[] viaEstimator = new float[p.outputLength()];
                float[] explicit = new float[p.outputLength()];
                kernel.attend(p, viaEstimator, null, null);
                kernel.attend(p, mask, explicit, null, null);
                // Not bit for bit: Panama's lane reductions may round differently as the JIT warms up.
                assertTrue(Problems.relativeError(viaEstimator, explicit, explicit.length) <= 1e-6, e.name());
            }
        }
    }

    @Test
    void maskOfTheWrongShapeIsRejectedNamingTheExpectedShape() {
        SplittableRandom r = new SplittableRandom(19);
        KvView[] kv = Problems.views(r, 2, 100, 16, DType.F32, 16, 0);
        AttentionProblem p = AttentionProblem.causal(Problems.gaussian(r, 40 * 4 * 16, 1), 40, 4, kv);
        BlockSparseAttention kernel = new BlockSparseAttention(Problems.panamaTwoThreads(), BlockMaskEstimator.KEEP_ALL);
        float[] out = new float[p.outputLength()];
        // Bq = 32 for g = 2: 2 query blocks; 7 pages per head.
        BlockMask oneHead = BlockMask.builder(32, 40, new int[] {7}).build();
        BlockMask wrongRows = BlockMask.builder(32, 70, new int[] {7, 7}).build();
        BlockMask wrongPages = BlockMask.builder(32, 40, new int[] {7, 6}).build();
        for (BlockMask bad : new BlockMask[] {oneHead, wrongRows, wrongPages}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> kernel.attend(p, bad, out, null, null));
            assertTrue(e.getMessage().contains("expected [Hkv=2][queryBlocks=ceil(Lq=40 / Bq=32)=2][keyBlocks="),
                    e.getMessage());
        }
        BlockMask ok = BlockMask.builder(32, 40, new int[] {7, 7}).build();
        kernel.attend(p, ok, out, null, null);
    }

    @Test
    void blockMaskValidatesItsRows() {
        int[] pages = {4};
        assertMessage(() -> BlockMask.of(2, 3, pages, new int[][][] {{{0}}}), "1 query blocks, expected ceil(Lq=3 / Bq=2) = 2");
        assertMessage(() -> BlockMask.of(2, 3, pages, new int[][][] {{{0}, {4}}}), "page 4, outside [0, keyBlocks=4)");
        assertMessage(() -> BlockMask.of(2, 3, pages, new int[][][] {{{1, 1}, {}}}), "must strictly increase");
        assertMessage(() -> BlockMask.of(2, 3, pages, new int[][][] {{{0}, {}}, {{0}, {}}}),
                "kept has 2 KV heads, expected [Hkv=1][queryBlocks=2][]");
        assertMessage(() -> BlockMask.of(0, 3, pages, new int[][][] {}), "query block size must be positive");
        assertMessage(() -> BlockMask.builder(2, 3, pages).keep(0, 2, 0), "query block 2 outside [0, queryBlocks=2)");
        assertMessage(() -> BlockMask.builder(2, 3, pages).keep(1, 0, 0), "KV head 1 outside [0, Hkv=1)");
        assertMessage(() -> BlockMask.builder(2, 3, pages).keep(0, 0, 4), "pages [4, 5) outside [0, keyBlocks=4)");
        BlockMask m = BlockMask.of(2, 3, pages, new int[][][] {{{0, 2}, {3}}});
        assertEquals(3, m.keptBlocks());
        assertEquals(3.0 / 8, m.density());
        assertTrue(m.isKept(0, 0, 2) && !m.isKept(0, 0, 1));
        assertEquals(2, m.queryBlockEnd(0));
        assertEquals(3, m.queryBlockEnd(1));
    }

    private static void assertMessage(org.junit.jupiter.api.function.Executable call, String part) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
        assertTrue(e.getMessage().contains(part), "message '" + e.getMessage() + "' should contain '" + part + "'");
    }

    @Test
    void defaultQueryBlockMatchesTheTiledKernelsTiles() {
        assertEquals(64, BlockMask.defaultQueryBlockTokens(1));
        assertEquals(16, BlockMask.defaultQueryBlockTokens(4));
        assertEquals(8, BlockMask.defaultQueryBlockTokens(8));
        assertEquals(1, BlockMask.defaultQueryBlockTokens(128));
    }
}
