package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.select.TopK;
import java.util.Objects;

/**
 * The online half of Squeezed Attention (Hooper et al., 2024, "Squeezed Attention: Accelerating
 * Long Context Length LLM Inference", Section 3.2): new queries against a fixed context clustered
 * offline ({@link SqueezedIndex}). Each query head of each query row ranks the centroids of its KV
 * head by {@code q . centroid} and takes clusters from the top until their keys reach the budget
 * ({@code ceil(keepFraction x fixed keys)}, the last cluster taken whole; ties to the lower
 * cluster, NaN first as in {@link TopK}); it then attends exactly the keys of those clusters plus
 * every key of the view after the fixed context (the new tokens, under the problem's mask).
 *
 * <p>The problem's views must begin with the fixed context the index was built from (the same
 * number of keys, the same last position) and may hold new keys after it; anything else is refused
 * with an {@link IllegalArgumentException}.
 *
 * <p><b>Cost</b> per query head and row: {@code clusters x D} for the centroids, then
 * {@code (kept + new keys) x D} twice: against {@code fixed x D} twice for exact attention. The
 * paper thresholds the softmax over centroids with a calibrated threshold to reach a target
 * sparsity; a fraction of the fixed keys is that target stated directly. No observer.
 *
 * <p>With {@code keepFraction = 1} every cluster is kept and the kernel equals exact attention
 * (tested). Immutable and thread-safe.
 */
public final class SqueezedAttention implements AttentionKernel {
    private final TensorOps ops;
    private final SqueezedIndex index;
    private final double keepFraction;

    /**
     * @param index the fixed context's clusters
     * @param keepFraction of the fixed keys each query attends, in (0, 1]
     */
    public SqueezedAttention(TensorOps ops, SqueezedIndex index, double keepFraction) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.index = Objects.requireNonNull(index, "index");
        if (!(keepFraction > 0 && keepFraction <= 1)) {
            throw new IllegalArgumentException("squeezed attention: keepFraction must be in (0, 1], got " + keepFraction);
        }
        this.keepFraction = keepFraction;
    }

    @Override
    public String name() {
        return String.format("squeezed(keep=%.3f)", keepFraction);
    }

    /** Fixed keys a query attends at most before the last cluster: {@code ceil(keepFraction x tokens)}. */
    public int budget() {
        return (int) Math.min(index.tokens(), Math.ceil(keepFraction * index.tokens()));
    }

    /**
     * The clusters one query picks, increasing: the rule above, for a query vector
     * {@code q[off..off+D)} of KV head {@code h}.
     */
    int[] chooseClusters(int h, float[] q, int off) {
        SqueezedIndex.Head head = index.head(h);
        int c = head.clusters();
        int d = index.headDim();
        double[] score = new double[c];
        for (int j = 0; j < c; j++) {
            float s = 0f; // a plain sum in index order: every caller ranks alike
            for (int e = 0; e < d; e++) {
                s += q[off + e] * head.centroids()[j * d + e];
            }
            score[j] = s;
        }
        int budget = budget();
        // rank order: TopK's rule (highest first, NaN as +infinity, ties to the lower index)
        Integer[] order = new Integer[c];
        for (int j = 0; j < c; j++) {
            order[j] = j;
        }
        java.util.Arrays.sort(order, (a, b) -> {
            double x = score[a] != score[a] ? Double.POSITIVE_INFINITY : score[a] + 0.0;
            double y = score[b] != score[b] ? Double.POSITIVE_INFINITY : score[b] + 0.0;
            int cmp = Double.compare(y, x);
            return cmp != 0 ? cmp : Integer.compare(a, b);
        });
        boolean[] take = new boolean[c];
        int kept = 0;
        int taken = 0;
        for (int i = 0; i < c && kept < budget; i++) {
            int j = order[i];
            int size = head.start()[j + 1] - head.start()[j];
            if (size == 0) {
                continue;
            }
            take[j] = true;
            kept += size;
            taken++;
        }
        int[] out = new int[taken];
        for (int j = 0, i = 0; j < c; j++) {
            if (take[j]) {
                out[i++] = j;
            }
        }
        return out;
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        if (observer != null) {
            throw new IllegalArgumentException("squeezed attention: reports no probabilities to an observer");
        }
        if (p.kvHeads() != index.kvHeads() || p.headDim() != index.headDim()) {
            throw new IllegalArgumentException("squeezed attention: the index has " + index.kvHeads() + " KV heads of "
                    + index.headDim() + ", the problem " + p.kvHeads() + " of " + p.headDim());
        }
        NewKeys[] fresh = new NewKeys[p.kvHeads()];
        for (int h = 0; h < fresh.length; h++) {
            fresh[h] = NewKeys.after(p.kv()[h], index, ops.kernels(), h);
        }
        int rows = p.queryRows();
        int g = p.groupSize();
        int tasks = rows * p.kvHeads();
        ops.pool().parallelFor(tasks, t -> {
            int h = t % p.kvHeads();
            int r = t / p.kvHeads();
            for (int j = 0; j < g; j++) {
                attendOne(p, h, h * g + j, r, fresh[h], out, lse);
            }
        });
    }

    /** Exact attention of one (row, query head) over its chosen clusters and the new keys. */
    private void attendOne(AttentionProblem p, int h, int qh, int r, NewKeys fresh, float[] out, float[] lse) {
        VectorKernels k = ops.kernels();
        SqueezedIndex.Head head = index.head(h);
        int d = p.headDim();
        float[] q = p.queries();
        int qi = p.queryIndex(r, qh);
        long qPos = p.queryPositions()[r];
        int[] chosen = chooseClusters(h, q, qi);
        int total = fresh.count;
        for (int c : chosen) {
            total += head.start()[c + 1] - head.start()[c];
        }
        float[] s = new float[total];
        float[] vals = new float[total * d];
        float scale = p.scale();
        float cap = p.softCap();
        int n = 0;
        for (int c : chosen) {
            for (int i = head.start()[c]; i < head.start()[c + 1]; i++) {
                s[n] = p.mask().allows(qPos, head.positions()[i])
                        ? logit(k.dot(q, qi, head.keys(), i * d, d), scale, cap) : Float.NEGATIVE_INFINITY;
                System.arraycopy(head.values(), i * d, vals, n * d, d);
                n++;
            }
        }
        for (int i = 0; i < fresh.count; i++) {
            s[n] = p.mask().allows(qPos, fresh.pos[i])
                    ? logit(k.dot(q, qi, fresh.k, i * d, d), scale, cap) : Float.NEGATIVE_INFINITY;
            System.arraycopy(fresh.v, i * d, vals, n * d, d);
            n++;
        }
        int o = (r * p.queryHeads() + qh) * d;
        java.util.Arrays.fill(out, o, o + d, 0f);
        float m = n == 0 ? Float.NEGATIVE_INFINITY : k.max(s, 0, n);
        if (m == Float.NEGATIVE_INFINITY || m != m) {
            if (m != m) {
                java.util.Arrays.fill(out, o, o + d, Float.NaN);
            }
            if (lse != null) {
                lse[r * p.queryHeads() + qh] = m;
            }
            return;
        }
        float sum = k.expShiftSum(s, 0, n, m);
        for (int i = 0; i < n; i++) {
            if (s[i] != 0f) {
                k.axpy(s[i] / sum, vals, i * d, out, o, d);
            }
        }
        if (lse != null) {
            lse[r * p.queryHeads() + qh] = m + (float) Math.log(sum);
        }
    }

    private static float logit(float dot, float scale, float cap) {
        float x = dot * scale;
        return cap > 0 ? cap * (float) Math.tanh(x / cap) : x;
    }

    /** The view's valid keys after the fixed context, as dense F32 rows. */
    private record NewKeys(int count, float[] k, float[] v, long[] pos) {
        static NewKeys after(KvView view, SqueezedIndex index, VectorKernels kernels, int h) {
            int d = view.headDim();
            int fixed = 0;
            int n = 0;
            long lastFixed = Long.MIN_VALUE;
            for (int p = 0; p < view.pageCount(); p++) {
                for (int s = 0; s < view.pageLength(p); s++) {
                    if (!view.isValid(p, s)) {
                        continue;
                    }
                    if (fixed < index.tokens()) {
                        fixed++;
                        lastFixed = view.position(p, s);
                    } else {
                        n++;
                    }
                }
            }
            if (fixed < index.tokens() || lastFixed != index.lastPosition()) {
                throw new IllegalArgumentException("squeezed attention: KV head " + h + " view does not begin with the"
                        + " indexed context (" + index.tokens() + " keys up to position " + index.lastPosition()
                        + "; the view's first " + fixed + " keys end at " + lastFixed + ")");
            }
            float[] k = new float[n * d];
            float[] v = new float[n * d];
            long[] pos = new long[n];
            float[] buf = new float[d];
            int seen = 0;
            int i = 0;
            for (int p = 0; p < view.pageCount(); p++) {
                for (int s = 0; s < view.pageLength(p); s++) {
                    if (!view.isValid(p, s) || seen++ < index.tokens()) {
                        continue;
                    }
                    kernels.dequantize(view.dtype(), view.keys(p), s * view.rowBytes(), buf, 0, d);
                    System.arraycopy(buf, 0, k, i * d, d);
                    kernels.dequantize(view.dtype(), view.values(p), s * view.rowBytes(), buf, 0, d);
                    System.arraycopy(buf, 0, v, i * d, d);
                    pos[i++] = view.position(p, s);
                }
            }
            return new NewKeys(n, k, v, pos);
        }
    }
}
