package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import dev.longctx.core.select.TopK;
import dev.longctx.core.tensor.DType;
import java.lang.foreign.MemorySegment;
import java.util.Objects;

/**
 * The online half of Squeezed Attention (Hooper et al., 2024, "Squeezed Attention: Accelerating
 * Long Context Length LLM Inference", the online lookup): new queries against a fixed context clustered
 * offline ({@link SqueezedIndex}). Each query head of each query row ranks the centroids of its KV
 * head by {@code q . centroid} (the f32 dot product of the kernels this instance runs on) and takes clusters from the top until their keys reach the budget
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
 * work runs as one tile per (KV head, cluster), the queries that chose it against its keys (two
 * matrix products), plus the new keys through {@link TiledAttention}; each query's partial states
 * are merged ({@link PartialState}) in a fixed order (new keys, then its clusters in increasing
 * order), so the result does not depend on the thread count beyond the kernels' rounding. A
 * decode step (one query row) instead takes, per query head, one softmax over its clusters' keys
 * (in increasing cluster order) and the new keys, read in place. The
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
    /** Fixed keys a query attends before its last cluster: from {@code keepFraction}, or given. */
    private final int budget;
    private final TiledAttention tiled;

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
        this.budget = (int) Math.min(index.tokens(), Math.ceil(keepFraction * index.tokens()));
        this.tiled = new TiledAttention(ops);
    }

    /**
     * The same rule with the budget given as a number of fixed keys instead of a fraction (a
     * strategy's "keys per query head", free of the rounding of {@code keys / tokens x tokens}).
     *
     * @param keptKeys fixed keys each query attends before its last cluster, {@code >= 1} (at most
     *     the fixed context's: more keep every cluster)
     */
    public SqueezedAttention(TensorOps ops, SqueezedIndex index, int keptKeys) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.index = Objects.requireNonNull(index, "index");
        if (keptKeys < 1) {
            throw new IllegalArgumentException("squeezed attention: keptKeys must be >= 1, got " + keptKeys);
        }
        this.budget = Math.min(index.tokens(), keptKeys);
        this.keepFraction = budget / (double) index.tokens();
        this.tiled = new TiledAttention(ops);
    }

    @Override
    public String name() {
        return String.format("squeezed(keep=%.3f)", keepFraction);
    }

    /**
     * Fixed keys a query attends at most before the last cluster: {@code ceil(keepFraction x tokens)},
     * or the kept keys given (at most the fixed context's).
     */
    public int budget() {
        return budget;
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
        VectorKernels k = ops.kernels();
        for (int j = 0; j < c; j++) {
            score[j] = k.dot(q, off, head.centroids(), j * d, d); // the rule ranks by the kernels' dot product
        }
        int budget = budget();
        // rank order: TopK's rule (highest first, NaN as +infinity, ties to the lower index), as one
        // primitive sort of (descending score key, index) pairs
        long[] order = new long[c];
        for (int j = 0; j < c; j++) {
            order[j] = ((long) descendingKey(score[j]) << 32) | j;
        }
        java.util.Arrays.sort(order);
        boolean[] take = new boolean[c];
        int kept = 0;
        int taken = 0;
        for (int i = 0; i < c && kept < budget; i++) {
            int j = (int) order[i];
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

    /**
     * An int that sorts ascending as the score sorts descending: NaN first (as +infinity), -0 as +0.
     */
    static int descendingKey(double score) {
        float f = score != score ? Float.POSITIVE_INFINITY : (float) score + 0f;
        int bits = Float.floatToIntBits(f);
        int ascending = bits >= 0 ? bits ^ Integer.MIN_VALUE : ~bits; // unsigned order of floats
        return ~ascending ^ Integer.MIN_VALUE; // reversed, back to signed order
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
        int rows = p.queryRows();
        int hq = p.queryHeads();
        int d = p.headDim();
        int g = p.groupSize();
        int kvHeads = p.kvHeads();
        NewKeys[] fresh = new NewKeys[kvHeads];
        for (int h = 0; h < kvHeads; h++) {
            fresh[h] = NewKeys.after(p.kv()[h], index, ops.kernels(), h);
        }
        if (rows == 0) {
            return;
        }
        // 1. every (row, query head) picks its clusters; id = row * Hq + query head
        int[][] chosen = new int[rows * hq][];
        ops.pool().parallelFor(rows * kvHeads, t -> {
            int h = t % kvHeads;
            int r = t / kvHeads;
            for (int j = 0; j < g; j++) {
                int qh = h * g + j;
                chosen[r * hq + qh] = chooseClusters(h, p.queries(), p.queryIndex(r, qh));
            }
        });
        if (rows == 1) {
            decodeStep(p, chosen, fresh, out, lse);
            return;
        }
        // 2. per (KV head, cluster) the ids that chose it, increasing, and each choice's slot there
        int[] clusterBase = new int[kvHeads + 1];
        for (int h = 0; h < kvHeads; h++) {
            clusterBase[h + 1] = clusterBase[h] + index.clusters(h);
        }
        int[] count = new int[clusterBase[kvHeads]];
        for (int id = 0; id < chosen.length; id++) {
            int h = (id % hq) / g;
            for (int c : chosen[id]) {
                count[clusterBase[h] + c]++;
            }
        }
        int[][] members = new int[count.length][];
        for (int i = 0; i < count.length; i++) {
            members[i] = new int[count[i]];
        }
        int[][] slot = new int[chosen.length][];
        java.util.Arrays.fill(count, 0);
        for (int id = 0; id < chosen.length; id++) {
            int h = (id % hq) / g;
            slot[id] = new int[chosen[id].length];
            for (int i = 0; i < chosen[id].length; i++) {
                int cc = clusterBase[h] + chosen[id][i];
                slot[id][i] = count[cc];
                members[cc][count[cc]++] = id;
            }
        }
        // 3. one tile per (KV head, cluster): its choosers against its keys, a partial state each
        float[][] partOut = new float[members.length][];
        float[][] partLse = new float[members.length][];
        ops.pool().parallelFor(members.length, cc -> {
            int h = java.util.Arrays.binarySearch(clusterBase, cc);
            h = h >= 0 ? h : -h - 2; // clusterBase strictly increases: every head has a cluster
            int c = cc - clusterBase[h];
            if (members[cc].length > 0) {
                clusterTile(p, index.head(h), c, members[cc], partOut, partLse, cc);
            }
        });
        // 4. the new keys, exactly, with the tiled kernel
        float[] newOut = null;
        float[] newLse = null;
        if (fresh[0].count > 0) {
            KvView[] views = new KvView[kvHeads];
            for (int h = 0; h < kvHeads; h++) {
                views[h] = DenseKvView.of(fresh[h].k, fresh[h].v, fresh[h].pos, d, DType.F32,
                        p.kv()[h].pageSize());
            }
            AttentionProblem sub = new AttentionProblem(p.queries(), p.queryOffset(), rows, hq, views, p.queryPositions(),
                    p.scale(), p.softCap(), p.mask());
            newOut = new float[sub.outputLength()];
            newLse = new float[rows * hq];
            tiled.attend(sub, newOut, newLse, null);
        }
        // 5. merge per (row, query head): new keys first, then its clusters in increasing order
        float[] no = newOut;
        float[] nl = newLse;
        ops.pool().parallelFor(rows, r -> {
            for (int qh = 0; qh < hq; qh++) {
                int id = r * hq + qh;
                int h = qh / g;
                float l;
                if (no != null) {
                    System.arraycopy(no, id * d, out, id * d, d);
                    l = nl[id];
                } else {
                    java.util.Arrays.fill(out, id * d, id * d + d, 0f);
                    l = Float.NEGATIVE_INFINITY;
                }
                for (int i = 0; i < chosen[id].length; i++) {
                    int cc = clusterBase[h] + chosen[id][i];
                    l = PartialState.merge(out, id * d, l, partOut[cc], slot[id][i] * d, partLse[cc][slot[id][i]], d);
                }
                if (lse != null) {
                    lse[id] = l;
                }
            }
        });
    }

    /**
     * A decode step (one query row): per query head, one softmax over the keys of all its chosen
     * clusters (read in place from the index's cluster-sorted rows, in increasing cluster order)
     * and the new keys (the dense rows {@link NewKeys} gathered). The per-cluster tiles of
     * {@link #attend} share a cluster's keys among the queries that chose it, which one row cannot
     * use, and their set-up per cluster (copies, a transposed V) and the new keys' paged view cost
     * more than the work: at depth 16K a decode step through them ran at about a third of the full
     * cache's speed, and a JFR profile of the next version had most of the step in building that
     * view's key bounds (run S13-T in strategies.md).
     */
    private void decodeStep(AttentionProblem p, int[][] chosen, NewKeys[] fresh, float[] out, float[] lse) {
        int hq = p.queryHeads();
        int d = p.headDim();
        int g = p.groupSize();
        long qPos = p.queryPositions()[0];
        ops.pool().parallelFor(hq, qh -> {
            VectorKernels k = ops.kernels();
            int h = qh / g;
            SqueezedIndex.Head head = index.head(h);
            NewKeys nk = fresh[h];
            int[] start = head.start();
            int total = nk.count;
            for (int c : chosen[qh]) {
                total += start[c + 1] - start[c];
            }
            float[] s = new float[total];
            int qi = p.queryIndex(0, qh);
            int i = 0;
            // the mask allows every fixed key when it allows the whole range up to the context's last position
            boolean allFixed = p.mask().attendsAll(qPos, qPos, index.firstPosition(), index.lastPosition());
            for (int c : chosen[qh]) {
                for (int e = start[c]; e < start[c + 1]; e++, i++) {
                    s[i] = allFixed || p.mask().allows(qPos, head.positions()[e])
                            ? logit(k.dot(p.queries(), qi, head.keys(), e * d, d), p.scale(), p.softCap())
                            : Float.NEGATIVE_INFINITY;
                }
            }
            for (int e = 0; e < nk.count; e++, i++) {
                s[i] = p.mask().allows(qPos, nk.pos[e]) ? logit(k.dot(p.queries(), qi, nk.k, e * d, d), p.scale(), p.softCap())
                        : Float.NEGATIVE_INFINITY;
            }
            int o = qh * d;
            java.util.Arrays.fill(out, o, o + d, 0f);
            float m = total == 0 ? Float.NEGATIVE_INFINITY : k.max(s, 0, total);
            float l = Float.NEGATIVE_INFINITY;
            if (m != Float.NEGATIVE_INFINITY) {
                float sum = k.expShiftSum(s, 0, total, m);
                float inv = 1f / sum;
                i = 0;
                for (int c : chosen[qh]) {
                    for (int e = start[c]; e < start[c + 1]; e++, i++) {
                        k.axpy(s[i] * inv, head.values(), e * d, out, o, d);
                    }
                }
                for (int e = 0; e < nk.count; e++, i++) {
                    k.axpy(s[i] * inv, nk.v, e * d, out, o, d);
                }
                l = m + (float) Math.log(sum);
            }
            if (lse != null) {
                lse[qh] = l;
            }
        });
    }

    /** Exact attention of a cluster's choosers over its keys: scores and P.V as two matrix products. */
    private void clusterTile(AttentionProblem p, SqueezedIndex.Head head, int c, int[] ids, float[][] partOut,
                             float[][] partLse, int cc) {
        VectorKernels k = ops.kernels();
        int d = p.headDim();
        int hq = p.queryHeads();
        int from = head.start()[c];
        int size = head.start()[c + 1] - from;
        int nq = ids.length;
        float[] q = new float[nq * d];
        for (int i = 0; i < nq; i++) {
            System.arraycopy(p.queries(), p.queryIndex(ids[i] / hq, ids[i] % hq), q, i * d, d);
        }
        float[] s = new float[nq * size];
        MemorySegment keys = MemorySegment.ofArray(head.keys()).asSlice((long) from * d * Float.BYTES,
                (long) size * d * Float.BYTES);
        k.matmulRows(DType.F32, keys, (long) d * Float.BYTES, d, 0, size, q, nq, s, size);
        float scale = p.scale();
        float cap = p.softCap();
        float[] l = new float[nq];
        for (int i = 0; i < nq; i++) {
            long qPos = p.queryPositions()[ids[i] / hq];
            int off = i * size;
            for (int e = 0; e < size; e++) {
                s[off + e] = p.mask().allows(qPos, head.positions()[from + e]) ? logit(s[off + e], scale, cap)
                        : Float.NEGATIVE_INFINITY;
            }
            float m = k.max(s, off, size);
            if (m == Float.NEGATIVE_INFINITY) {
                java.util.Arrays.fill(s, off, off + size, 0f);
                l[i] = m;
                continue;
            }
            float sum = k.expShiftSum(s, off, size, m);
            k.scale(s, off, size, 1f / sum);
            l[i] = m + (float) Math.log(sum);
        }
        float[] vt = new float[d * size];
        for (int e = 0; e < size; e++) {
            for (int x = 0; x < d; x++) {
                vt[x * size + e] = head.values()[(from + e) * d + x];
            }
        }
        float[] o = new float[nq * d];
        k.matmulRows(DType.F32, MemorySegment.ofArray(vt), (long) size * Float.BYTES, size, 0, d, s, nq, o, d);
        partOut[cc] = o;
        partLse[cc] = l;
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
            // the page and slot where the new keys begin (the fixed context's pages are skipped whole when every slot is valid)
            int fromPage = view.pageCount();
            int fromSlot = 0;
            for (int p = 0; p < view.pageCount(); p++) {
                int len = view.pageLength(p);
                if (len > 0 && fixed + len <= index.tokens() && view.allValid(p)) {
                    fixed += len;
                    lastFixed = view.position(p, len - 1);
                    continue;
                }
                for (int s = 0; s < len; s++) {
                    if (!view.isValid(p, s)) {
                        continue;
                    }
                    if (fixed < index.tokens()) {
                        fixed++;
                        lastFixed = view.position(p, s);
                    } else {
                        if (n == 0) {
                            fromPage = p;
                            fromSlot = s;
                        }
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
            int i = 0;
            for (int p = fromPage; p < view.pageCount() && i < n; p++) {
                int s0 = p == fromPage ? fromSlot : 0;
                int len = view.pageLength(p);
                if (view.allValid(p)) {
                    // a run of whole rows: one dequantize call each for keys and values (a call per row cost more than the rows)
                    kernels.dequantize(view.dtype(), view.keys(p), s0 * view.rowBytes(), k, i * d, (len - s0) * d);
                    kernels.dequantize(view.dtype(), view.values(p), s0 * view.rowBytes(), v, i * d, (len - s0) * d);
                    for (int s = s0; s < len; s++) {
                        pos[i++] = view.position(p, s);
                    }
                    continue;
                }
                for (int s = s0; s < len; s++) {
                    if (!view.isValid(p, s)) {
                        continue;
                    }
                    kernels.dequantize(view.dtype(), view.keys(p), s * view.rowBytes(), k, i * d, d);
                    kernels.dequantize(view.dtype(), view.values(p), s * view.rowBytes(), v, i * d, d);
                    pos[i++] = view.position(p, s);
                }
            }
            return new NewKeys(n, k, v, pos);
        }
    }
}
