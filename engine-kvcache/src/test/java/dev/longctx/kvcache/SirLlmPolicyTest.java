package dev.longctx.kvcache;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.KvView;
import dev.longctx.core.tensor.DType;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** SirLLM's eviction against a naive simulation of its rule (scores multiplied by the decay at every step). */
class SirLlmPolicyTest {

    /** A token in the naive model: its position and its current (decayed) score, null while unscored. */
    private static final class Naive {
        final long position;
        Double score;

        Naive(long position) {
            this.position = position;
        }
    }

    private static List<Long> positions(SequenceKvCache cache, int layer, int head) {
        KvView v = cache.view(layer, head);
        List<Long> out = new ArrayList<>();
        for (int pg = 0; pg < v.pageCount(); pg++) {
            for (int s = 0; s < v.pageLength(pg); s++) {
                if (v.isValid(pg, s)) {
                    out.add(v.position(pg, s));
                }
            }
        }
        return out;
    }

    /**
     * Tokens arrive one per step with an entropy known one step late (as a session learns it from
     * the next logits); the naive model multiplies every score by the decay at each step and keeps
     * sinks, the last {@code recent}, unscored tokens and the top {@code capacity} scores (ties: older).
     */
    @Test
    void keptTokensAreTheNaiveRuleAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(31);
        for (int[] cfg : new int[][] {{4, 7, 0}, {0, 1, 1}, {2, 13, 5}, {4, 30, 3}, {1, 0, 2}}) {
            for (double decay : new double[] {1.0, 0.9, 0.5}) {
                int sinks = cfg[0];
                int capacity = cfg[1];
                int recent = cfg[2];
                SirLlmPolicy policy = new SirLlmPolicy(sinks, capacity, recent, decay);
                KvLayout layout = new KvLayout(2, 2, 4, 8, DType.F32);
                try (BlockPool pool = new BlockPool(layout, 4L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
                    TokenEntropies ent = TokenEntropies.of(cache);
                    List<Naive> naive = new ArrayList<>();
                    float[] kv = new float[2 * 4];
                    for (int t = 0; t < 150; t++) {
                        for (Naive n : naive) {
                            if (n.score != null) {
                                n.score *= decay;
                            }
                        }
                        if (t > 0) {
                            // the previous token's entropy arrives with this step's input; a coarse grid makes exact ties
                            float h = decay == 1.0 ? r.nextInt(6) * 0.5f : (float) (r.nextDouble() * 5);
                            ent.record(t - 1, h);
                            naive.get(naive.size() - 1).score = (double) h;
                        }
                        naive.add(new Naive(t));
                        for (int l = 0; l < 2; l++) {
                            cache.append(l, kv, kv, t);
                            policy.afterStep(cache, l);
                        }
                        naiveEvict(naive, sinks, capacity, recent);
                        List<Long> want = naive.stream().map(n -> n.position).toList();
                        String what = "sinks " + sinks + " capacity " + capacity + " recent " + recent + " decay " + decay + " step " + t;
                        for (int l = 0; l < 2; l++) {
                            for (int h = 0; h < 2; h++) {
                                assertEquals(want, positions(cache, l, h), what + " layer " + l + " head " + h);
                            }
                        }
                    }
                }
            }
        }
    }

    private static void naiveEvict(List<Naive> tokens, int sinks, int capacity, int recent) {
        if (tokens.size() <= sinks + capacity + recent) {
            return;
        }
        List<Naive> cand = new ArrayList<>();
        for (int i = 0; i < tokens.size() - recent; i++) {
            Naive n = tokens.get(i);
            if (n.position >= sinks && n.score != null) {
                cand.add(n);
            }
        }
        if (cand.size() <= capacity) {
            return;
        }
        List<Naive> ranked = new ArrayList<>(cand);
        ranked.sort(Comparator.<Naive>comparingDouble(n -> -n.score).thenComparingLong(n -> n.position));
        tokens.removeAll(ranked.subList(capacity, ranked.size()));
    }

    @Test
    void entropiesForkAndMisuseIsReported() {
        KvLayout layout = new KvLayout(1, 1, 4, 8, DType.F32);
        try (BlockPool pool = new BlockPool(layout, 1L << 20); SequenceKvCache cache = SequenceKvCache.create(pool)) {
            TokenEntropies.of(cache).record(3, 1.5f);
            try (SequenceKvCache fork = cache.fork()) {
                assertTrue(fork.planState() instanceof TokenEntropies);
                assertEquals(1.5f, TokenEntropies.of(fork).get(3));
                TokenEntropies.of(fork).record(3, 2f);
                assertEquals(1.5f, TokenEntropies.of(cache).get(3), "the fork's copy is its own");
            }
            assertTrue(Float.isNaN(TokenEntropies.of(cache).get(2)));
            assertTrue(Float.isNaN(TokenEntropies.of(cache).get(100)));
            assertNotNull(TokenEntropies.of(cache));
        }
        assertThrows(IllegalArgumentException.class, () -> new SirLlmPolicy(4, 10, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new SirLlmPolicy(4, 10, 0, 1.5));
        assertThrows(IllegalArgumentException.class, () -> new SirLlmPolicy(-1, 10, 0, 1));
        assertEquals(Double.NEGATIVE_INFINITY, SirLlmPolicy.key(0f, 5, 0.9), "a certain token ranks last");
    }
}
