package dev.longctx.core.sampling;

import java.util.Arrays;
import java.util.Objects;

/**
 * Picks the next token from a row of logits, applying the steps of a {@link SamplerConfig} in
 * Hugging Face's order ({@code generate}'s logits processors, then its warpers):
 * <ol>
 *   <li>repetition penalty over the distinct tokens of the last {@code repetitionWindow} history
 *       entries: {@code logit < 0 ? logit * penalty : logit / penalty}
 *       ({@code RepetitionPenaltyLogitsProcessor});</li>
 *   <li>temperature: greedy argmax when it is 0 (ties go to the lowest id, as
 *       {@code torch.argmax}), else {@code logit / temperature};</li>
 *   <li>top-k: keep the logits at least as large as the k-th largest (ties kept, as HF);</li>
 *   <li>top-p: keep the most likely tokens while the probability of those above is below
 *       {@code topP}, i.e. the smallest set whose probability reaches {@code topP}, never
 *       fewer than one;</li>
 *   <li>min-p: drop tokens whose probability is below {@code minP} times the largest;</li>
 *   <li>one draw from the renormalised distribution with the sampler's {@link SeededRandom}.</li>
 * </ol>
 * Probabilities are computed in double precision from the float logits, so results agree with
 * HF's float32 softmax except for tokens lying on a filter's boundary to within rounding.
 *
 * <p><b>Inputs.</b> The caller's logits are never modified: the sampler copies them into a
 * scratch buffer it owns. NaN logits are treated as {@code -infinity} (never chosen); if any
 * logit is {@code +infinity}, the choice is uniform among those. A row with no finite or
 * {@code +infinity} logit is rejected.
 *
 * <p><b>Cost.</b> O(vocab) for the penalty, temperature, min-p and the draw; top-k keeps a heap
 * of k values, O(vocab log k) at worst. Top-p must order the candidates: after top-k that is a
 * sort of about k values, but top-p <em>without</em> top-k sorts every finite logit,
 * O(vocab log vocab) per token (about 150K values for Qwen-size vocabularies); pair it with a
 * top-k (HF's default is 50) when that matters.
 *
 * <p><b>Reproducibility.</b> Every non-greedy {@link #sample} draws exactly one random number,
 * whatever the filters keep, so a seed fixes the whole sequence. Greedy sampling draws none.
 *
 * <p>One sampler per generation stream: it holds the random state and scratch buffers, and is
 * not thread-safe.
 */
public final class Sampler {
    private final SamplerConfig config;
    private final SeededRandom random;

    // Scratch buffers, grown on demand and reused from token to token.
    private float[] scores = new float[0];
    private int[] candidates = new int[0];
    private long[] sortKeys = new long[0];
    private float[] heap = new float[0];
    private double[] weights = new double[0];
    /** stamp[t] == epoch marks token t as already penalised in the current call. */
    private int[] stamp = new int[0];
    private int epoch;

    /** The maximum of the candidates' scores after {@link #filter}. */
    private float candidateMax;

    /** A sampler for one stream, seeded from {@code config.seed()}. */
    public Sampler(SamplerConfig config) {
        this.config = Objects.requireNonNull(config, "config");
        this.random = new SeededRandom(config.seed());
    }

    public SamplerConfig config() {
        return config;
    }

    /**
     * Chooses a token.
     *
     * @param logits the row of logits, read from {@code off}; not modified
     * @param vocab how many logits (the vocabulary size); positive
     * @param history previously seen token ids, oldest first (may be null when
     *     {@code historyLength} is 0); only used by the repetition penalty
     * @param historyLength how many entries of {@code history} are valid
     * @return the token id in {@code [0, vocab)}
     * @throws IllegalArgumentException for ranges outside the arrays, a history token outside the
     *     vocabulary, or a row with no usable logit
     */
    public int sample(float[] logits, int off, int vocab, int[] history, int historyLength) {
        prepare("sample", logits, off, vocab, history, historyLength);
        if (config.isGreedy()) {
            return argmax(vocab);
        }
        int n = filter(vocab);
        double u = random.nextDouble();
        double total = fillWeights(n);
        double target = u * total;
        double cum = 0;
        for (int j = 0; j < n; j++) {
            cum += weights[j];
            if (target < cum) {
                return candidates[j];
            }
        }
        return candidates[n - 1]; // target == total after rounding
    }

    /**
     * Writes the distribution {@link #sample} draws from into {@code out[outOff .. outOff + vocab)}:
     * zero for every filtered token, the renormalised probability for the others; one-hot at the
     * argmax for greedy configs. Draws no random number.
     *
     * @throws IllegalArgumentException as {@link #sample}, or when {@code out} is too short
     */
    public void probabilities(float[] logits, int off, int vocab, int[] history, int historyLength,
                              float[] out, int outOff) {
        prepare("probabilities", logits, off, vocab, history, historyLength);
        checkRange("probabilities", "out", out, outOff, vocab);
        Arrays.fill(out, outOff, outOff + vocab, 0f);
        if (config.isGreedy()) {
            out[outOff + argmax(vocab)] = 1f;
            return;
        }
        int n = filter(vocab);
        double total = fillWeights(n);
        for (int j = 0; j < n; j++) {
            out[outOff + candidates[j]] = (float) (weights[j] / total);
        }
    }

    /**
     * The scores after the repetition penalty and the temperature (for a greedy config, after
     * the penalty alone), before any filter; NaN already replaced. For tests and diagnostics.
     */
    float[] adjustedScores(float[] logits, int off, int vocab, int[] history, int historyLength) {
        prepare("adjustedScores", logits, off, vocab, history, historyLength);
        if (!config.isGreedy()) {
            applyTemperature(vocab);
        }
        return Arrays.copyOf(scores, vocab);
    }

    // ---- steps ----

    /** Validates, copies the logits into {@link #scores} (NaN to -inf) and applies the penalty. */
    private void prepare(String op, float[] logits, int off, int vocab, int[] history, int historyLength) {
        if (vocab <= 0) {
            throw new IllegalArgumentException("Sampler." + op + ": vocab must be > 0, got " + vocab);
        }
        checkRange(op, "logits", logits, off, vocab);
        if (historyLength < 0 || historyLength > 0 && (history == null || historyLength > history.length)) {
            throw new IllegalArgumentException("Sampler." + op + ": historyLength " + historyLength
                    + " is outside the history array of length " + (history == null ? 0 : history.length));
        }
        ensureCapacity(vocab);
        float[] s = scores;
        for (int i = 0; i < vocab; i++) {
            float v = logits[off + i];
            s[i] = Float.isNaN(v) ? Float.NEGATIVE_INFINITY : v;
        }
        if (config.repetitionPenalty() != 1f && historyLength > 0) {
            applyRepetitionPenalty(op, vocab, history, historyLength);
        }
    }

    private void applyRepetitionPenalty(String op, int vocab, int[] history, int historyLength) {
        int window = config.repetitionWindow() == 0 ? historyLength : Math.min(config.repetitionWindow(), historyLength);
        if (++epoch == 0) { // wrapped after 2^32 calls: clear the marks and start again
            Arrays.fill(stamp, 0);
            epoch = 1;
        }
        float penalty = config.repetitionPenalty();
        for (int h = historyLength - window; h < historyLength; h++) {
            int t = history[h];
            if (t < 0 || t >= vocab) {
                throw new IllegalArgumentException("Sampler." + op + ": history[" + h + "] = " + t
                        + " is outside the vocabulary [0, " + vocab + ")");
            }
            if (stamp[t] == epoch) {
                continue; // HF penalises each distinct token once
            }
            stamp[t] = epoch;
            float v = scores[t];
            scores[t] = v < 0 ? v * penalty : v / penalty;
        }
    }

    private void applyTemperature(int vocab) {
        float t = config.temperature();
        if (t != 1f) {
            for (int i = 0; i < vocab; i++) {
                scores[i] /= t;
            }
        }
    }

    private int argmax(int vocab) {
        int best = -1;
        float bv = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            float v = scores[i];
            if (v > bv) {
                bv = v;
                best = i;
            }
        }
        if (best < 0) {
            throw noUsableLogit(vocab);
        }
        return best;
    }

    /**
     * Temperature, top-k, top-p and min-p. Leaves the kept tokens in {@code candidates[0 .. n)}
     * and their maximum score in {@link #candidateMax}.
     *
     * @return n, at least 1
     */
    private int filter(int vocab) {
        applyTemperature(vocab);
        float[] s = scores;
        int k = config.topK();
        float threshold = k > 0 ? kthLargest(vocab, k) : Float.NEGATIVE_INFINITY;
        int n = 0;
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            float v = s[i];
            if (v > Float.NEGATIVE_INFINITY && v >= threshold) {
                candidates[n++] = i;
                max = Math.max(max, v);
            }
        }
        if (n == 0) {
            throw noUsableLogit(vocab);
        }
        if (max == Float.POSITIVE_INFINITY) {
            // softmax is undefined; the limit puts all mass, evenly, on the +inf logits
            int m = 0;
            for (int j = 0; j < n; j++) {
                int t = candidates[j];
                if (s[t] == Float.POSITIVE_INFINITY) {
                    candidates[m++] = t;
                    s[t] = 0f;
                }
            }
            candidateMax = 0f;
            return m;
        }
        candidateMax = max;
        if (config.topP() < 1f && n > 1) {
            n = topP(n);
        }
        if (config.minP() > 0f && n > 1) {
            n = minP(n);
        }
        return n;
    }

    /** The k-th largest finite score (-inf when fewer than k are finite), with a min-heap of k. */
    private float kthLargest(int vocab, int k) {
        if (k >= vocab) {
            return Float.NEGATIVE_INFINITY;
        }
        if (heap.length < k) {
            heap = new float[k];
        }
        float[] hp = heap;
        int size = 0;
        for (int i = 0; i < vocab; i++) {
            float v = scores[i];
            if (v == Float.NEGATIVE_INFINITY) {
                continue;
            }
            if (size < k) {
                int c = size++;
                while (c > 0) { // sift up
                    int parent = (c - 1) >>> 1;
                    if (hp[parent] <= v) {
                        break;
                    }
                    hp[c] = hp[parent];
                    c = parent;
                }
                hp[c] = v;
            } else if (v > hp[0]) {
                int c = 0;
                while (true) { // sift the new root down
                    int l = 2 * c + 1;
                    if (l >= k) {
                        break;
                    }
                    int r = l + 1;
                    int m = r < k && hp[r] < hp[l] ? r : l;
                    if (hp[m] >= v) {
                        break;
                    }
                    hp[c] = hp[m];
                    c = m;
                }
                hp[c] = v;
            }
        }
        return size < k ? Float.NEGATIVE_INFINITY : hp[0];
    }

    /**
     * Orders the candidates by descending score (ties by ascending id) and keeps the shortest
     * prefix whose probability reaches topP. HF removes a token when the probability of the
     * tokens ranked below it, itself included, is at most 1 - topP; that is the same set.
     */
    private int topP(int n) {
        long[] keys = sortKeys;
        for (int j = 0; j < n; j++) {
            int t = candidates[j];
            keys[j] = ((long) ~sortableBits(scores[t]) << 32) | t;
        }
        Arrays.sort(keys, 0, n);
        for (int j = 0; j < n; j++) {
            candidates[j] = (int) keys[j]; // the low 32 bits: the token id
        }
        double total = fillWeights(n);
        double need = config.topP() * total;
        double cum = 0;
        for (int j = 0; j < n; j++) {
            cum += weights[j];
            if (cum >= need) {
                return j + 1;
            }
        }
        return n;
    }

    /** Keeps the candidates whose probability is at least minP times the largest. */
    private int minP(int n) {
        double minP = config.minP();
        int m = 0;
        for (int j = 0; j < n; j++) {
            int t = candidates[j];
            // p_t / p_max = exp(s_t - s_max): the normalisation cancels
            if (Math.exp((double) scores[t] - candidateMax) >= minP) {
                candidates[m++] = t;
            }
        }
        return m;
    }

    /** weights[j] = exp(score - max) for the first n candidates; returns their sum. */
    private double fillWeights(int n) {
        double total = 0;
        double max = candidateMax;
        for (int j = 0; j < n; j++) {
            double w = Math.exp(scores[candidates[j]] - max);
            weights[j] = w;
            total += w;
        }
        return total;
    }

    /** A signed int that orders like the float (no NaN reaches here). */
    private static int sortableBits(float v) {
        int b = Float.floatToIntBits(v);
        return b ^ ((b >> 31) & 0x7FFFFFFF);
    }

    private void ensureCapacity(int vocab) {
        if (scores.length < vocab) {
            scores = new float[vocab];
            candidates = new int[vocab];
            sortKeys = new long[vocab];
            weights = new double[vocab];
            stamp = new int[vocab];
            epoch = 0;
        }
    }

    private static IllegalArgumentException noUsableLogit(int vocab) {
        return new IllegalArgumentException("Sampler: all " + vocab + " logits are NaN or -infinity; no token can be chosen");
    }

    private static void checkRange(String op, String name, float[] a, int off, int n) {
        Objects.requireNonNull(a, name);
        if (off < 0 || (long) off + n > a.length) {
            throw new IllegalArgumentException("Sampler." + op + ": " + name + " range [" + off + ", "
                    + ((long) off + n) + ") is outside the array of length " + a.length);
        }
    }
}
