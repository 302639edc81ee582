package dev.longctx.spark;

import dev.longctx.core.sampling.SamplerConfig;
import dev.longctx.models.session.GenerateOptions;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * {@link GenerateOptions} in a form that travels with a Spark job (the models module's records are
 * not {@link Serializable}): the sampler's fields, the stop ids and the stop strings.
 *
 * <p>Threading: an immutable value.
 */
record OptionsSpec(int maxTokens, float temperature, int topK, float topP, float minP, float repetitionPenalty,
                   int repetitionWindow, long seed, ArrayList<Integer> stopIds, ArrayList<String> stopStrings)
        implements Serializable {
    private static final long serialVersionUID = 1L;

    OptionsSpec {
        stopIds = stopIds == null ? null : new ArrayList<>(stopIds);
        stopStrings = new ArrayList<>(Objects.requireNonNull(stopStrings, "stopStrings"));
    }

    static OptionsSpec of(GenerateOptions o) {
        Objects.requireNonNull(o, "options");
        SamplerConfig s = o.sampler();
        return new OptionsSpec(o.maxTokens(), s.temperature(), s.topK(), s.topP(), s.minP(), s.repetitionPenalty(),
                s.repetitionWindow(), s.seed(), o.stopIds() == null ? null : new ArrayList<>(o.stopIds()),
                new ArrayList<>(o.stopStrings()));
    }

    GenerateOptions options() {
        return new GenerateOptions(maxTokens, new SamplerConfig(temperature, topK, topP, minP, repetitionPenalty,
                repetitionWindow, seed), stopIds == null ? null : List.copyOf(stopIds), List.copyOf(stopStrings));
    }
}
