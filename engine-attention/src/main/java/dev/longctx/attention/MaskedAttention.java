package dev.longctx.attention;

import java.util.Objects;

/**
 * Runs another kernel on the same problem under a fixed mask (in place of the problem's own):
 * e.g. StreamingLLM's decode step, split-K over every KV head under the sink + window mask, where
 * {@link PerHeadAttention} would run one single-row problem per head, one head after another.
 * Exactly the inner kernel's result for the re-masked problem.
 */
public final class MaskedAttention implements AttentionKernel {
    private final AttentionKernel inner;
    private final AttentionMask mask;

    /**
     * @param inner the kernel that runs the re-masked problem
     * @param mask the mask every query row and head gets
     */
    public MaskedAttention(AttentionKernel inner, AttentionMask mask) {
        this.inner = Objects.requireNonNull(inner, "inner");
        this.mask = Objects.requireNonNull(mask, "mask");
    }

    @Override
    public String name() {
        return inner.name() + "+mask";
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionProblem masked = new AttentionProblem(p.queries(), p.queryOffset(), p.queryRows(), p.queryHeads(), p.kv(),
                p.queryPositions(), p.scale(), p.softCap(), mask);
        inner.attend(masked, out, lse, observer);
    }
}
