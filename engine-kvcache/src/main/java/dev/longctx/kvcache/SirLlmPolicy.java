package dev.longctx.kvcache;

import dev.longctx.attention.KvView;
import java.util.Arrays;

/**
 * SirLLM (Yao et al., 2024, "SirLLM: Streaming Infinite Retentive LLM"): keep the {@code sinks}
 * first tokens, the {@code capacity} tokens with the highest decayed token entropy, and the
 * {@code recent} most recent tokens; evict the rest.
 *
 * <ul>
 *   <li>Score: a token's entropy {@code H_i = -ln p(x_i | x_<i)} under the model when it was
 *       prefilled or generated ({@link TokenEntropies}, which the session feeds from its logits),
 *       multiplied by {@code decay} at every later step: with one step per token, at step T the
 *       score is {@code H_i * decay^(T - t_i)}, {@code t_i} the token's position. Ranking by that
 *       is ranking by {@code key_i = ln H_i - t_i ln decay} (T is common to all tokens), which this
 *       class computes instead of rewriting every score each step; {@code decay = 1} ranks by
 *       entropy alone.</li>
 *   <li>Trigger: every step, once a head holds more than {@code sinks + capacity + recent} valid
 *       tokens. Tokens whose entropy is not known yet (the chunk just prefilled, whose entropies
 *       come with its logits) are kept until they are scored.</li>
 *   <li>Granularity: tokens, the same for every KV head and layer (entropy is per token).</li>
 *   <li>Protected: positions below {@code sinks} (the reference code's {@code start_size}), the last
 *       {@code recent} valid tokens, unscored tokens. Ties: the older token is kept.</li>
 *   <li>Positions: kept as cached (post-RoPE, gaps allowed).</li>
 * </ul>
 * The reference code's defaults: {@code start_size = 4}, {@code recent_size = 0} in its three
 * experiments (it fills spare room with recent tokens), {@code decay_ratio = 1} (0.7 and 0.9 in two
 * of its three experiments, where decay is applied per dialogue turn; here it is per token).
 *
 * <p>Threading: immutable; the scores it reads live in each sequence's cache, used by one thread at
 * a time.
 *
 * @param sinks first positions always kept
 * @param capacity tokens kept by entropy
 * @param recent most recent valid tokens always kept
 * @param decay per-step decay factor of the entropy scores, in (0, 1]
 */
public record SirLlmPolicy(int sinks, int capacity, int recent, double decay) implements EvictionPolicy {
    /** SirLLM's {@code start_size} (Yao et al., 2024; StreamingLLM's four sinks). */
    public static final int DEFAULT_SINKS = 4;
    /** The reference code's default {@code decay_ratio} (no decay). */
    public static final double DEFAULT_DECAY = 1.0;

    public SirLlmPolicy {
        if (sinks < 0 || capacity < 0 || recent < 0) {
            throw new IllegalArgumentException("SirLLM: sinks, capacity and recent must be >= 0, got " + sinks + ", " + capacity
                    + ", " + recent);
        }
        if (!(decay > 0 && decay <= 1)) {
            throw new IllegalArgumentException("SirLLM: decay must be in (0, 1], got " + decay);
        }
    }

    @Override
    public String name() {
        return "sirllm";
    }

    @Override
    public int maxTokensPerHead() {
        return sinks + capacity + recent;
    }

    /** The ranking key of a token of entropy {@code entropy} at {@code position} (larger is kept first). */
    public static double key(float entropy, long position, double decay) {
        // ln of a zero entropy (a certain token) is -infinity: ranked last, as its score 0 would be
        return Math.log(Math.max(entropy, 0f)) - position * Math.log(decay);
    }

    @Override
    public void afterStep(SequenceKvCache cache, int layer) {
        TokenEntropies entropies = TokenEntropies.of(cache);
        for (int h = 0; h < cache.layout().kvHeads(); h++) {
            int valid = cache.validLength(layer, h);
            if (valid <= maxTokensPerHead()) {
                continue;
            }
            int[] victims = victims(cache.view(layer, h), valid, entropies);
            // Highest key index first: evicting may drop an emptied page from the table, shifting later pages only.
            for (int i = victims.length - 1; i >= 0; i--) {
                int ps = cache.layout().pageSize();
                cache.evict(layer, h, victims[i] / ps, victims[i] % ps);
            }
        }
    }

    /** Key indices {@code page * pageSize + slot} of the tokens to evict, increasing. */
    int[] victims(KvView view, int valid, TokenEntropies entropies) {
        int ps = view.pageSize();
        int[] keys = new int[valid];
        long[] positions = new long[valid];
        int n = 0;
        for (int pg = 0; pg < view.pageCount(); pg++) {
            for (int s = 0; s < view.pageLength(pg); s++) {
                if (view.isValid(pg, s)) {
                    keys[n] = pg * ps + s;
                    positions[n] = view.position(pg, s);
                    n++;
                }
            }
        }
        // Candidates: neither sinks, nor among the last `recent`, nor unscored.
        int[] cand = new int[n];
        double[] key = new double[n];
        int c = 0;
        for (int i = 0; i < n - recent; i++) {
            float e = entropies.get(positions[i]);
            if (positions[i] < sinks || Float.isNaN(e)) {
                continue;
            }
            cand[c] = i;
            key[i] = key(e, positions[i], decay);
            c++;
        }
        if (c <= capacity) {
            return new int[0];
        }
        Integer[] order = new Integer[c];
        for (int i = 0; i < c; i++) {
            order[i] = cand[i];
        }
        // by key, largest first; ties: the older (smaller index) first
        Arrays.sort(order, (a, b) -> key[a] != key[b] ? Double.compare(key[b], key[a]) : Integer.compare(a, b));
        int[] out = new int[c - capacity];
        for (int i = capacity; i < c; i++) {
            out[i - capacity] = keys[order[i]];
        }
        Arrays.sort(out);
        return out;
    }
}
