package dev.longctx.core.sampling;

/**
 * How the next token is chosen from the logits, with Hugging Face's meanings and "off" values.
 *
 * @param temperature logits are divided by it; 0 means greedy (argmax, no random draw). Finite
 *     and {@code >= 0}
 * @param topK keep only the {@code topK} highest logits (and ties with the lowest of them, as HF
 *     does); 0 turns it off
 * @param topP nucleus sampling: keep the smallest set of most likely tokens whose probability
 *     sums to at least {@code topP}; in (0, 1], 1 turns it off
 * @param minP drop tokens whose probability is below {@code minP} times the highest probability;
 *     in [0, 1), 0 turns it off
 * @param repetitionPenalty CTRL's penalty (Keskar et al. 2019) as HF applies it: a positive
 *     logit of a recent token is divided by it, a negative one multiplied; finite and
 *     {@code > 0}, 1 turns it off
 * @param repetitionWindow how many of the most recent history tokens the penalty looks at; 0
 *     means all the history given; {@code >= 0}
 * @param seed the seed of the sampler's {@link SeededRandom}
 */
public record SamplerConfig(float temperature, int topK, float topP, float minP, float repetitionPenalty,
                            int repetitionWindow, long seed) {

    public SamplerConfig {
        if (!(temperature >= 0) || Float.isInfinite(temperature)) {
            throw new IllegalArgumentException("SamplerConfig: temperature must be finite and >= 0 (0 = greedy), got "
                    + temperature);
        }
        if (topK < 0) {
            throw new IllegalArgumentException("SamplerConfig: topK must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0 && topP <= 1)) {
            throw new IllegalArgumentException("SamplerConfig: topP must be in (0, 1] (1 = off), got " + topP);
        }
        if (!(minP >= 0 && minP < 1)) {
            throw new IllegalArgumentException("SamplerConfig: minP must be in [0, 1) (0 = off), got " + minP);
        }
        if (!(repetitionPenalty > 0) || Float.isInfinite(repetitionPenalty)) {
            throw new IllegalArgumentException("SamplerConfig: repetitionPenalty must be finite and > 0 (1 = off), got "
                    + repetitionPenalty);
        }
        if (repetitionWindow < 0) {
            throw new IllegalArgumentException("SamplerConfig: repetitionWindow must be >= 0 (0 = all), got "
                    + repetitionWindow);
        }
    }

    /** Argmax decoding: temperature 0, every filter and the penalty off, seed 0. */
    public static SamplerConfig greedy() {
        return new SamplerConfig(0f, 0, 1f, 0f, 1f, 0, 0L);
    }

    /** Plain sampling from the softmax: temperature 1, every filter and the penalty off. */
    public static SamplerConfig sampling(long seed) {
        return new SamplerConfig(1f, 0, 1f, 0f, 1f, 0, seed);
    }

    /** Whether this config picks the argmax without drawing a random number. */
    public boolean isGreedy() {
        return temperature == 0f;
    }

    public SamplerConfig withTemperature(float v) {
        return new SamplerConfig(v, topK, topP, minP, repetitionPenalty, repetitionWindow, seed);
    }

    public SamplerConfig withTopK(int v) {
        return new SamplerConfig(temperature, v, topP, minP, repetitionPenalty, repetitionWindow, seed);
    }

    public SamplerConfig withTopP(float v) {
        return new SamplerConfig(temperature, topK, v, minP, repetitionPenalty, repetitionWindow, seed);
    }

    public SamplerConfig withMinP(float v) {
        return new SamplerConfig(temperature, topK, topP, v, repetitionPenalty, repetitionWindow, seed);
    }

    public SamplerConfig withRepetitionPenalty(float v) {
        return new SamplerConfig(temperature, topK, topP, minP, v, repetitionWindow, seed);
    }

    public SamplerConfig withRepetitionWindow(int v) {
        return new SamplerConfig(temperature, topK, topP, minP, repetitionPenalty, v, seed);
    }

    public SamplerConfig withSeed(long v) {
        return new SamplerConfig(temperature, topK, topP, minP, repetitionPenalty, repetitionWindow, v);
    }
}
