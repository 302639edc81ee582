package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.Quantization;
import dev.longctx.core.kernels.spi.VectorKernels;
import java.util.Arrays;
import java.util.Objects;

/**
 * ThinK's key-channel selection rule (Xu et al., 2024, "ThinK: Thinner Key Cache by Query-Driven
 * Pruning", section 3): for one KV head, the importance of key channel {@code c} is
 * {@code score(c) = || Q_obs[:, c] K[:, c]^T ||_F}, where {@code Q_obs} stacks the observation
 * window's query rows of every query head of the KV head's group and {@code K} the head's valid
 * cached keys; the {@code T = D - floor(lambda * D)} channels of highest score are kept (ties go
 * to the lower channel index).
 *
 * <p>{@link #scores} is the fast path: the Frobenius norm of an outer product factors into
 * {@code ||Q_obs[:, c]||_2 * ||K[:, c]||_2}, so one pass over the queries and one over the keys
 * give every channel's score in O((rows * g + n) * D). {@link #referenceScores} is the naive
 * definition (it forms every product {@code q_ic * k_jc}, O(rows * g * n * D)); tests compare the
 * two. Query layout as in {@link AttentionProblem}: {@code [rows][queryHeads][D]} from offset 0.
 *
 * <p>Threading: stateless; every method may be called from any thread.
 */
public final class KeyChannelPruning {
    private KeyChannelPruning() {
    }

    /**
     * Channels kept of {@code headDim} at pruning ratio {@code ratio}: {@code D - floor(ratio * D)},
     * at least 1.
     *
     * @throws IllegalArgumentException for a ratio outside [0, 1) or a non-positive head dim
     */
    public static int keptChannels(int headDim, double ratio) {
        if (!(ratio >= 0 && ratio < 1)) {
            throw new IllegalArgumentException("ThinK pruning ratio must be in [0, 1), got " + ratio);
        }
        if (headDim <= 0) {
            throw new IllegalArgumentException("head dim must be positive, got " + headDim);
        }
        // 1e-9 absorbs rounding in ratio * D (0.4 * 80 is 32.00000000000001, not 32)
        return Math.max(1, headDim - (int) Math.floor(ratio * headDim + 1e-9));
    }

    /**
     * Fast path: every channel's ThinK score for KV head {@code kvHead}.
     *
     * @param ops whose kernels dequantize the pages
     * @param queries observation queries {@code [rows][queryHeads][D]}
     * @param rows observation rows
     * @param queryHeads query heads (a multiple of {@code kvHeads})
     * @param kvHeads KV heads of the layer
     * @param kvHead the KV head scored
     * @param keys the KV head's cached keys (invalid slots are skipped)
     */
    public static double[] scores(TensorOps ops, float[] queries, int rows, int queryHeads, int kvHeads, int kvHead, KvView keys) {
        VectorKernels k = ops.kernels();
        int d = keys.headDim();
        check(queries, rows, queryHeads, kvHeads, kvHead, d);
        int g = queryHeads / kvHeads;
        double[] qNorm = new double[d];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < g; j++) {
                int base = (i * queryHeads + kvHead * g + j) * d;
                for (int c = 0; c < d; c++) {
                    double q = queries[base + c];
                    qNorm[c] += q * q;
                }
            }
        }
        double[] kNorm = new double[d];
        int ps = keys.pageSize();
        float[] buf = new float[ps * d];
        for (int p = 0; p < keys.pageCount(); p++) {
            int n = keys.pageLength(p);
            if (n == 0) {
                continue;
            }
            k.dequantize(keys.dtype(), keys.keys(p), 0, buf, 0, n * d);
            boolean all = keys.allValid(p);
            for (int s = 0; s < n; s++) {
                if (!all && !keys.isValid(p, s)) {
                    continue;
                }
                for (int c = 0; c < d; c++) {
                    double v = buf[s * d + c];
                    kNorm[c] += v * v;
                }
            }
        }
        double[] out = new double[d];
        for (int c = 0; c < d; c++) {
            out[c] = Math.sqrt(qNorm[c]) * Math.sqrt(kNorm[c]);
        }
        return out;
    }

    /**
     * The naive reference of {@link #scores}: per channel, the Frobenius norm of the matrix
     * {@code Q_obs[:, c] K[:, c]^T}, every entry formed. Slow; for tests.
     */
    public static double[] referenceScores(float[] queries, int rows, int queryHeads, int kvHeads, int kvHead, KvView keys) {
        int d = keys.headDim();
        check(queries, rows, queryHeads, kvHeads, kvHead, d);
        int g = queryHeads / kvHeads;
        double[] out = new double[d];
        float[] krow = new float[d];
        double[] sq = new double[d];
        for (int p = 0; p < keys.pageCount(); p++) {
            for (int s = 0; s < keys.pageLength(p); s++) {
                if (!keys.isValid(p, s)) {
                    continue;
                }
                Quantization.dequantize(keys.dtype(), keys.keys(p), s * keys.rowBytes(), krow, 0, d);
                for (int i = 0; i < rows; i++) {
                    for (int j = 0; j < g; j++) {
                        int base = (i * queryHeads + kvHead * g + j) * d;
                        for (int c = 0; c < d; c++) {
                            double e = (double) queries[base + c] * krow[c];
                            sq[c] += e * e;
                        }
                    }
                }
            }
        }
        for (int c = 0; c < d; c++) {
            out[c] = Math.sqrt(sq[c]);
        }
        return out;
    }

    /**
     * The {@code kept} channels of highest score (ties: the lower index first) as a mask.
     *
     * @throws IllegalArgumentException when {@code kept} is not in [1, scores.length]
     */
    public static boolean[] keep(double[] scores, int kept) {
        Objects.requireNonNull(scores, "scores");
        if (kept < 1 || kept > scores.length) {
            throw new IllegalArgumentException("ThinK keeps 1.." + scores.length + " channels, asked for " + kept);
        }
        Integer[] order = new Integer[scores.length];
        for (int c = 0; c < order.length; c++) {
            order[c] = c;
        }
        Arrays.sort(order, (a, b) -> {
            int byScore = Double.compare(scores[b], scores[a]);
            return byScore != 0 ? byScore : Integer.compare(a, b);
        });
        boolean[] mask = new boolean[scores.length];
        for (int i = 0; i < kept; i++) {
            mask[order[i]] = true;
        }
        return mask;
    }

    private static void check(float[] queries, int rows, int queryHeads, int kvHeads, int kvHead, int d) {
        Objects.requireNonNull(queries, "queries");
        if (rows < 0 || kvHeads <= 0 || queryHeads <= 0 || queryHeads % kvHeads != 0 || kvHead < 0 || kvHead >= kvHeads) {
            throw new IllegalArgumentException("ThinK scores: rows " + rows + ", " + queryHeads + " query heads, " + kvHeads
                    + " KV heads, KV head " + kvHead + " (rows >= 0, query heads a multiple of KV heads, head in range)");
        }
        if ((long) rows * queryHeads * d > queries.length) {
            throw new IllegalArgumentException("ThinK scores: queries need [rows=" + rows + "][Hq=" + queryHeads + "][D=" + d
                    + "] floats, the array has " + queries.length);
        }
    }
}
