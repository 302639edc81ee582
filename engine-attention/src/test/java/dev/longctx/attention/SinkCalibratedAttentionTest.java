package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/**
 * {@link SinkCalibratedAttention} against a naive reference of ACT's calibration (dense softmax per
 * row and head in double; keys at a position other than 0 above the threshold scaled by beta, the
 * rest scaled up to sum to 1), over the tiled, split-K and naive kernels at awkward sizes with
 * sink-heavy keys, and the base kernel's output exactly when beta is 1.
 */
class SinkCalibratedAttentionTest {
    private static final int PAGE = 13;

    /** ACT naively: out[row][head] = sum_j p'_j v_j. */
    private static float[] reference(float[][] keys, float[][] values, AttentionProblem p, boolean[] calibrated, double threshold,
                                     double beta) {
        int d = p.headDim();
        int g = p.groupSize();
        float[] out = new float[p.outputLength()];
        for (int row = 0; row < p.queryRows(); row++) {
            long qPos = p.queryPositions()[row];
            for (int h = 0; h < p.queryHeads(); h++) {
                int kh = h / g;
                KvView view = p.kv()[kh];
                int lk = keys[kh].length / d;
                double[] s = new double[lk];
                boolean[] in = new boolean[lk];
                double max = Double.NEGATIVE_INFINITY;
                int qi = p.queryIndex(row, h);
                for (int j = 0; j < lk; j++) {
                    in[j] = view.isValid(j / PAGE, j % PAGE) && p.mask().allows(qPos, view.position(j / PAGE, j % PAGE));
                    if (!in[j]) {
                        continue;
                    }
                    for (int c = 0; c < d; c++) {
                        s[j] += (double) p.queries()[qi + c] * keys[kh][j * d + c];
                    }
                    s[j] *= p.scale();
                    max = Math.max(max, s[j]);
                }
                double sum = 0;
                for (int j = 0; j < lk; j++) {
                    s[j] = in[j] ? Math.exp(s[j] - max) : 0;
                    sum += s[j];
                }
                double sinkMass = 0;
                boolean[] sink = new boolean[lk];
                for (int j = 0; j < lk; j++) {
                    s[j] /= sum;
                    sink[j] = calibrated[h] && in[j] && s[j] > threshold && view.position(j / PAGE, j % PAGE) != 0;
                    sinkMass += sink[j] ? s[j] : 0;
                }
                double others = sinkMass >= 1 - 1e-6 ? 1 : (1 - beta * sinkMass) / (1 - sinkMass);
                for (int j = 0; j < lk; j++) {
                    double pj = sinkMass >= 1 - 1e-6 ? s[j] : sink[j] ? beta * s[j] : others * s[j];
                    for (int c = 0; c < d; c++) {
                        out[(row * p.queryHeads() + h) * d + c] += (float) (pj * values[kh][j * d + c]);
                    }
                }
            }
        }
        return out;
    }

    @Test
    void fastPathIsTheCalibrationAtAwkwardSizes() {
        SplittableRandom r = new SplittableRandom(2150);
        int changed = 0;
        for (TensorOps ops : List.of(Problems.panamaTwoThreads(), Problems.allOps().get(0))) {
            List<Function<TensorOps, AttentionKernel>> bases = List.of(TiledAttention::new, SplitKDecodeAttention::new,
                    o -> new NaiveAttention());
            for (Function<TensorOps, AttentionKernel> make : bases) {
                for (int g : new int[] {1, 3}) {
                    for (int lk : new int[] {1, 29, 300, 1031}) {
                        for (int rows : new int[] {1, 7}) {
                            if (rows > lk) {
                                continue;
                            }
                            int kvHeads = 2;
                            int hq = kvHeads * g;
                            int d = 16;
                            float[][] k = new float[kvHeads][];
                            float[][] v = new float[kvHeads][];
                            DenseKvView[] views = new DenseKvView[kvHeads];
                            for (int h = 0; h < kvHeads; h++) {
                                k[h] = Problems.gaussian(r, lk * d, 1);
                                v[h] = Problems.gaussian(r, lk * d, 1);
                                for (int i = 0; i < lk; i += 1 + r.nextInt(40)) {
                                    k[h][i * d] += 6f; // sink-like keys (position 0 among them when i = 0)
                                }
                                views[h] = DenseKvView.of(k[h], v[h], d, DType.F32, PAGE);
                                for (int i = 5; i < lk - rows; i += 17) {
                                    views[h].invalidate(i);
                                }
                            }
                            float[] q = Problems.gaussian(r, rows * hq * d, 1);
                            for (int i = 0; i < rows * hq; i++) {
                                q[i * d] = Math.abs(q[i * d]) + 1.5f; // queries that look at the sink direction
                            }
                            boolean[] calibrated = new boolean[hq];
                            for (int h = 0; h < hq; h++) {
                                calibrated[h] = h % 2 == 0;
                            }
                            for (AttentionMask mask : new AttentionMask[] {AttentionMask.CAUSAL, AttentionMask.slidingWindow(100, 1)}) {
                                AttentionProblem p = new AttentionProblem(q, 0, rows, hq, views, AttentionProblem.lastPositions(views[0], rows),
                                        (float) (1 / Math.sqrt(d)), 0f, mask);
                                AttentionKernel base = make.apply(ops);
                                String what = ops.kernels().name() + " " + base.name() + " g=" + g + " lk=" + lk + " rows=" + rows + " "
                                        + mask;
                                for (float beta : new float[] {0f, 0.4f}) {
                                    float[] out = new float[p.outputLength()];
                                    new SinkCalibratedAttention(base, ops, h -> calibrated[h], 0.1f, beta).attend(p, out, null, null);
                                    float[] want = reference(k, v, p, calibrated, 0.1, beta);
                                    double err = Problems.relativeError(out, want, out.length);
                                    assertTrue(err <= 2e-5, what + " beta " + beta + ": relative error " + err);
                                    float[] exact = new float[p.outputLength()];
                                    base.attend(p, exact, null, null);
                                    if (Problems.relativeError(out, exact, out.length) > 1e-3) {
                                        changed++;
                                    }
                                }
                                // beta 1: the base kernel's output (bit for bit with the scalar kernels; the Panama
                                // ones may change the last bits between two calls, see Problems.assertSameAcrossThreads)
                                float[] one = new float[p.outputLength()];
                                new SinkCalibratedAttention(base, ops, h -> calibrated[h], 0.1f, 1f).attend(p, one, null, null);
                                float[] exact = new float[p.outputLength()];
                                base.attend(p, exact, null, null);
                                if (ops.kernels().isVectorized()) {
                                    assertTrue(Problems.relativeError(one, exact, one.length) <= 1e-6, what + " beta 1");
                                } else {
                                    assertArrayEquals(exact, one, what + " beta 1");
                                }
                            }
                        }
                    }
                }
            }
        }
        assertTrue(changed > 50, "calibration changed the output in only " + changed + " cases: the sinks were not found");
    }

    @Test
    void uncalibratedHeadsAndScaleOneAreExact() {
        SplittableRandom r = new SplittableRandom(2151);
        TensorOps ops = Problems.allOps().get(1); // scalar kernels, two threads: bit-for-bit comparable
        KvView[] kv = Problems.views(r, 2, 700, 32, DType.F32, PAGE, 3);
        AttentionProblem p = AttentionProblem.causal(Problems.gaussian(r, 4 * 32, 1), 1, 4, kv);
        AttentionKernel base = new SplitKDecodeAttention(ops);
        float[] exact = new float[p.outputLength()];
        base.attend(p, exact, null, null);
        float[] none = new float[p.outputLength()];
        new SinkCalibratedAttention(base, ops, h -> false, 0.1f, 0.4f).attend(p, none, null, null);
        assertArrayEquals(exact, none);
        float[] one = new float[p.outputLength()];
        new SinkCalibratedAttention(base, ops, h -> true, 1e-3f, 1f).attend(p, one, null, null);
        assertArrayEquals(exact, one);
    }

    @Test
    void misuseIsReported() {
        TensorOps ops = Problems.panamaOneThread();
        AttentionKernel base = new NaiveAttention();
        assertThrows(IllegalArgumentException.class, () -> new SinkCalibratedAttention(base, ops, h -> true, 0f, 0.4f));
        assertThrows(IllegalArgumentException.class, () -> new SinkCalibratedAttention(base, ops, h -> true, 0.1f, 1.5f));
        KvView[] kv = Problems.views(new SplittableRandom(1), 2, 10, 8, DType.F32, PAGE, 0);
        AttentionProblem p = AttentionProblem.causal(new float[16], 1, 2, kv);
        assertThrows(IllegalArgumentException.class, () -> new SinkCalibratedAttention(base, ops, h -> true, 0.1f, 0.4f)
                .attend(p, new float[1], null, null));
    }
}
