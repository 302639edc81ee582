package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.tensor.DType;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HeadProfileTest {

    @Test
    void rolesFromThresholdAndFractionAndAJsonRoundTrip(@TempDir Path dir) throws Exception {
        float[][] scores = {{0.9f, 0.1f, 0.5f}, {0.2f, 0.7f, 0.05f}};
        HeadProfile t = HeadProfile.byThreshold(scores, 0.5f);
        assertEquals(HeadProfile.Role.RETRIEVAL, t.role(0, 0));
        assertEquals(HeadProfile.Role.RETRIEVAL, t.role(0, 2));
        assertEquals(HeadProfile.Role.STREAMING, t.role(1, 0));
        assertEquals(3, t.retrievalHeads());
        HeadProfile f = HeadProfile.byFraction(scores, 1.0 / 3);
        assertEquals(2, f.retrievalHeads());
        assertEquals(HeadProfile.Role.RETRIEVAL, f.role(0, 0));
        assertEquals(HeadProfile.Role.RETRIEVAL, f.role(1, 1));
        Path file = dir.resolve("profile.json");
        f.write(file);
        HeadProfile back = HeadProfile.read(file);
        assertEquals(2, back.layers());
        assertEquals(3, back.kvHeads());
        for (int l = 0; l < 2; l++) {
            for (int h = 0; h < 3; h++) {
                assertEquals(f.role(l, h), back.role(l, h));
                assertEquals(f.score(l, h), back.score(l, h));
            }
        }
    }

    @Test
    void malformedProfilesAreClearErrors() {
        String ok = "{\"layers\":1,\"kvHeads\":2,\"heads\":[{\"layer\":0,\"head\":0,\"score\":1,\"role\":\"retrieval\"},"
                + "{\"layer\":0,\"head\":1,\"score\":0,\"role\":\"streaming\"}]}";
        assertEquals(1, HeadProfile.parse(ok, "p.json").retrievalHeads());
        assertError("{\"layers\":1,", "malformed");
        assertError("[1,2]", "JSON object");
        assertError(ok.replace("\"kvHeads\":2", "\"kvHeads\":3"), "expected layers x kvHeads = 1 x 3 = 3");
        assertError(ok.replace("\"head\":1", "\"head\":0"), "appears twice");
        assertError(ok.replace("\"head\":1", "\"head\":7"), "[0, 2)");
        assertError(ok.replace("\"streaming\"", "\"sleepy\""), "sleepy");
        assertError(ok.replace("\"score\":0,", ""), "score");
        assertError(ok.replace("\"layers\":1", "\"layers\":-4"), "positive integer");
        HeadProfile p = HeadProfile.parse(ok, "p.json");
        var e = assertThrows(IllegalArgumentException.class, () -> p.checkMatches(KvLayout.of(2, 2, 32, DType.F16)));
        assertTrue(e.getMessage().contains("1 layers x 2 KV heads") && e.getMessage().contains("2 layers x 2"), e.getMessage());
    }

    private static void assertError(String json, String expected) {
        var e = assertThrows(IllegalArgumentException.class, () -> HeadProfile.parse(json, "p.json"));
        assertTrue(e.getMessage().contains("p.json") && e.getMessage().contains(expected), e.getMessage());
    }

    @Test
    void retrievalHeadsKeepEverythingStreamingHeadsKeepSinksAndWindow() {
        KvLayout layout = new KvLayout(1, 2, 32, 4, DType.F16);
        HeadProfile profile = HeadProfile.byThreshold(new float[][] {{0.8f, 0.1f}}, 0.5f);
        RetrievalHeadPolicy policy = new RetrievalHeadPolicy(profile, layout, 2, 3);
        try (BlockPool pool = new BlockPool(layout, 1 << 22); SequenceKvCache c = SequenceKvCache.create(pool)) {
            for (int t = 0; t < 20; t++) {
                c.append(0, new float[64], new float[64], t);
                policy.afterStep(c, 0);
            }
            assertEquals(20, c.validLength(0, 0));
            assertEquals(5, c.validLength(0, 1));
            assertEquals(java.util.List.of(0L, 1L, 17L, 18L, 19L), EvictionPolicyTest.keptPositions(c.view(0, 1)));
        }
        assertThrows(IllegalArgumentException.class,
                () -> new RetrievalHeadPolicy(profile, new KvLayout(2, 2, 32, 4, DType.F16), 2, 3));
    }

    @Test
    void theSplitComposesWithQuestOnRetrievalHeads() {
        KvLayout layout = new KvLayout(1, 2, 32, 8, DType.F16);
        HeadProfile profile = HeadProfile.byThreshold(new float[][] {{0.8f, 0.1f}}, 0.5f);
        RetrievalHeadPolicy policy = new RetrievalHeadPolicy(profile, layout, 4, 16);
        var ops = new dev.longctx.core.kernels.TensorOps(dev.longctx.core.kernels.spi.KernelProvider.scalar(),
                dev.longctx.core.parallel.ComputePool.create(1));
        java.util.SplittableRandom r = new java.util.SplittableRandom(7);
        try (BlockPool pool = new BlockPool(layout, 1 << 22); SequenceKvCache c = SequenceKvCache.create(pool)) {
            for (int t = 0; t < 200; t++) {
                float[] k = new float[64];
                float[] v = new float[64];
                float[] q = new float[4 * 32];
                for (int i = 0; i < 64; i++) {
                    k[i] = (float) r.nextGaussian();
                    v[i] = (float) r.nextGaussian();
                }
                for (int i = 0; i < q.length; i++) {
                    q[i] = (float) r.nextGaussian();
                }
                c.append(0, k, v, t);
                var problem = dev.longctx.attention.AttentionProblem.causal(q, 1, 4, c.views(0));
                float[] out = new float[4 * 32];
                float[] lse = new float[4];
                policy.kernelForLayer(0, new dev.longctx.attention.QuestAttention(ops, 64),
                        new dev.longctx.attention.TiledAttention(ops)).attend(problem, out, lse, null);
                for (float f : out) {
                    assertTrue(Float.isFinite(f));
                }
                policy.afterStep(c, 0);
            }
            assertEquals(200, c.validLength(0, 0), "the retrieval head keeps everything");
            assertEquals(20, c.validLength(0, 1), "the streaming head keeps 4 sinks + 16 recent");
        }
    }
}
