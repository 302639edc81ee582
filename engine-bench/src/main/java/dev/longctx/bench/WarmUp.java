package dev.longctx.bench;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import java.io.PrintWriter;
import java.util.List;

/**
 * Untimed runs before timed ones, so that the timings do not include the JIT's work: a prefill,
 * {@link #steps} decode steps, then two more prefill chunks and as many steps again.
 *
 * <p>The second round matters: code that C2 compiled during the first decode (split-K's
 * {@code attend}, the tile's {@code accumulate}) met never-taken branches in the next prefill, was
 * deoptimised, and ran as profiled C1 code until C2 compiled it again, which happened in the
 * middle of the first timed decode (JIT log, StreamingLLM at depth 4096, Q8_0 weights: the first
 * cell of a run decoded 51.6-58.6 tok/s, the next ones 71.7-72.3; with both rounds, three cells
 * read 59.5, 59.6 and 57.2 in a slower minute). Measured without any warm-up, Quest's first 32
 * decoded tokens at depth 8K ran at 34 tok/s and its eighth batch at 54-58 once compiled.
 */
final class WarmUp {
    /**
     * Calls of a method after which the warm-up may expect C2 to have compiled it: HotSpot's
     * {@code Tier4InvocationThreshold} is 5000 (more while the compile queue is long).
     */
    static final int C2_INVOCATIONS = 6000;

    /** Most decode steps of a round (models with few layers would otherwise need thousands). */
    static final int MAX_STEPS = 512;

    private WarmUp() {
    }

    /**
     * Decode steps of a round: twice a timed run's, and enough that a method called once per layer
     * and step (the attention kernel, the policy's step) reaches {@link #C2_INVOCATIONS}: with
     * 2 x 32 steps, SmolLM2's 30 layers called split-K 1,920 times.
     */
    static int steps(int layers, int decode) {
        return Math.max(2 * decode, Math.min(MAX_STEPS, (C2_INVOCATIONS + layers - 1) / layers));
    }

    /**
     * Runs both rounds on a fresh session of strategy {@code s}: a prompt of {@code context} tokens
     * in chunks of {@code chunk}, then the steps; a context the strategy or the model cannot hold
     * skips the warm-up with a line on {@code err}.
     *
     * @param budget the session's budget for strategies that evict (those that keep every token
     *     get room for the whole warm-up)
     * @param decode the decode steps of one timed run
     */
    static void run(ModelWeights w, Strategy s, int context, int budget, int chunk, DType kvType, TensorOps ops, int decode,
                    PrintWriter err) {
        int again = 2 * chunk;
        // A short model context shortens the rounds (one too short for both is refused below).
        int steps = Math.max(1, Math.min(steps(w.config().layers(), decode), (w.config().maxPositions() - context - again - 2) / 2));
        int tokens = s.keepsEveryToken() ? context + again + 2 * steps + 2 : budget;
        try (Session session = Session.builder(w).strategy(s).budgetTokens(tokens).kvType(kvType).chunkSize(chunk).ops(ops)
                .build()) {
            err.printf("%s: warming up (%d tokens and %d decode steps, then %d and %d more, untimed)%n", s.name(), context, steps,
                    again, steps);
            err.flush();
            session.generate(new int[context], GenerateOptions.greedy(steps).withStopIds(List.of()), null);
            session.generate(new int[again], GenerateOptions.greedy(steps).withStopIds(List.of()), null);
        } catch (ContextBudgetException e) {
            err.printf("%s: no warm-up (%s)%n", s.name(), e.getMessage());
        }
    }
}
