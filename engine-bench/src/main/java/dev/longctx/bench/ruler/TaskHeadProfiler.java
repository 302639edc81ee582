package dev.longctx.bench.ruler;

import dev.longctx.kvcache.HeadProfiler;
import dev.longctx.kvcache.RetrievalHeadScorer;
import java.util.List;

/**
 * The Retrieval-Head score (Wu et al., 2024) on real task instances instead of random tokens: each
 * instance's prompt is run, then its answer is fed token by token (teacher forcing), and a query
 * head scores at a step when its top-1 key lies in a needle the answer needs and holds the token
 * being generated (the answer's digits are copied from the needle). A KV head's score is the
 * share of answer steps at which its query heads copy (averaged over the group), in [0, 1].
 * Only the first needle an answer needs is scored, so single and multi-key needles are the tasks
 * to profile on.
 */
public final class TaskHeadProfiler {
    private TaskHeadProfiler() {
    }

    /** Scores every KV head of {@code model} on {@code instances}: [layers][kvHeads]. */
    public static float[][] score(HeadProfiler.Model model, List<TaskInstance> instances) {
        RetrievalHeadScorer scorer = new RetrievalHeadScorer(model.layers(), model.kvHeads(), model.groupSize());
        int steps = 0;
        double weighted = 0; // sum over steps of 1 / needle length: the scorer's gain per step
        for (TaskInstance inst : instances) {
            int[] ids = inst.ids();
            int n = inst.promptLength();
            int[] answer = inst.answerIds();
            model.prefill(java.util.Arrays.copyOf(ids, n - 1));
            try {
                int start = inst.neededStarts()[0];
                int end = inst.neededEnds()[0];
                scorer.startNeedle(start, end, p -> ids[(int) p]);
                // the step that reads the prompt's last token generates answer[0]; then answer[i] generates answer[i + 1]
                int fed = ids[n - 1];
                for (int a : answer) {
                    scorer.beginStep(a);
                    model.step(fed, scorer::observer);
                    scorer.endStep();
                    fed = a;
                    steps++;
                    weighted += 1.0 / (end - start);
                }
            } finally {
                model.reset();
            }
        }
        float[][] s = scorer.scores();
        for (float[] row : s) {
            for (int h = 0; h < row.length; h++) {
                row[h] = steps == 0 ? 0 : (float) (row[h] / weighted);
            }
        }
        return s;
    }
}
