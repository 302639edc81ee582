package dev.longctx.bench.ruler;

import dev.longctx.attention.KvView;
import dev.longctx.kvcache.HeadProfiler;
import dev.longctx.models.session.SinkHeads;
import java.util.ArrayList;
import java.util.List;

/**
 * The calibration pass of attention-sink calibration ({@code Strategy.SinkCalibration}, ACT, Yu et
 * al., 2024) on the model's own task instances: each instance's prompt is run, then its answer is
 * fed token by token (teacher forcing), and at every answer step each query head's attention mass
 * on non-initial sinks (keys at a position other than 0 with a probability above the threshold) is
 * added up. A head's score is that mass averaged over the answer steps, in [0, 1].
 *
 * <p>Heads whose score is at least {@link #COLLAPSE} are the calibrated set: on average at least
 * half their attention collapses onto non-initial sinks. That rule is this project's reading of
 * the issue ("heads whose attention collapses onto non-initial sink tokens"); the authors instead
 * keep a head when calibrating it alone raises accuracy on a calibration set (a search over heads
 * this harness does not run).
 *
 * <p>Threading: static methods; the observers it hands the model are thread-safe.
 */
public final class SinkHeadProfiler {
    /** Share of a head's attention on non-initial sinks above which it is calibrated (see the class comment). */
    public static final double COLLAPSE = 0.5;

    private SinkHeadProfiler() {
    }

    /** Every query head's mean non-initial sink mass per answer step: [layers][queryHeads]. */
    public static double[][] score(HeadProfiler.Model model, List<TaskInstance> instances, double threshold) {
        int hq = model.kvHeads() * model.groupSize();
        double[][] mass = new double[model.layers()][hq];
        int steps = 0;
        for (TaskInstance inst : instances) {
            int[] ids = inst.ids();
            int n = inst.promptLength();
            model.prefill(java.util.Arrays.copyOf(ids, n - 1));
            try {
                int fed = ids[n - 1];
                for (int a : inst.answerIds()) {
                    model.step(fed, (layer, views) -> (row, head, kvHead, page, probs, count) -> {
                        KvView v = views[kvHead];
                        double m = 0;
                        for (int s = 0; s < count; s++) {
                            if (probs[s] > threshold && v.position(page, s) != 0) {
                                m += probs[s];
                            }
                        }
                        if (m > 0) {
                            synchronized (mass) { // calls come from the pool's threads
                                mass[layer][head] += m;
                            }
                        }
                    });
                    fed = a;
                    steps++;
                }
            } finally {
                model.reset();
            }
        }
        for (double[] row : mass) {
            for (int h = 0; h < row.length; h++) {
                row[h] = steps == 0 ? 0 : row[h] / steps;
            }
        }
        return mass;
    }

    /** The heads whose score is at least {@link #COLLAPSE}. */
    public static SinkHeads collapsed(double[][] scores) {
        List<int[]> heads = new ArrayList<>();
        for (int l = 0; l < scores.length; l++) {
            for (int h = 0; h < scores[l].length; h++) {
                if (scores[l][h] >= COLLAPSE) {
                    heads.add(new int[] {l, h});
                }
            }
        }
        return SinkHeads.of(heads.toArray(int[][]::new));
    }
}
