package dev.longctx.bench.ruler;

import dev.longctx.kvcache.HeadProfiler;
import dev.longctx.kvcache.MoaProfile;
import dev.longctx.kvcache.WindowLossScorer;
import java.util.List;

/**
 * MoA's profile (Fu et al., 2024) on the model's own task instances, over the same plumbing as
 * {@link TaskHeadProfiler} (a {@link HeadProfiler.Model}, teacher-forced answers): each instance's
 * prompt is run, then its answer is fed token by token, and at every answer step the exact
 * attention of every layer reports to a {@link WindowLossScorer}, which sums the attention mass each
 * candidate rule would drop. MoA profiles on the model's own responses to long inputs too; the
 * answer steps are where this model's retrieval happens.
 *
 * <p>Threading: stateless; the model it drives is used by the calling thread only.
 */
public final class MoaTaskProfiler {
    private MoaTaskProfiler() {
    }

    /** Profiles {@code model} on {@code instances} for the candidates {@code alpha[c] + beta[c] * N}, with {@code sinks}. */
    public static MoaProfile profile(HeadProfiler.Model model, List<TaskInstance> instances, int sinks, long[] alpha, double[] beta) {
        WindowLossScorer scorer = new WindowLossScorer(model.layers(), model.kvHeads(), model.groupSize(), sinks, alpha, beta);
        for (TaskInstance inst : instances) {
            int[] ids = inst.ids();
            int n = inst.promptLength();
            model.prefill(java.util.Arrays.copyOf(ids, n - 1));
            try {
                int fed = ids[n - 1];
                long position = n - 1;
                for (int a : inst.answerIds()) {
                    scorer.beginStep(position++);
                    model.step(fed, scorer::observer);
                    scorer.endStep();
                    fed = a;
                }
            } finally {
                model.reset();
            }
        }
        return new MoaProfile(sinks, alpha, beta, scorer.losses());
    }
}
