package dev.longctx.attention;

/**
 * Computes {@code out = softmax(scale * q.k^T (soft-capped) + mask) . v} for every query row and
 * query head of an {@link AttentionProblem}, with f32 accumulation.
 *
 * <p>Outputs: {@code out} is {@code [queryRows][queryHeads][headDim]}; {@code lse}, when not null,
 * is {@code [queryRows][queryHeads]}: the natural-log log-sum-exp of the (capped, scaled) logits
 * of the attended keys, the quantity partial results merge with ({@link PartialState}). A row
 * that attends no key (fully masked, or an empty view) gets a zero output and
 * {@code lse = -infinity}. NaN in a query or an attended key makes that row NaN; kernels never
 * hang or throw on NaN or infinite inputs.
 *
 * <p>With an {@link AttentionObserver} the kernel also reports each row's exact probabilities.
 */
public interface AttentionKernel {

    /** A short name for logs and benchmarks. */
    String name();

    /**
     * Runs the problem.
     *
     * @param problem the queries, views, mask and scale
     * @param out output rows, at least {@code problem.outputLength()} floats
     * @param lse log-sum-exp per (row, head), or null
     * @param observer receives probabilities, or null
     */
    void attend(AttentionProblem problem, float[] out, float[] lse, AttentionObserver observer);

    /** Checks output sizes, naming the expected shape. */
    static void checkOutputs(AttentionProblem p, float[] out, float[] lse) {
        if (out == null || out.length < p.outputLength()) {
            throw new IllegalArgumentException("attention: out needs [Lq=" + p.queryRows() + "][Hq=" + p.queryHeads()
                    + "][D=" + p.headDim() + "] = " + p.outputLength() + " floats, got "
                    + (out == null ? "null" : out.length));
        }
        if (lse != null && lse.length < p.queryRows() * p.queryHeads()) {
            throw new IllegalArgumentException("attention: lse needs [Lq=" + p.queryRows() + "][Hq=" + p.queryHeads()
                    + "] floats, got " + lse.length);
        }
    }
}
