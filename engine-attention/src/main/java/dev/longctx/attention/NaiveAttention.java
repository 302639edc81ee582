package dev.longctx.attention;

import dev.longctx.core.kernels.spi.Quantization;

/**
 * The reference: for every query row and head it materialises all logits in double precision,
 * applies the mask, takes the softmax and sums the values. O(Lq * Hq * Lk * D) time and
 * O(Lk) extra memory per row. Slow and obviously right: every other kernel is tested against it.
 */
public final class NaiveAttention implements AttentionKernel {

    @Override
    public String name() {
        return "naive";
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        int d = p.headDim();
        int g = p.groupSize();
        float[] krow = new float[d];
        float[] vrow = new float[d];
        double[] acc = new double[d];
        for (int h = 0; h < p.queryHeads(); h++) {
            KvView view = p.kv()[h / g];
            int pages = view.pageCount();
            int ps = view.pageSize();
            double[] logits = new double[pages * ps];
            for (int i = 0; i < p.queryRows(); i++) {
                int qi = p.queryIndex(i, h);
                long qPos = p.queryPositions()[i];
                double max = Double.NEGATIVE_INFINITY;
                for (int pg = 0; pg < pages; pg++) {
                    for (int s = 0; s < ps; s++) {
                        int k = pg * ps + s;
                        if (s >= view.pageLength(pg) || !view.isValid(pg, s) || !p.mask().allows(qPos, view.position(pg, s))) {
                            logits[k] = Double.NEGATIVE_INFINITY;
                            continue;
                        }
                        Quantization.dequantize(view.dtype(), view.keys(pg), s * view.rowBytes(), krow, 0, d);
                        double dot = 0;
                        for (int c = 0; c < d; c++) {
                            dot += (double) p.queries()[qi + c] * krow[c];
                        }
                        double logit = p.scale() * dot;
                        if (p.softCap() > 0) {
                            logit = p.softCap() * Math.tanh(logit / p.softCap());
                        }
                        logits[k] = logit;
                        max = Math.max(max, logit);
                    }
                }
                int oi = (i * p.queryHeads() + h) * d;
                java.util.Arrays.fill(acc, 0);
                if (max == Double.NEGATIVE_INFINITY) {
                    java.util.Arrays.fill(out, oi, oi + d, 0f);
                    if (lse != null) {
                        lse[i * p.queryHeads() + h] = Float.NEGATIVE_INFINITY;
                    }
                    reportZeros(observer, view, i, h, h / g);
                    continue;
                }
                double sum = 0;
                for (int k = 0; k < logits.length; k++) {
                    logits[k] = logits[k] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(logits[k] - max);
                    sum += logits[k];
                }
                for (int pg = 0; pg < pages; pg++) {
                    for (int s = 0; s < view.pageLength(pg); s++) {
                        double w = logits[pg * ps + s];
                        if (w == 0) {
                            continue;
                        }
                        Quantization.dequantize(view.dtype(), view.values(pg), s * view.rowBytes(), vrow, 0, d);
                        for (int c = 0; c < d; c++) {
                            acc[c] += w * vrow[c];
                        }
                    }
                }
                for (int c = 0; c < d; c++) {
                    out[oi + c] = (float) (acc[c] / sum);
                }
                if (lse != null) {
                    lse[i * p.queryHeads() + h] = (float) (max + Math.log(sum));
                }
                if (observer != null) {
                    float[] probs = new float[ps];
                    for (int pg = 0; pg < pages; pg++) {
                        for (int s = 0; s < ps; s++) {
                            probs[s] = (float) (logits[pg * ps + s] / sum);
                        }
                        observer.observe(i, h, h / g, pg, probs, view.pageLength(pg));
                    }
                }
            }
        }
    }

    private static void reportZeros(AttentionObserver observer, KvView view, int row, int head, int kvHead) {
        if (observer == null) {
            return;
        }
        float[] zeros = new float[view.pageSize()];
        for (int pg = 0; pg < view.pageCount(); pg++) {
            observer.observe(row, head, kvHead, pg, zeros, view.pageLength(pg));
        }
    }
}
