package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.attention.TiledAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** {@link SequenceKvCache#compact}: scattered evictions stop pinning pages, and nothing else changes. */
class CompactTest {
    private static final int HEADS = 2;
    private static final int D = 16;
    private static final int PAGE = 8;

    @Test
    void compactionFreesPagesAndKeepsTokensScoresAndAttention() {
        KvLayout layout = new KvLayout(1, HEADS, D, PAGE, DType.F16);
        SplittableRandom r = new SplittableRandom(7);
        try (BlockPool pool = new BlockPool(layout, 1 << 22); SequenceKvCache c = SequenceKvCache.create(pool)) {
            for (int t = 0; t < 100; t++) {
                c.append(0, SequenceKvCacheTest.gaussian(r, HEADS * D), SequenceKvCacheTest.gaussian(r, HEADS * D), 3L * t);
            }
            for (int p = 0; p < c.pages(0, 0); p++) { // distinct scores, to see them move
                float[] probs = new float[PAGE];
                for (int s = 0; s < PAGE; s++) {
                    probs[s] = p * PAGE + s;
                }
                c.addScores(0, 0, p, probs, c.view(0, 0).pageLength(p));
            }
            // evict every token but one in three (scattered, as H2O does): no page empties
            for (int p = c.pages(0, 0) - 1; p >= 0; p--) {
                for (int s = c.view(0, 0).pageLength(p) - 1; s >= 0; s--) {
                    if ((p * PAGE + s) % 3 != 0) {
                        c.evict(0, 0, p, s);
                    }
                }
            }
            assertEquals(13, c.pages(0, 0), "scattered evictions pin every page");
            float[] q = SequenceKvCacheTest.gaussian(r, 2 * D);
            float[] before = attend(c, q);
            long[] positions = positions(c.view(0, 0));
            float[] scores = scores(c);
            long inUse = pool.stats().pagesInUse();
            try (SequenceKvCache fork = c.fork()) {
                float[] forkBefore = attend(fork, q);
                assertEquals(8, c.compact(0, 0));
                assertEquals(5, c.pages(0, 0)); // 34 tokens in pages of 8
                assertArrayEquals(positions, positions(c.view(0, 0)));
                assertArrayEquals(scores, scores(c));
                assertArrayEquals(before, attend(c, q), 1e-6f);
                assertArrayEquals(forkBefore, attend(fork, q), "the fork keeps its own pages");
                assertEquals(13, fork.pages(0, 0));
            }
            assertEquals(inUse - 8, pool.stats().pagesInUse(), "released pages return to the pool");
            c.append(0, SequenceKvCacheTest.gaussian(r, HEADS * D), SequenceKvCacheTest.gaussian(r, HEADS * D), 1000);
            assertEquals(35, c.validLength(0, 0));
            assertEquals(0, c.compact(0, 1), "a head with nothing to gain is left alone");
        }
    }

    private static float[] attend(SequenceKvCache c, float[] q) {
        KvView[] views = c.views(0);
        float[] out = new float[2 * D];
        new TiledAttention(TensorOps.defaults()).attend(new AttentionProblem(q, 0, 1, 2, views, new long[] {10_000},
                0.25f, 0f, AttentionMask.CAUSAL), out, null, null);
        return out;
    }

    private static long[] positions(KvView v) {
        java.util.List<Long> out = new java.util.ArrayList<>();
        for (int p = 0; p < v.pageCount(); p++) {
            for (int s = 0; s < v.pageLength(p); s++) {
                if (v.isValid(p, s)) {
                    out.add(v.position(p, s));
                }
            }
        }
        return out.stream().mapToLong(Long::longValue).toArray();
    }

    private static float[] scores(SequenceKvCache c) {
        KvView v = c.view(0, 0);
        java.util.List<Float> out = new java.util.ArrayList<>();
        for (int p = 0; p < v.pageCount(); p++) {
            for (int s = 0; s < v.pageLength(p); s++) {
                if (v.isValid(p, s)) {
                    out.add(c.score(0, 0, p, s));
                }
            }
        }
        float[] a = new float[out.size()];
        for (int i = 0; i < a.length; i++) {
            a[i] = out.get(i);
        }
        return a;
    }
}
