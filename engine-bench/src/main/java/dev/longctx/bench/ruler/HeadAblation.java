package dev.longctx.bench.ruler;

import dev.longctx.kvcache.HeadProfile;
import java.util.SplittableRandom;

/**
 * Head profiles for DuoAttention's check (its paper's ablation): streaming-only attention on the
 * profiler's retrieval heads, every other head keeping the full cache, against streaming-only
 * attention on as many randomly chosen heads. Used as {@code Strategy.RetrievalHeads} profiles,
 * whose streaming heads keep sinks plus a window.
 */
public final class HeadAblation {
    private HeadAblation() {
    }

    /** The profile with roles swapped: the retrieval heads become streaming, all others retrieval (full). */
    public static HeadProfile streamingOnRetrievalHeads(HeadProfile p) {
        float[][] s = new float[p.layers()][p.kvHeads()];
        for (int l = 0; l < p.layers(); l++) {
            for (int h = 0; h < p.kvHeads(); h++) {
                s[l][h] = p.role(l, h) == HeadProfile.Role.RETRIEVAL ? 0f : 1f;
            }
        }
        return HeadProfile.byThreshold(s, 0.5f);
    }

    /**
     * As many streaming heads as {@code p} has retrieval heads, chosen uniformly at random (seeded);
     * all others full.
     */
    public static HeadProfile streamingOnRandomHeads(HeadProfile p, long seed) {
        int l = p.layers();
        int h = p.kvHeads();
        int[] idx = new int[l * h];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        SplittableRandom r = new SplittableRandom(seed);
        for (int i = idx.length - 1; i > 0; i--) {
            int j = r.nextInt(i + 1);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        float[][] s = new float[l][h];
        for (float[] row : s) {
            java.util.Arrays.fill(row, 1f);
        }
        for (int i = 0; i < p.retrievalHeads(); i++) {
            s[idx[i] / h][idx[i] % h] = 0f;
        }
        return HeadProfile.byThreshold(s, 0.5f);
    }
}
