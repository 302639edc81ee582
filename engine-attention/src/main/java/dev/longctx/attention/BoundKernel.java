package dev.longctx.attention;

import java.util.Objects;

/**
 * A kernel whose per-sequence state (a selection, a memory) is bound before each call: runs
 * {@code bind}, then {@code kernel}'s {@code attend}; named as {@code kernel}. For kernels that serve
 * one sequence and are bound to one state per layer (InfLLM, the persistent selections, LongHeads).
 *
 * <p>Threading: that of {@code kernel} (one sequence, one call at a time).
 */
final class BoundKernel implements AttentionKernel {
    private final AttentionKernel kernel;
    private final Runnable bind;

    BoundKernel(AttentionKernel kernel, Runnable bind) {
        this.kernel = Objects.requireNonNull(kernel, "kernel");
        this.bind = Objects.requireNonNull(bind, "bind");
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        bind.run();
        kernel.attend(p, out, lse, observer);
    }

    @Override
    public String name() {
        return kernel.name();
    }
}
