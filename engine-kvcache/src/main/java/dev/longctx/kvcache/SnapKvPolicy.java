package dev.longctx.kvcache;

import dev.longctx.core.select.TopK;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.KvView;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * SnapKV (Li et al., 2024, "SnapKV: LLM Knows What You are Looking for Before Generation"): at the
 * end of prefill, the last {@code window} queries vote for the prefix keys they attend; the votes
 * are pooled along the keys and each KV head keeps its top {@code capacity - window} prefix keys
 * plus the window. Decode then appends normally.
 *
 * <ul>
 *   <li>Trigger: once, after the prefill ({@link #afterPrefill}); {@link #afterStep} does nothing.</li>
 *   <li>Score: the attention probabilities of the last {@code window} query rows, summed over
 *       those rows and over the query heads of the KV head's group, then pooled along the keys
 *       (1-D, kernel {@code kernel}, padding {@code kernel / 2}, stride 1, max or average).</li>
 *   <li>Granularity: tokens, per KV head. Protected: the window. Budget: {@code capacity} tokens
 *       per head after the prefill.</li>
 *   <li>Positions: kept as cached.</li>
 * </ul>
 *
 * <p>Use: run the prefill chunk that contains the last {@code window} prompt tokens with
 * {@link #prefillObserver}, then call {@link #afterPrefill}.
 *
 * @param capacity tokens kept per head after the prefill (window included)
 * @param window observation window (paper default 32)
 * @param kernel pooling kernel size (the authors' LongBench configuration 7; the SnapKV code's default 5; 1 = no pooling)
 * @param maxPooling max pooling if true, average pooling if false
 */
public record SnapKvPolicy(int capacity, int window, int kernel, boolean maxPooling) implements EvictionPolicy {
    /** The paper's observation window. */
    public static final int DEFAULT_WINDOW = 32;
    /**
     * The pooling kernel of the configuration the authors evaluate SnapKV with (their LongBench script,
     * {@code run_longbench.sh}: window 32, kernel 7, max pooling). With {@link #withCapacity} this class runs exactly
     * that configuration. The SnapKV code's constructor defaults ({@code init_snapkv}: window 32, kernel 5, average
     * pooling) are another one; until session 22 the engine mixed the two (kernel 5, max pooling), which on the
     * retrieval model drops a value's last token in the retrieval heads' layers (docs/accuracy.md, runs K16 and K21).
     */
    public static final int DEFAULT_KERNEL = 7;

    public SnapKvPolicy {
        if (window < 1 || capacity < window || kernel < 1 || kernel % 2 == 0) {
            throw new IllegalArgumentException("SnapKV: need window >= 1, capacity >= window and an odd kernel >= 1, got "
                    + "capacity=" + capacity + " window=" + window + " kernel=" + kernel);
        }
    }

    /** Window 32, kernel 7 and max pooling: the authors' LongBench configuration (see {@link #DEFAULT_KERNEL}). */
    public static SnapKvPolicy withCapacity(int capacity) {
        return new SnapKvPolicy(capacity, DEFAULT_WINDOW, DEFAULT_KERNEL, true);
    }

    @Override
    public String name() {
        return "snapkv";
    }

    @Override
    public int maxTokensPerHead() {
        return Integer.MAX_VALUE; // decode appends after the one-off selection
    }

    /**
     * The observer for the prefill attention call whose {@code queryRows} rows end the prompt: it
     * records the probabilities of the last {@code window} rows.
     */
    public AttentionObserver prefillObserver(SequenceKvCache cache, int layer, int queryRows) {
        int firstObserved = Math.max(0, queryRows - window);
        return (row, queryHead, kvHead, page, probabilities, count) -> {
            if (row >= firstObserved) {
                cache.addScores(layer, kvHead, page, probabilities, count);
            }
        };
    }

    @Override
    public void afterStep(SequenceKvCache cache, int layer) {
        // SnapKV selects once, at the end of the prefill.
    }

    /** Keeps each head's top prefix keys by pooled score plus the window; evicts the rest. */
    public void afterPrefill(SequenceKvCache cache, int layer) {
        for (int h = 0; h < cache.layout().kvHeads(); h++) {
            KvView view = cache.view(layer, h);
            List<int[]> slots = new ArrayList<>();
            List<Float> raw = new ArrayList<>();
            for (int p = 0; p < view.pageCount(); p++) {
                for (int s = 0; s < view.pageLength(p); s++) {
                    if (view.isValid(p, s)) {
                        slots.add(new int[] {p, s});
                        raw.add(cache.score(layer, h, p, s));
                    }
                }
            }
            int prefix = slots.size() - window;
            int keep = capacity - window;
            if (prefix <= keep) {
                continue;
            }
            float[] pooled = pool(raw, prefix);
            // Highest pooled score first; ties keep the earlier token (TopK's rule).
            boolean[] kept = TopK.flags(pooled, prefix, keep);
            // Evict from the back so page indices of earlier slots stay valid when pages are released.
            for (int i = prefix - 1; i >= 0; i--) {
                if (!kept[i]) {
                    cache.evict(layer, h, slots.get(i)[0], slots.get(i)[1]);
                }
            }
        }
    }

    /** 1-D pooling of the first {@code n} scores: kernel {@code kernel}, padding kernel/2, stride 1. */
    float[] pool(List<Float> scores, int n) {
        float[] out = new float[n];
        int half = kernel / 2;
        for (int i = 0; i < n; i++) {
            float acc = maxPooling ? Float.NEGATIVE_INFINITY : 0f;
            for (int j = i - half; j <= i + half; j++) {
                // Padding: max pooling ignores positions outside; average pooling counts them as 0
                // (PyTorch's avg_pool1d with count_include_pad, as the reference code uses).
                if (j < 0 || j >= n) {
                    continue;
                }
                float v = scores.get(j);
                acc = maxPooling ? Math.max(acc, v) : acc + v;
            }
            out[i] = maxPooling ? acc : acc / kernel;
        }
        return out;
    }
}
