package dev.longctx.attention;

import dev.longctx.core.tensor.DType;
import java.util.Arrays;
import java.util.Objects;

/**
 * One attention call: a block of query rows against the KV views of every KV head of a layer.
 *
 * <p>Queries are {@code [queryRows][queryHeads][headDim]} floats starting at {@code queryOffset}
 * of {@code queries} (token-major, as the projections produce them). Query head {@code h} reads
 * KV head {@code h / groupSize()} (grouped-query attention; {@code queryHeads = g * kvHeads}).
 * Query row {@code i} sits at position {@code queryPositions[i]}; by default the rows are the last
 * {@code queryRows} positions of the view ("bottom-right aligned").
 *
 * <p>Logits are {@code scale * q.k}; with {@code softCap > 0} they become
 * {@code softCap * tanh(logit / softCap)} (Gemma 2) before the mask.
 *
 * @param queries query rows
 * @param queryOffset where row 0 starts in {@code queries}
 * @param queryRows Lq
 * @param queryHeads Hq
 * @param kv one view per KV head, all with the same head dim, dtype and page size
 * @param queryPositions position of each query row (length Lq)
 * @param scale logit scale, usually 1/sqrt(headDim)
 * @param softCap 0 for none
 * @param mask which keys each query may attend
 */
public record AttentionProblem(float[] queries, int queryOffset, int queryRows, int queryHeads, KvView[] kv,
                               long[] queryPositions, float scale, float softCap, AttentionMask mask) {

    /** Validates shapes, naming the argument and the expected shape. */
    public AttentionProblem {
        Objects.requireNonNull(queries, "queries");
        Objects.requireNonNull(kv, "kv");
        Objects.requireNonNull(queryPositions, "queryPositions");
        Objects.requireNonNull(mask, "mask");
        if (kv.length == 0) {
            throw new IllegalArgumentException("attention: no KV views (expected one per KV head)");
        }
        for (int i = 0; i < kv.length; i++) {
            if (kv[i] == null) { // not requireNonNull(x, "kv[" + i + "]"): that message was built on every call
                throw new NullPointerException("kv[" + i + "]");
            }
        }
        int d = kv[0].headDim();
        DType t = kv[0].dtype();
        for (int i = 1; i < kv.length; i++) {
            if (kv[i].headDim() != d || kv[i].dtype() != t || kv[i].pageSize() != kv[0].pageSize()) {
                throw new IllegalArgumentException("attention: kv[" + i + "] has head dim " + kv[i].headDim() + ", "
                        + kv[i].dtype() + ", page size " + kv[i].pageSize() + "; kv[0] has " + d + ", " + t + ", "
                        + kv[0].pageSize());
            }
        }
        if (t != DType.F32 && t != DType.F16 && t != DType.BF16 && t != DType.Q8_0) {
            throw new IllegalArgumentException("attention: page dtype " + t + " is not supported (F32, F16, BF16, Q8_0)");
        }
        if (d <= 0 || d % t.blockSize() != 0) {
            throw new IllegalArgumentException("attention: head dim " + d + " must be positive and a multiple of "
                    + t.blockSize() + " for " + t + " pages");
        }
        if (queryRows < 0) {
            throw new IllegalArgumentException("attention: negative query row count " + queryRows);
        }
        if (queryHeads <= 0 || queryHeads % kv.length != 0) {
            throw new IllegalArgumentException("attention: " + queryHeads + " query heads is not a positive multiple of "
                    + kv.length + " KV heads");
        }
        long need = (long) queryRows * queryHeads * d;
        if (queryOffset < 0 || queryOffset > queries.length - need) {
            throw new IllegalArgumentException("attention: queries need [" + queryOffset + ", " + (queryOffset + need)
                    + ") = [Lq=" + queryRows + "][Hq=" + queryHeads + "][D=" + d + "] but the array has " + queries.length);
        }
        if (queryPositions.length != queryRows) {
            throw new IllegalArgumentException("attention: " + queryPositions.length + " query positions for "
                    + queryRows + " query rows");
        }
        if (!Float.isFinite(scale) || !(softCap >= 0) || Float.isInfinite(softCap)) {
            throw new IllegalArgumentException("attention: scale must be finite and softCap finite and >= 0, got scale="
                    + scale + " softCap=" + softCap);
        }
    }

    /**
     * A causal problem whose query rows are the last {@code queryRows} positions of the view
     * (bottom-right aligned), with scale 1/sqrt(headDim) and no soft-capping.
     */
    public static AttentionProblem causal(float[] queries, int queryRows, int queryHeads, KvView... kv) {
        return new AttentionProblem(queries, 0, queryRows, queryHeads, kv, lastPositions(kv[0], queryRows),
                (float) (1 / Math.sqrt(kv[0].headDim())), 0f, AttentionMask.CAUSAL);
    }

    /** The positions of the last {@code rows} used slots of the view (the bottom-right alignment). */
    public static long[] lastPositions(KvView view, int rows) {
        long[] out = new long[rows];
        int filled = rows;
        for (int p = view.pageCount() - 1; p >= 0 && filled > 0; p--) {
            for (int s = view.pageLength(p) - 1; s >= 0 && filled > 0; s--) {
                out[--filled] = view.position(p, s);
            }
        }
        if (filled > 0) {
            throw new IllegalArgumentException("attention: " + rows + " query rows but the view holds only "
                    + (rows - filled) + " slots");
        }
        return out;
    }

    /** Elements per head. */
    public int headDim() {
        return kv[0].headDim();
    }

    /** Query heads per KV head (g). */
    public int groupSize() {
        return queryHeads / kv.length;
    }

    /** Number of KV heads. */
    public int kvHeads() {
        return kv.length;
    }

    /** Index of query (row, head) in {@code queries}. */
    public int queryIndex(int row, int head) {
        return queryOffset + (row * queryHeads + head) * headDim();
    }

    /** Floats the output needs: {@code queryRows * queryHeads * headDim}. */
    public int outputLength() {
        return queryRows * queryHeads * headDim();
    }

    @Override
    public String toString() {
        return "AttentionProblem[Lq=" + queryRows + ", Hq=" + queryHeads + ", Hkv=" + kv.length + ", D=" + headDim()
                + ", " + kv[0].dtype() + ", mask=" + mask + ", softCap=" + softCap + ", positions="
                + (queryRows <= 8 ? Arrays.toString(queryPositions) : queryRows + " rows") + "]";
    }
}
