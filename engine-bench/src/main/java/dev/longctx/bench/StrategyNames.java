package dev.longctx.bench;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.HeadProfiler;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.session.Strategy;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * Strategy names for the bench and demo commands: {@link Strategy#parse} ({@code tidal},
 * {@code recycled}, {@code infllm} and {@code longheads} attend the budget's worth of keys per KV head), plus {@code duo}, which
 * takes a head profile from {@code --profile} or, without one, profiles the model first with the
 * retrieval-head profiler (three 256-token needle prompts, the top quarter of KV heads retrieval).
 */
final class StrategyNames {
    /** Profiler settings for the automatic profile: short prompts, a 16-token needle at three depths. */
    private static final HeadProfiler.Settings AUTO = new HeadProfiler.Settings(256, 16, new double[] {0.1, 0.5, 0.9}, 42);
    /** Share of KV heads kept as retrieval heads (DuoAttention keeps about a quarter to a half). */
    private static final double RETRIEVAL_FRACTION = 0.25;

    /** StreamingLLM's sinks, kept by duo's streaming heads too (Xiao et al., 2023). */
    private static final int SINKS = 4;

    private final ModelWeights weights;
    private final int budget;
    private final Path profileFile;
    private final TensorOps ops;
    private final PrintWriter log;
    private HeadProfile profile;

    /**
     * @param budget tokens per KV head for evicting strategies; duo's streaming heads keep 4 sinks and
     *     the rest of it as their window (its retrieval heads keep everything)
     */
    StrategyNames(ModelWeights weights, int budget, Path profileFile, TensorOps ops, PrintWriter log) {
        this(weights, budget, profileFile, ops, log, null);
    }

    /** As above, with a profile already made ({@code null}: read or measure one when duo first needs it). */
    StrategyNames(ModelWeights weights, int budget, Path profileFile, TensorOps ops, PrintWriter log, HeadProfile profile) {
        this.profile = profile;
        this.weights = weights;
        this.budget = budget;
        this.profileFile = profileFile;
        this.ops = ops;
        this.log = log;
    }

    Strategy parse(String name) throws IOException {
        if (!name.trim().equalsIgnoreCase("duo")) {
            return withSelection(Strategy.parse(name.trim()), budget);
        }
        return new Strategy.RetrievalHeads(profile(), SINKS, Math.max(1, budget - SINKS));
    }

    /**
     * TidalDecode, Recycled Attention, InfLLM and LongHeads with no selection size given attend {@code budget} keys
     * per KV head, as the evicting strategies keep; other strategies as they are.
     */
    static Strategy withSelection(Strategy s, int budget) {
        return switch (s) {
            case Strategy.TidalDecode t when t.selected() == 0 -> new Strategy.TidalDecode(budget, t.selectionLayer(),
                    t.reselectionLayer());
            case Strategy.Recycled r when r.selected() == 0 -> new Strategy.Recycled(budget, r.stride());
            case Strategy.InfLlm i when i.attended() == 0 -> new Strategy.InfLlm(budget, i.sinks(), i.window(), i.unit(), i.topK(),
                    i.reps());
            case Strategy.LongHeads lh when lh.attended() == 0 -> new Strategy.LongHeads(budget, lh.chunk(), lh.chunks());
            default -> s;
        };
    }

    /** The head profile: {@code --profile}'s file, or the model profiled once (three 256-token needle prompts). */
    HeadProfile profile() throws IOException {
        if (profile == null) {
            if (profileFile != null) {
                profile = HeadProfile.read(profileFile);
            } else {
                log.println("duo: profiling heads (3 needle prompts of 256 tokens; give --profile FILE to skip)");
                log.flush();
                try (DecoderProfilerModel m = new DecoderProfilerModel(weights, ops, AUTO.contextLength() + AUTO.needleLength())) {
                    profile = HeadProfiler.profile(m, AUTO, RETRIEVAL_FRACTION);
                }
            }
        }
        return profile;
    }
}
