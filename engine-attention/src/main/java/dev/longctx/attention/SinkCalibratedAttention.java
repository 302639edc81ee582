package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.IntPredicate;

/**
 * Attention with ACT's attention-sink calibration (Yu et al., 2024, "Unveiling and Harnessing
 * Hidden Attention Sinks: Enhancing Large Language Models without Training through Attention
 * Calibration", ICML): for the calibrated query heads, the keys at a position other than 0 whose
 * attention probability exceeds {@code threshold} are this row's <em>sinks</em> S; their
 * probabilities are scaled by {@code beta} and the mass taken from them goes to the other keys in
 * proportion to their probabilities:
 * <pre>
 *   p'_s = beta * p_s               (s in S)
 *   p'_j = p_j * (1 - beta * P_S) / (1 - P_S)   (j not in S),   P_S = sum_{s in S} p_s
 * </pre>
 * (the authors' {@code atten_process_eval} in GATECH-EIC/ACT {@code models/llama_modelling_aug.py}:
 * {@code modified[:, S] *= beta}, the removed {@code (1 - beta) P_S} spread over the other keys by
 * their share). The output is {@code sum_j p'_j v_j}. Rows whose attention is all on sinks
 * ({@code P_S = 1}: no other key to take the mass) and the other heads are left exact.
 *
 * <p>The authors detect sinks on the whole prompt's attention map (a key whose attention averaged
 * over the queries after it exceeds the threshold) and, at generation steps (one query), on that
 * query's probabilities; here every row detects its own (the generation-step rule), so prompt chunks
 * and decode steps behave alike and no attention map is kept.
 *
 * <p>How: the base kernel runs with an observer that records, for calibrated heads, the keys above
 * the threshold; then each affected (row, head) output {@code o} becomes
 * {@code beta * w + c * (o - w)} with {@code w = sum_{s in S} p_s v_s} (the sinks' values, read
 * once) and {@code c = (1 - beta P_S) / (1 - P_S)}. The difference loses about
 * {@code c * 1e-7 * max|v|} to rounding. With {@code beta = 1} the base kernel runs alone (exact).
 * The caller's observer receives the base kernel's (uncalibrated) probabilities; {@code lse} is the
 * uncalibrated logits'.
 *
 * <p><b>Cost</b>: the base kernel with an observer (its probability pass: a second pass over the
 * scores in the tiled kernel, the slow path of split-K decode) when a calibrated head is present,
 * plus O(|S| * D) per affected row and head.
 *
 * <p>Threading: immutable; calls may run concurrently (each call keeps its own records).
 */
public final class SinkCalibratedAttention implements AttentionKernel {
    private final AttentionKernel base;
    private final TensorOps ops;
    private final IntPredicate calibrated;
    private final float threshold;
    private final float beta;

    /**
     * @param base the exact kernel (its observer must report every attended key's probability)
     * @param calibrated whether a query head of the layer (by index) is calibrated; must be pure
     * @param threshold probability above which a key at a position other than 0 is a sink, in (0, 1)
     * @param beta scale of the sinks' attention, in [0, 1] (1: no change)
     */
    public SinkCalibratedAttention(AttentionKernel base, TensorOps ops, IntPredicate calibrated, float threshold, float beta) {
        this.base = Objects.requireNonNull(base, "base");
        this.ops = Objects.requireNonNull(ops, "ops");
        this.calibrated = Objects.requireNonNull(calibrated, "calibrated");
        if (!(threshold > 0 && threshold < 1)) {
            throw new IllegalArgumentException("sink calibration: threshold must be in (0, 1), got " + threshold);
        }
        if (!(beta >= 0 && beta <= 1)) {
            throw new IllegalArgumentException("sink calibration: beta must be in [0, 1], got " + beta);
        }
        this.threshold = threshold;
        this.beta = beta;
    }

    @Override
    public String name() {
        return "sink-calib(" + base.name() + ")";
    }

    /** One key above the threshold: where it is and its probability. */
    private record Sink(int row, int head, int kvHead, int page, int slot, float p) {
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        boolean[] heads = new boolean[p.queryHeads()];
        boolean any = false;
        for (int h = 0; h < heads.length; h++) {
            heads[h] = calibrated.test(h);
            any |= heads[h];
        }
        if (!any || beta == 1f) {
            base.attend(p, out, lse, observer);
            return;
        }
        List<Sink> sinks = new ArrayList<>();
        KvView[] kv = p.kv();
        AttentionObserver collect = (row, head, kvHead, page, probs, count) -> {
            if (observer != null) {
                observer.observe(row, head, kvHead, page, probs, count);
            }
            if (!heads[head]) {
                return;
            }
            for (int s = 0; s < count; s++) {
                if (probs[s] > threshold && kv[kvHead].position(page, s) != 0) {
                    synchronized (sinks) { // calls come from the pool's threads
                        sinks.add(new Sink(row, head, kvHead, page, s, probs[s]));
                    }
                }
            }
        };
        base.attend(p, out, lse, collect);
        if (sinks.isEmpty()) {
            return;
        }
        sinks.sort((a, b) -> a.row != b.row ? Integer.compare(a.row, b.row) : a.head != b.head ? Integer.compare(a.head, b.head)
                : a.page != b.page ? Integer.compare(a.page, b.page) : Integer.compare(a.slot, b.slot));
        int d = p.headDim();
        float[] v = new float[d];
        double[] w = new double[d];
        VectorKernels k = ops.kernels();
        for (int i = 0; i < sinks.size(); ) {
            Sink first = sinks.get(i);
            java.util.Arrays.fill(w, 0);
            double mass = 0;
            int j = i;
            for (; j < sinks.size() && sinks.get(j).row == first.row && sinks.get(j).head == first.head; j++) {
                Sink s = sinks.get(j);
                KvView view = kv[s.kvHead];
                k.dequantize(view.dtype(), view.values(s.page), s.slot * view.rowBytes(), v, 0, d);
                for (int c = 0; c < d; c++) {
                    w[c] += (double) s.p * v[c];
                }
                mass += s.p;
            }
            i = j;
            if (mass >= 1 - 1e-6) {
                continue; // no other key to take the mass
            }
            double scale = (1 - beta * mass) / (1 - mass);
            int o = (first.row * p.queryHeads() + first.head) * d;
            for (int c = 0; c < d; c++) {
                out[o + c] = (float) (beta * w[c] + scale * (out[o + c] - w[c]));
            }
        }
    }
}
