package dev.longctx.attention;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.rope.Rope;
import dev.longctx.core.rope.RopePairing;
import dev.longctx.core.tensor.DType;
import dev.longctx.core.kernels.spi.Quantization;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LambdaAttentionTest {
    static final int D = 32;
    static final Rope ROPE = Rope.standard(D, 10000, 4096);

    /** Straight from the paper's definition, in double precision. */
    static float[] reference(AttentionProblem p, LambdaAttention.Config c, float[] lseOut) {
        int d = p.headDim();
        float[] out = new float[p.outputLength()];
        float[] key = new float[d];
        float[] val = new float[d];
        for (int i = 0; i < p.queryRows(); i++) {
            for (int h = 0; h < p.queryHeads(); h++) {
                KvView v = p.kv()[h / p.groupSize()];
                long qPos = p.queryPositions()[i];
                int n = v.pageCount() * v.pageSize();
                double[] logit = new double[n];
                double max = Double.NEGATIVE_INFINITY;
                for (int pg = 0; pg < v.pageCount(); pg++) {
                    for (int s = 0; s < v.pageLength(pg); s++) {
                        long kPos = v.position(pg, s);
                        int k = pg * v.pageSize() + s;
                        logit[k] = Double.NEGATIVE_INFINITY;
                        if (kPos > qPos) {
                            continue;
                        }
                        float[] q = new float[d];
                        System.arraycopy(p.queries(), p.queryIndex(i, h), q, 0, d);
                        if (qPos - kPos >= c.localWindow()) {
                            if (kPos >= c.globalTokens()) {
                                continue;
                            }
                            ROPE.rotateBy(q, 0, 1, kPos + c.localWindow() - qPos, RopePairing.ROTATE_HALF);
                        }
                        Quantization.dequantize(v.dtype(), v.keys(pg), s * v.rowBytes(), key, 0, d);
                        double dot = 0;
                        for (int j = 0; j < d; j++) {
                            dot += (double) q[j] * key[j];
                        }
                        logit[k] = p.scale() * dot;
                        max = Math.max(max, logit[k]);
                    }
                }
                double sum = 0;
                double[] acc = new double[d];
                for (int pg = 0; pg < v.pageCount(); pg++) {
                    for (int s = 0; s < v.pageLength(pg); s++) {
                        int k = pg * v.pageSize() + s;
                        if (logit[k] == Double.NEGATIVE_INFINITY) {
                            continue;
                        }
                        double e = Math.exp(logit[k] - max);
                        sum += e;
                        Quantization.dequantize(v.dtype(), v.values(pg), s * v.rowBytes(), val, 0, d);
                        for (int j = 0; j < d; j++) {
                            acc[j] += e * val[j];
                        }
                    }
                }
                int o = (i * p.queryHeads() + h) * d;
                for (int j = 0; j < d; j++) {
                    out[o + j] = (float) (acc[j] / sum);
                }
                lseOut[i * p.queryHeads() + h] = (float) (max + Math.log(sum));
            }
        }
        return out;
    }

    @Test
    void matchesThePaperDefinition() {
        SplittableRandom r = new SplittableRandom(1);
        LambdaAttention.Config c = new LambdaAttention.Config(10, 64);
        for (int g : new int[] {1, 4}) {
            KvView[] kv = Problems.views(r, 2, 500, D, DType.F32, 16, 10);
            float[] q = Problems.gaussian(r, 20 * 2 * g * D, 1);
            AttentionProblem p = AttentionProblem.causal(q, 20, 2 * g, kv);
            float[] refLse = new float[20 * 2 * g];
            float[] ref = reference(p, c, refLse);
            for (TensorOps ops : Problems.allOps()) {
                float[] out = new float[p.outputLength()];
                float[] lse = new float[refLse.length];
                new LambdaAttention(ops, ROPE, RopePairing.ROTATE_HALF, c).attend(p, out, lse, null);
                double err = Problems.relativeError(out, ref, out.length);
                assertTrue(err <= 1e-5, "g=" + g + " " + ops.kernels().name() + ": " + err);
                for (int i = 0; i < lse.length; i++) {
                    assertEquals(refLse[i], lse[i], 1e-4 * Math.max(1, Math.abs(refLse[i])));
                }
            }
        }
    }

    @Test
    void aWindowCoveringEverythingIsPlainCausalAttention() {
        SplittableRandom r = new SplittableRandom(2);
        KvView[] kv = Problems.views(r, 1, 300, D, DType.F32, 16, 4);
        float[] q = Problems.gaussian(r, 5 * 2 * D, 1);
        AttentionProblem p = AttentionProblem.causal(q, 5, 2, kv);
        float[] a = new float[p.outputLength()];
        new LambdaAttention(Problems.panamaTwoThreads(), ROPE, RopePairing.ROTATE_HALF, new LambdaAttention.Config(10, 100_000))
                .attend(p, a, null, null);
        float[] b = new float[p.outputLength()];
        new TiledAttention(Problems.panamaTwoThreads()).attend(p, b, null, null);
        assertTrue(Problems.relativeError(a, b, a.length) == 0.0);
    }

    @Test
    void aFarGlobalKeyIsSeenAtTheCappedDistance() {
        // One global key at position 0 holding R(0) k0, one query at position 10000 holding R(10000) q0.
        // Capped at distance L, its logit must be (R(L) q0) . k0, whatever the real distance.
        SplittableRandom r = new SplittableRandom(3);
        long qPos = 10_000;
        int window = 256;
        float[] k0 = Problems.gaussian(r, D, 1);
        float[] q0 = Problems.gaussian(r, D, 1);
        float[] key = k0.clone();
        ROPE.rotateHeads(key, 0, 1, 0, 0, RopePairing.ROTATE_HALF);
        float[] q = q0.clone();
        ROPE.rotateHeads(q, 0, 1, qPos, 0, RopePairing.ROTATE_HALF);
        // The view: the global key at 0 and a filler key at qPos (the query's own), far apart.
        float[] keys = new float[2 * D];
        System.arraycopy(key, 0, keys, 0, D);
        float[] values = Problems.gaussian(r, 2 * D, 1);
        KvView view = DenseKvView.of(keys, values, new long[] {0, qPos}, D, DType.F32, 16);
        AttentionProblem p = new AttentionProblem(q, 0, 1, 1, new KvView[] {view}, new long[] {qPos}, 1f, 0f,
                AttentionMask.CAUSAL);
        float[] lse = new float[1];
        new LambdaAttention(Problems.panamaTwoThreads(), ROPE, RopePairing.ROTATE_HALF, new LambdaAttention.Config(1, window))
                .attend(p, new float[D], lse, null);
        float[] qAtL = q0.clone();
        ROPE.rotateHeads(qAtL, 0, 1, window, 0, RopePairing.ROTATE_HALF);
        double capped = 0;
        for (int j = 0; j < D; j++) {
            capped += (double) qAtL[j] * k0[j];
        }
        // The filler key has logit 0 (zero key): lse = log(e^capped + e^0).
        assertEquals(Math.log(Math.exp(capped) + 1), lse[0], 1e-4);
    }

    @Test
    void badConfigurationsAreClearErrors() {
        assertThrows(IllegalArgumentException.class, () -> new LambdaAttention.Config(-1, 10));
        assertThrows(IllegalArgumentException.class, () -> new LambdaAttention.Config(4, 0));
        SplittableRandom r = new SplittableRandom(4);
        KvView[] kv = Problems.views(r, 1, 20, D, DType.F32, 16, 0);
        float[] q = Problems.gaussian(r, D, 1);
        AttentionProblem p = new AttentionProblem(q, 0, 1, 1, kv, new long[] {19}, 1f, 0f, AttentionMask.NONE);
        var k = new LambdaAttention(Problems.panamaTwoThreads(), ROPE, RopePairing.ROTATE_HALF, LambdaAttention.Config.DEFAULT);
        var e = assertThrows(IllegalArgumentException.class, () -> k.attend(p, new float[D], null, null));
        assertTrue(e.getMessage().contains("CAUSAL"), e.getMessage());
    }
}
