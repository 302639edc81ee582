package dev.longctx.attention;

import java.util.Objects;
import java.util.function.IntFunction;

/**
 * Runs a different kernel per KV head: how policies compose with kernels, e.g. DuoAttention's
 * streaming heads (sliding window + sinks) next to retrieval heads under Quest selection.
 *
 * <p>The problem is split into one sub-problem per KV head (its view and the g query heads that
 * read it); each runs on the kernel {@code kernelFor.apply(kvHead)} and the outputs are written
 * back in place. Observers see the original query and KV head numbers. Cost: the chosen kernels'
 * plus one copy of the queries and outputs.
 */
public final class PerHeadAttention implements AttentionKernel {
    private final IntFunction<AttentionKernel> kernelFor;
    private final IntFunction<AttentionMask> maskFor;

    /**
     * @param kernelFor the kernel of each KV head
     * @param maskFor the mask of each KV head (null: the problem's mask for every head)
     */
    public PerHeadAttention(IntFunction<AttentionKernel> kernelFor, IntFunction<AttentionMask> maskFor) {
        this.kernelFor = Objects.requireNonNull(kernelFor, "kernelFor");
        this.maskFor = maskFor;
    }

    @Override
    public String name() {
        return "per-head";
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        int g = p.groupSize();
        int d = p.headDim();
        int lq = p.queryRows();
        float[] q = new float[lq * g * d];
        float[] o = new float[lq * g * d];
        float[] l = new float[lq * g];
        for (int kh = 0; kh < p.kvHeads(); kh++) {
            for (int i = 0; i < lq; i++) {
                System.arraycopy(p.queries(), p.queryIndex(i, kh * g), q, i * g * d, g * d);
            }
            AttentionMask mask = maskFor == null ? p.mask() : Objects.requireNonNull(maskFor.apply(kh), "mask of head " + kh);
            AttentionProblem sub = new AttentionProblem(q, 0, lq, g, new KvView[] {p.kv()[kh]}, p.queryPositions(),
                    p.scale(), p.softCap(), mask);
            int base = kh;
            AttentionObserver mapped = observer == null ? null
                    : (row, queryHead, kvHead, page, probs, count) ->
                            observer.observe(row, base * g + queryHead, base, page, probs, count);
            AttentionKernel k = Objects.requireNonNull(kernelFor.apply(kh), "kernel of head " + kh);
            k.attend(sub, o, l, mapped);
            for (int i = 0; i < lq; i++) {
                System.arraycopy(o, i * g * d, out, (i * p.queryHeads() + kh * g) * d, g * d);
                if (lse != null) {
                    System.arraycopy(l, i * g, lse, i * p.queryHeads() + kh * g, g);
                }
            }
        }
    }
}
