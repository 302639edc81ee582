package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.DenseKvView;
import dev.longctx.attention.KvView;
import dev.longctx.attention.NaiveAttention;
import dev.longctx.attention.PerHeadAttention;
import dev.longctx.attention.TiledAttention;
import dev.longctx.attention.SplitKDecodeAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * MoA: the knapsack fit against exhaustive search, the dropped-mass scorer against a direct sum,
 * and the policy's eviction against attention over a cache that keeps everything.
 */
class MoaTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(2));

    private static MoaProfile randomProfile(SplittableRandom r, int layers, int heads, long[] a, double[] b) {
        double[][][] losses = new double[layers][heads][a.length];
        for (double[][] l : losses) {
            for (double[] h : l) {
                for (int c = 0; c < h.length; c++) {
                    h[c] = b[c] == 1 ? 0 : r.nextInt(4) == 0 ? 0.5 : r.nextDouble(); // repeated values: ties happen
                }
            }
        }
        return new MoaProfile(4, a, b, losses);
    }

    @Test
    void fitEqualsExhaustiveSearch() {
        SplittableRandom r = new SplittableRandom(5);
        long[] a = {8, 32, 8, 100, 16};
        double[] b = {0, 0, 0.25, 0.1, 1};
        for (int trial = 0; trial < 20; trial++) {
            MoaProfile p = randomProfile(r, 2, 2, a, b);
            for (double density : new double[] {0.05, 0.1, 0.3, 0.6, 1}) {
                for (long n : new long[] {200, 1000, 4096}) {
                    boolean fits = true;
                    try {
                        p.fitExhaustive(density, n);
                    } catch (IllegalArgumentException e) {
                        fits = false;
                    }
                    if (!fits) {
                        double d = density;
                        assertThrows(IllegalArgumentException.class, () -> p.fit(d, n));
                        continue;
                    }
                    int[] fast = p.fitChoice(density, n);
                    int[] slow = p.fitExhaustiveChoice(density, n);
                    assertEquals(sum(p, slow, n)[0], sum(p, fast, n)[0], 1e-12, "least loss, density " + density + " n " + n);
                    long used = 0;
                    HeadWindows fw = p.fit(density, n);
                    for (int l = 0; l < 2; l++) {
                        for (int h = 0; h < 2; h++) {
                            used += fw.tokensAt(l, h, n);
                        }
                    }
                    assertTrue(used <= Math.floor(Math.min(density, 1) * n * 4 + 1e-9), "within the budget: " + used);
                }
            }
        }
    }

    /** {summed loss, summed tokens at n} of a choice. */
    private static double[] sum(MoaProfile p, int[] choice, long n) {
        double loss = 0;
        long tokens = 0;
        for (int i = 0; i < choice.length; i++) {
            loss += p.loss(i / p.kvHeads(), i % p.kvHeads(), choice[i]);
            tokens += p.cost(choice[i], n);
        }
        return new double[] {loss, tokens};
    }

    @Test
    void everyTokenBudgetFitsHeadsThatSeeEverything(@TempDir Path dir) throws Exception {
        MoaProfile p = randomProfile(new SplittableRandom(2), 3, 2, MoaProfile.defaultAlphas(), MoaProfile.defaultBetas());
        HeadWindows w = p.fit(1.0, 4096);
        for (int l = 0; l < 3; l++) {
            for (int h = 0; h < 2; h++) {
                assertEquals(1.0, w.beta(l, h), "head " + l + "." + h + " keeps everything: " + w);
            }
        }
        Path f = dir.resolve("moa.json");
        p.write(f);
        MoaProfile back = MoaProfile.read(f);
        assertEquals(p.fit(0.2, 3000), back.fit(0.2, 3000));
        Files.writeString(f, "{\"sinks\": 4}");
        var e = assertThrows(java.io.IOException.class, () -> MoaProfile.read(f));
        assertTrue(e.getMessage().contains("not a MoA profile"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> p.fit(0.001, 4096));
    }

    /** The scorer's loss is the probability mass each candidate's mask hides, computed directly. */
    @Test
    void scorerSumsTheMassEachCandidateDrops() {
        long[] a = {3, 10, 1};
        double[] b = {0, 0.5, 1};
        WindowLossScorer s = new WindowLossScorer(1, 2, 2, 2, a, b);
        SplittableRandom r = new SplittableRandom(8);
        int n = 37;
        float[] k = new float[n * 8];
        DenseKvView view = DenseKvView.of(k, k, 8, DType.F32, 16);
        double[][] want = new double[2][3];
        for (int step = 0; step < 2; step++) {
            long t = 30 + step;
            s.beginStep(t);
            var obs = s.observer(0, new KvView[] {view, view});
            for (int qh = 0; qh < 4; qh++) {
                for (int page = 0; page < view.pageCount(); page++) {
                    float[] probs = new float[view.pageLength(page)];
                    for (int i = 0; i < probs.length; i++) {
                        probs[i] = (float) r.nextDouble() / 40;
                        long pos = page * 16L + i;
                        for (int c = 0; c < 3; c++) {
                            if (!AttentionMask.elasticWindow(a[c], b[c], 2).allows(t, pos) && pos <= t) {
                                want[qh / 2][c] += probs[i];
                            }
                        }
                    }
                    obs.observe(0, qh, qh / 2, page, probs, probs.length);
                }
            }
            s.endStep();
        }
        double[][][] got = s.losses();
        for (int h = 0; h < 2; h++) {
            for (int c = 0; c < 3; c++) {
                assertEquals(want[h][c] / (2 * 2), got[0][h][c], 1e-6, "head " + h + " candidate " + c);
            }
            assertEquals(0, got[0][h][2], "beta 1 drops nothing");
        }
    }

    /**
     * Chunked prefill and decode steps over a paged cache under {@link MoaPolicy} equal the naive
     * kernel under the same per-head masks over every key (eviction is exact), and pages leave.
     */
    @Test
    void evictionIsExactAndReleasesPages() {
        int d = 24;
        KvLayout layout = new KvLayout(1, 3, d, 8, DType.F32);
        HeadWindows w = new HeadWindows(3, new long[][] {{5, 20, 2}}, new double[][] {{0.25, 0, 1.0 / 16}});
        MoaPolicy policy = new MoaPolicy(w, layout);
        AttentionKernel tiled = policy.kernelForLayer(0, new TiledAttention(OPS));
        AttentionKernel splitK = policy.kernelForLayer(0, new SplitKDecodeAttention(OPS));
        SplittableRandom r = new SplittableRandom(13);
        int total = 260;
        float[][] keys = new float[3][total * d];
        float[][] values = new float[3][total * d];
        int[] chunks = {37, 64, 1, 50, 1, 1, 40, 1, 1, 1, 63};
        try (BlockPool pool = new BlockPool(layout, 1 << 22); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            int pos = 0;
            for (int rows : chunks) {
                for (int i = 0; i < rows; i++, pos++) {
                    float[] k = new float[3 * d];
                    float[] v = new float[3 * d];
                    for (int x = 0; x < k.length; x++) {
                        k[x] = (float) r.nextGaussian();
                        v[x] = (float) r.nextGaussian();
                    }
                    for (int h = 0; h < 3; h++) {
                        System.arraycopy(k, h * d, keys[h], pos * d, d);
                        System.arraycopy(v, h * d, values[h], pos * d, d);
                    }
                    cache.append(0, k, v, pos);
                }
                float[] q = new float[rows * 6 * d];
                for (int x = 0; x < q.length; x++) {
                    q[x] = (float) r.nextGaussian();
                }
                long[] positions = new long[rows];
                for (int i = 0; i < rows; i++) {
                    positions[i] = pos - rows + i;
                }
                float scale = (float) (1 / Math.sqrt(d));
                AttentionProblem p = new AttentionProblem(q, 0, rows, 6, cache.views(0), positions, scale, 0f, AttentionMask.CAUSAL);
                float[] got = new float[p.outputLength()];
                (rows == 1 ? splitK : tiled).attend(p, got, null, null);
                KvView[] dense = new KvView[3];
                for (int h = 0; h < 3; h++) {
                    dense[h] = DenseKvView.of(java.util.Arrays.copyOf(keys[h], pos * d), java.util.Arrays.copyOf(values[h], pos * d), d,
                            DType.F32, 8);
                }
                AttentionProblem ref = new AttentionProblem(q, 0, rows, 6, dense, positions, scale, 0f, AttentionMask.CAUSAL);
                float[] want = new float[ref.outputLength()];
                new PerHeadAttention(h -> new NaiveAttention(), h -> w.mask(0, h)).attend(ref, want, null, null);
                double err = 0;
                for (int i = 0; i < want.length; i++) {
                    err = Math.max(err, Math.abs(got[i] - want[i]));
                }
                assertTrue(err < 1e-5, "after " + pos + " tokens: " + err);
                policy.afterStep(cache, 0);
                for (int h = 0; h < 3; h++) {
                    long held = cache.validLength(0, h);
                    assertTrue(held <= w.tokensAt(0, h, pos), "head " + h + " holds " + held + " of " + w.tokensAt(0, h, pos));
                }
            }
            assertEquals(260, pos);
            // head 1: sinks 3 + window 20 at every length: 1 sink page + the window's 3-4 pages
            assertTrue(cache.pages(0, 1) <= 1 + 4, "head 1 released its old pages: " + cache.pages(0, 1));
            assertTrue(cache.pages(0, 0) > cache.pages(0, 1), "head 0's window grew with the length");
        }
    }
}
