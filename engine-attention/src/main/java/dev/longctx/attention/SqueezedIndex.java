package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.VectorKernels;
import java.util.Arrays;
import java.util.Objects;
import java.util.SplittableRandom;

/**
 * The offline half of Squeezed Attention (Hooper et al., 2024, "Squeezed Attention: Accelerating
 * Long Context Length LLM Inference", the offline clustering): the keys of a fixed context (a cached document,
 * a system prompt) clustered per KV head by k-means, each cluster represented by its centroid.
 * {@link SqueezedAttention} compares new queries with the centroids and attends only the keys of
 * the clusters they pick.
 *
 * <p><b>Clustering.</b> Lloyd's k-means with Euclidean distance on the raw keys, initial centroids
 * {@code clusters} distinct keys drawn with the seed, {@code iterations} rounds of (assign every key
 * to its nearest centroid, ties to the lower index; move each centroid to its members' mean; a
 * cluster left empty keeps its centroid), then a final assignment. The paper clusters the keys of
 * the fixed context offline with k-means; its hierarchical (two-level) variant is not built here.
 *
 * <p><b>Layout.</b> Per KV head the keys and values are copied as F32 rows sorted by cluster (in
 * view order inside a cluster), so a chosen cluster is one contiguous range, with their positions
 * and {@code start[c]} offsets. Memory: the fixed context once more in F32 plus the centroids.
 * Building costs O(iterations x n x clusters x D) per KV head, once per fixed context.
 *
 * <p>Immutable after {@link #build}; thread-safe.
 */
public final class SqueezedIndex {
    /** Lloyd rounds by default: enough for the assignment to settle on real keys (our choice, not the paper's). */
    public static final int DEFAULT_ITERATIONS = 10;

    private final int headDim;
    private final int tokens;
    private final long firstPosition;
    private final long lastPosition;
    private final Head[] heads;

    /** One KV head's clustering. */
    record Head(float[] centroids, int[] start, float[] keys, float[] values, long[] positions, int[] assignment) {
        int clusters() {
            return start.length - 1;
        }
    }

    private SqueezedIndex(int headDim, int tokens, long firstPosition, long lastPosition, Head[] heads) {
        this.headDim = headDim;
        this.tokens = tokens;
        this.firstPosition = firstPosition;
        this.lastPosition = lastPosition;
        this.heads = heads;
    }

    /**
     * Clusters the valid keys of every view (the fixed context; all views must hold the same
     * positions, increasing).
     *
     * @param fixed one view per KV head
     * @param clusters centroids per KV head ({@code >= 1}; at most the key count)
     * @param iterations Lloyd rounds ({@code >= 0})
     * @param seed of the initial centroids
     * @throws IllegalArgumentException on an empty context, too many clusters or mismatched heads
     */
    public static SqueezedIndex build(KvView[] fixed, int clusters, int iterations, long seed, TensorOps ops) {
        Objects.requireNonNull(fixed, "fixed");
        Objects.requireNonNull(ops, "ops");
        if (fixed.length == 0) {
            throw new IllegalArgumentException("squeezed index: no KV views");
        }
        if (clusters < 1 || iterations < 0) {
            throw new IllegalArgumentException("squeezed index: need clusters >= 1 and iterations >= 0, got clusters="
                    + clusters + " iterations=" + iterations);
        }
        int d = fixed[0].headDim();
        Head[] heads = new Head[fixed.length];
        long[][] positions = new long[fixed.length][];
        float[][] keys = new float[fixed.length][];
        float[][] values = new float[fixed.length][];
        for (int h = 0; h < fixed.length; h++) {
            if (fixed[h].headDim() != d) {
                throw new IllegalArgumentException("squeezed index: view " + h + " has head dim " + fixed[h].headDim()
                        + ", view 0 has " + d);
            }
            Object[] g = gather(fixed[h], ops.kernels());
            keys[h] = (float[]) g[0];
            values[h] = (float[]) g[1];
            positions[h] = (long[]) g[2];
            if (h > 0 && !Arrays.equals(positions[h], positions[0])) {
                throw new IllegalArgumentException("squeezed index: view " + h + " holds other positions than view 0");
            }
        }
        int n = positions[0].length;
        if (n == 0) {
            throw new IllegalArgumentException("squeezed index: the fixed context holds no valid key");
        }
        if (clusters > n) {
            throw new IllegalArgumentException("squeezed index: " + clusters + " clusters for " + n + " keys");
        }
        for (int i = 1; i < n; i++) {
            if (positions[0][i] <= positions[0][i - 1]) {
                throw new IllegalArgumentException("squeezed index: positions must increase, " + positions[0][i]
                        + " follows " + positions[0][i - 1]);
            }
        }
        ops.pool().parallelFor(fixed.length, h -> heads[h] = cluster(keys[h], values[h], positions[h], d, clusters,
                iterations, seed + h, ops.kernels()));
        return new SqueezedIndex(d, n, positions[0][0], positions[0][n - 1], heads);
    }

    /** Valid keys, values and positions of a view in view order. */
    private static Object[] gather(KvView view, VectorKernels k) {
        int d = view.headDim();
        int n = 0;
        for (int p = 0; p < view.pageCount(); p++) {
            for (int s = 0; s < view.pageLength(p); s++) {
                n += view.isValid(p, s) ? 1 : 0;
            }
        }
        float[] keys = new float[n * d];
        float[] values = new float[n * d];
        long[] pos = new long[n];
        float[] kb = new float[view.pageSize() * d];
        float[] vb = new float[view.pageSize() * d];
        int i = 0;
        for (int p = 0; p < view.pageCount(); p++) {
            int len = view.pageLength(p);
            if (len == 0) {
                continue;
            }
            k.dequantize(view.dtype(), view.keys(p), 0, kb, 0, len * d);
            k.dequantize(view.dtype(), view.values(p), 0, vb, 0, len * d);
            for (int s = 0; s < len; s++) {
                if (view.isValid(p, s)) {
                    System.arraycopy(kb, s * d, keys, i * d, d);
                    System.arraycopy(vb, s * d, values, i * d, d);
                    pos[i++] = view.position(p, s);
                }
            }
        }
        return new Object[] {keys, values, pos};
    }

    private static Head cluster(float[] keys, float[] values, long[] pos, int d, int c, int iterations, long seed,
                                VectorKernels k) {
        int n = pos.length;
        float[] cent = new float[c * d];
        // c distinct keys as the initial centroids: a partial Fisher-Yates shuffle of the indices
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) {
            idx[i] = i;
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int i = 0; i < c; i++) {
            int j = rnd.nextInt(i, n);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
            System.arraycopy(keys, idx[i] * d, cent, i * d, d);
        }
        int[] assign = new int[n];
        float[] sum = new float[c * d];
        int[] count = new int[c];
        for (int it = 0; it <= iterations; it++) {
            assign(keys, n, cent, c, d, k, assign);
            if (it == iterations) {
                break;
            }
            Arrays.fill(sum, 0f);
            Arrays.fill(count, 0);
            for (int i = 0; i < n; i++) {
                k.axpy(1f, keys, i * d, sum, assign[i] * d, d);
                count[assign[i]]++;
            }
            for (int j = 0; j < c; j++) {
                if (count[j] > 0) {
                    for (int e = 0; e < d; e++) {
                        cent[j * d + e] = sum[j * d + e] / count[j];
                    }
                }
            }
        }
        int[] start = new int[c + 1];
        for (int i = 0; i < n; i++) {
            start[assign[i] + 1]++;
        }
        for (int j = 0; j < c; j++) {
            start[j + 1] += start[j];
        }
        int[] fill = Arrays.copyOf(start, c);
        float[] sk = new float[n * d];
        float[] sv = new float[n * d];
        long[] sp = new long[n];
        for (int i = 0; i < n; i++) {
            int at = fill[assign[i]]++;
            System.arraycopy(keys, i * d, sk, at * d, d);
            System.arraycopy(values, i * d, sv, at * d, d);
            sp[at] = pos[i];
        }
        return new Head(cent, start, sk, sv, sp, assign);
    }

    /** Nearest centroid of every key by squared distance {@code |c|^2 - 2 k.c} (ties to the lower index). */
    private static void assign(float[] keys, int n, float[] cent, int c, int d, VectorKernels k, int[] out) {
        float[] norm = new float[c];
        for (int j = 0; j < c; j++) {
            norm[j] = k.sumOfSquares(cent, j * d, d);
        }
        for (int i = 0; i < n; i++) {
            int best = 0;
            float bestD = Float.POSITIVE_INFINITY;
            for (int j = 0; j < c; j++) {
                float dist = norm[j] - 2 * k.dot(keys, i * d, cent, j * d, d);
                if (dist < bestD) {
                    bestD = dist;
                    best = j;
                }
            }
            out[i] = best;
        }
    }

    /** Elements per head. */
    public int headDim() {
        return headDim;
    }

    /** Keys of the fixed context per KV head. */
    public int tokens() {
        return tokens;
    }

    /** The fixed context's first position. */
    public long firstPosition() {
        return firstPosition;
    }

    /** The fixed context's last position; new queries and keys come after it. */
    public long lastPosition() {
        return lastPosition;
    }

    /** Number of KV heads. */
    public int kvHeads() {
        return heads.length;
    }

    /** Clusters of KV head {@code h}. */
    public int clusters(int h) {
        return heads[h].clusters();
    }

    /** Cluster of each fixed key of KV head {@code h}, in view order (a copy). */
    public int[] assignment(int h) {
        return heads[h].assignment().clone();
    }

    /** Centroids of KV head {@code h}, {@code [clusters][D]} (a copy). */
    public float[] centroids(int h) {
        return heads[h].centroids().clone();
    }

    Head head(int h) {
        return heads[h];
    }
}
