package dev.longctx.attention;

import java.util.Objects;

/**
 * Attention whose logits use only the kept key channels of each KV head (ThinK, Xu et al., 2024:
 * {@code logit = scale * sum_{c kept} q_c k_c}), over any other kernel: the query's pruned
 * channels are set to zero in a copy of the problem's queries and the copy goes to {@code inner},
 * so the kept channels' products are the only non-zero terms of every {@code q.k}. Values are
 * untouched. The inner kernel keeps its own selection, mask, soft cap and observer; with every
 * channel kept the inner kernel runs on the problem as given.
 *
 * <p>What this does not do: skip the pruned channels' reads or multiplies. The keys stay whole in
 * their pages (see {@code Strategy.ThinK} for the memory this does and does not save).
 *
 * <p>Threading: one instance is used by one thread at a time (it reuses a query buffer); the
 * channel masks it reads may be replaced between calls by that thread ({@link #keep}).
 */
public final class ChannelPrunedAttention implements AttentionKernel {
    private final AttentionKernel inner;
    /** Per KV head the kept channels, or null for a head with every channel kept. */
    private final boolean[][] keep;
    private float[] buffer = new float[0];

    /**
     * @param inner the kernel that attends over the pruned queries
     * @param kvHeads KV heads of the problems this kernel will see (masks start as "every channel kept")
     */
    public ChannelPrunedAttention(AttentionKernel inner, int kvHeads) {
        this.inner = Objects.requireNonNull(inner, "inner");
        if (kvHeads <= 0) {
            throw new IllegalArgumentException("kvHeads must be positive, got " + kvHeads);
        }
        this.keep = new boolean[kvHeads][];
    }

    /** The inner kernel. */
    public AttentionKernel inner() {
        return inner;
    }

    /**
     * Sets the kept channels of KV head {@code kvHead} ({@code mask[c]}: channel c kept), or every
     * channel with null. The array is used as given (not copied).
     */
    public void keep(int kvHead, boolean[] mask) {
        keep[kvHead] = mask;
    }

    /** The kept channels of {@code kvHead}, or null when every channel is kept. */
    public boolean[] kept(int kvHead) {
        return keep[kvHead];
    }

    @Override
    public String name() {
        return "channel-pruned(" + inner.name() + ")";
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        if (p.kvHeads() != keep.length) {
            throw new IllegalArgumentException("channel-pruned attention built for " + keep.length + " KV heads got a problem with "
                    + p.kvHeads());
        }
        boolean any = false;
        for (boolean[] m : keep) {
            if (m != null) {
                if (m.length != p.headDim()) {
                    throw new IllegalArgumentException("channel mask of " + m.length + " channels for head dim " + p.headDim());
                }
                any = true;
            }
        }
        if (!any) {
            inner.attend(p, out, lse, observer);
            return;
        }
        int d = p.headDim();
        int hq = p.queryHeads();
        int g = p.groupSize();
        int n = p.queryRows() * hq * d;
        if (buffer.length < n) {
            buffer = new float[n];
        }
        float[] q = p.queries();
        for (int i = 0; i < p.queryRows(); i++) {
            for (int h = 0; h < hq; h++) {
                int src = p.queryIndex(i, h);
                int dst = (i * hq + h) * d;
                boolean[] m = keep[h / g];
                for (int c = 0; c < d; c++) {
                    buffer[dst + c] = m == null || m[c] ? q[src + c] : 0f;
                }
            }
        }
        inner.attend(new AttentionProblem(buffer, 0, p.queryRows(), hq, p.kv(), p.queryPositions(), p.scale(), p.softCap(), p.mask()),
                out, lse, observer);
    }
}
