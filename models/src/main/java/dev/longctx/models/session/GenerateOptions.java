package dev.longctx.models.session;

import dev.longctx.core.sampling.SamplerConfig;
import java.util.List;
import java.util.Objects;

/**
 * How to generate: at most {@code maxTokens} tokens, sampled with {@code sampler}, stopping at
 * any of {@code stopIds} (default: the model's EOS ids) or once the text contains any of
 * {@code stopStrings} (needs a tokenizer; the text is cut before the stop string).
 *
 * @param maxTokens tokens to generate at most; positive
 * @param sampler sampling settings ({@link SamplerConfig#greedy()} for argmax)
 * @param stopIds ids that end generation (the stop id is part of the output ids, its text not part of the text), or null
 *     for the model's EOS ids
 * @param stopStrings texts that end generation
 */
public record GenerateOptions(int maxTokens, SamplerConfig sampler, List<Integer> stopIds, List<String> stopStrings) {
    public GenerateOptions {
        if (maxTokens <= 0) {
            throw new IllegalArgumentException("maxTokens must be positive, got " + maxTokens);
        }
        Objects.requireNonNull(sampler, "sampler");
        stopIds = stopIds == null ? null : List.copyOf(stopIds);
        stopStrings = List.copyOf(stopStrings == null ? List.of() : stopStrings);
    }

    /** Greedy, stopping at the model's EOS ids. */
    public static GenerateOptions greedy(int maxTokens) {
        return new GenerateOptions(maxTokens, SamplerConfig.greedy(), null, List.of());
    }

    /** The same options with other stop ids (an empty list: never stop on an id). */
    public GenerateOptions withStopIds(List<Integer> ids) {
        return new GenerateOptions(maxTokens, sampler, ids, stopStrings);
    }

    /** The same options with stop strings. */
    public GenerateOptions withStopStrings(List<String> strings) {
        return new GenerateOptions(maxTokens, sampler, stopIds, strings);
    }
}
