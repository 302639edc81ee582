package dev.longctx.bench;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.HeadProfiler;
import dev.longctx.kvcache.HeadWindows;
import dev.longctx.kvcache.MoaProfile;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.session.Strategy;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;

/**
 * Strategy names for the bench and demo commands: {@link Strategy#parse} ({@code tidal},
 * {@code recycled}, {@code infllm} and {@code longheads} attend the budget's worth of keys per KV head, {@code squeezed} without a
 * kept fraction the budget's worth of its fixed context's keys per query head), plus {@code duo}, which
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
    private Path moaProfileFile;
    private MoaProfile moaProfile;
    private int moaContext;

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

    /**
     * Where {@code moa} reads its profile, and the context length its windows are fitted to when
     * {@link #parse} meets it (the budget over that length is the density).
     */
    StrategyNames withMoaProfile(Path file, int context) {
        this.moaProfileFile = file;
        this.moaContext = context;
        return this;
    }

    /**
     * MoA with windows fitted from {@code --moa-profile} to an average of {@code budget} tokens per
     * KV head at {@code context} tokens (density {@code budget / context}).
     */
    Strategy moa(int budget, int context) throws IOException {
        if (moaProfileFile == null) {
            throw new IllegalArgumentException("strategy 'moa' needs --moa-profile FILE (write one with profile-heads --moa --tasks ...)");
        }
        if (context < 1) {
            throw new IllegalArgumentException("strategy 'moa' needs the context length to fit its windows to");
        }
        if (moaProfile == null) {
            moaProfile = MoaProfile.read(moaProfileFile);
        }
        HeadWindows w = moaProfile.fit(budget / (double) context, context);
        log.println("moa at " + budget + " of " + context + " tokens: " + w);
        log.flush();
        return new Strategy.Moa(w);
    }

    Strategy parse(String name) throws IOException {
        if (name.trim().equalsIgnoreCase("moa")) {
            return moa(budget, moaContext);
        }
        if (!name.trim().equalsIgnoreCase("duo")) {
            return withSelection(Strategy.parse(name.trim()), budget);
        }
        return new Strategy.RetrievalHeads(profile(), SINKS, Math.max(1, budget - SINKS));
    }

    /**
     * TidalDecode, Recycled Attention, InfLLM and LongHeads with no selection size given attend {@code budget} keys
     * per KV head, as the evicting strategies keep, and Squeezed Attention with no kept fraction {@code budget} keys of its
     * fixed context per query head; other strategies as they are.
     */
    static Strategy withSelection(Strategy s, int budget) {
        return switch (s) {
            case Strategy.TidalDecode t when t.selected() == 0 -> new Strategy.TidalDecode(budget, t.selectionLayer(),
                    t.reselectionLayer());
            case Strategy.Recycled r when r.selected() == 0 -> new Strategy.Recycled(budget, r.stride());
            case Strategy.InfLlm i when i.attended() == 0 -> new Strategy.InfLlm(budget, i.sinks(), i.window(), i.unit(), i.topK(),
                    i.reps(), i.keyBound());
            case Strategy.ThinK t -> new Strategy.ThinK(withSelection(t.inner(), budget), t.ratio(), t.window());
            case Strategy.LongHeads lh when lh.attended() == 0 -> new Strategy.LongHeads(budget, lh.chunk(), lh.chunks());
            // no kept fraction given: the budget's keys of the fixed context per query head
            case Strategy.Squeezed sq when sq.selected() == 0 && sq.keep() == 0 -> new Strategy.Squeezed(0, budget, sq.fixedTokens(),
                    sq.keysPerCluster(), sq.iterations());
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
