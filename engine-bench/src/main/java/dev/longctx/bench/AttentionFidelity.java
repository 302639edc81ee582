package dev.longctx.bench;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.decoder.AttentionPlan;
import dev.longctx.models.internal.SessionAccess;
import dev.longctx.models.session.Session;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Map;

/**
 * How closely a strategy's attention follows exact attention, per layer and query head, at one
 * decode step: the full-cache session runs the step; at every layer its queries are also run
 * against the strategy session's cache with the strategy's kernel (the step's own key and value
 * appended to it), and the two outputs are compared. Reported per (layer, query head): the relative
 * L2 error {@code ||o_s - o|| / ||o||} and the attention mass recovered, the exact attention
 * probability of the keys the strategy still holds.
 *
 * <p>Both sessions must have consumed the same tokens; the measurement consumes one more token in
 * each (the strategy's cache receives the full session's key and value for it), so close them
 * afterwards.
 *
 * @param relativeError [layer][query head]
 * @param massRecovered [layer][query head]
 */
public record AttentionFidelity(double[][] relativeError, double[][] massRecovered) {
    private static final SessionAccess ACCESS = SessionAccess.get();

    /** Mean relative error over layers and heads. */
    public double meanRelativeError() {
        return mean(relativeError);
    }

    /** Mean mass recovered over layers and heads. */
    public double meanMassRecovered() {
        return mean(massRecovered);
    }

    private static double mean(double[][] a) {
        double s = 0;
        int n = 0;
        for (double[] row : a) {
            for (double v : row) {
                s += v;
                n++;
            }
        }
        return n == 0 ? Double.NaN : s / n;
    }

    /**
     * Measures at the step that feeds {@code token} to both sessions.
     *
     * @throws IllegalArgumentException when the sessions are at different positions or hold a pending token
     */
    public static AttentionFidelity measure(Session full, Session strategy, int token) {
        if (full.position() != strategy.position() || ACCESS.pendingToken(full) >= 0 || ACCESS.pendingToken(strategy) >= 0) {
            throw new IllegalArgumentException("attention fidelity: both sessions must have consumed the same tokens ("
                    + full.position() + " vs " + strategy.position() + ") with nothing pending");
        }
        var config = ACCESS.config(full);
        int layers = config.layers();
        int heads = config.heads();
        double[][] error = new double[layers][heads];
        double[][] mass = new double[layers][heads];
        SequenceKvCache other = ACCESS.cache(strategy);
        AttentionPlan exactPlan = ACCESS.plan(full);
        AttentionPlan strategyPlan = ACCESS.plan(strategy);
        long position = full.position();
        AttentionPlan spy = new AttentionPlan() {
            @Override
            public AttentionKernel kernel(int layer, int queryRows) {
                AttentionKernel exact = exactPlan.kernel(layer, queryRows);
                return new AttentionKernel() {
                    @Override
                    public String name() {
                        return "fidelity-spy";
                    }

                    @Override
                    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
                        // exact probabilities by (query head, key position)
                        Map<Long, Float>[] probs = newMaps(heads);
                        exact.attend(p, out, lse, (row, qh, kh, page, pr, count) -> {
                            KvView v = p.kv()[kh];
                            for (int s = 0; s < count; s++) {
                                if (pr[s] > 0) {
                                    probs[qh].merge(v.position(page, s), pr[s], Float::sum);
                                }
                            }
                        });
                        copyLastToken(p.kv(), other, layer, position);
                        KvView[] views = other.views(layer);
                        AttentionProblem q = new AttentionProblem(p.queries(), p.queryOffset(), p.queryRows(), p.queryHeads(), views,
                                p.queryPositions(), p.scale(), p.softCap(), p.mask());
                        float[] mine = new float[out.length];
                        strategyPlan.kernel(layer, queryRows).attend(q, mine, null, null);
                        int d = p.headDim();
                        int g = p.groupSize();
                        for (int h = 0; h < heads; h++) {
                            double num = 0;
                            double den = 0;
                            for (int c = 0; c < d; c++) {
                                double diff = mine[h * d + c] - out[h * d + c];
                                num += diff * diff;
                                den += (double) out[h * d + c] * out[h * d + c];
                            }
                            error[layer][h] = den == 0 ? 0 : Math.sqrt(num / den);
                            mass[layer][h] = keptMass(probs[h], views[h / g]);
                        }
                    }
                };
            }
        };
        ACCESS.stepWith(full, token, spy);
        ACCESS.advanceExternally(strategy, token);
        return new AttentionFidelity(error, mass);
    }

    @SuppressWarnings("unchecked")
    private static Map<Long, Float>[] newMaps(int n) {
        Map<Long, Float>[] out = new Map[n];
        for (int i = 0; i < n; i++) {
            out[i] = new ConcurrentHashMap<>(); // split-K kernels observe from several threads
        }
        return out;
    }

    /** Appends the full cache's newest key and value of every KV head of a layer to {@code other}. */
    private static void copyLastToken(KvView[] full, SequenceKvCache other, int layer, long position) {
        for (int h = 0; h < full.length; h++) {
            KvView v = full[h];
            int page = v.pageCount() - 1;
            int slot = v.pageLength(page) - 1;
            int d = v.headDim();
            float[] k = new float[d];
            float[] val = new float[d];
            Quantization.dequantize(v.dtype(), v.keys(page), slot * v.rowBytes(), k, 0, d);
            Quantization.dequantize(v.dtype(), v.values(page), slot * v.rowBytes(), val, 0, d);
            other.appendHead(layer, h, k, 0, val, 0, position);
        }
    }

    private static double keptMass(Map<Long, Float> probs, KvView kept) {
        double m = 0;
        for (int p = 0; p < kept.pageCount(); p++) {
            for (int s = 0; s < kept.pageLength(p); s++) {
                if (kept.isValid(p, s)) {
                    m += probs.getOrDefault(kept.position(p, s), 0f);
                }
            }
        }
        return m;
    }
}
