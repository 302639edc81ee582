package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import java.util.Objects;

/**
 * Full attention that also records a selection: the exact kernel's output, then per KV head the
 * top-k keys by the query's attention scores over every visible key, written into a
 * {@link PersistentSelection} for {@link PersistentSelectionAttention} to attend later. The dense
 * half of TidalDecode's token-selection layers (Yang et al., 2024) and of Recycled Attention's full
 * steps (Xu et al., 2024).
 *
 * <p><b>Selection rule</b> (the last query row at position t, KV head h with query heads
 * {@code j = h*g .. h*g+g-1}): the key at position t (the token just appended) is always kept; the
 * other {@code k - 1} are the keys with the largest {@code score(i) = sum_j softmax_i(scale * q_j . k_i)}
 * over the keys the mask allows (soft-capped like the attention; ties to the older key). With one
 * query head per KV head this is the papers' top-k of the attention scores; with grouped queries
 * the group's per-head probabilities are summed (TokenSelect's soft vote, {@link TokenSelectAttention},
 * which computes it), so every KV head keeps one set of positions for its group.
 * The selection's {@code keepFrom} becomes t: the current token and every later one stay attended.
 *
 * <p><b>Forced keys.</b> With a {@link SelectedAttentionBudget} the sinks and the recent window are
 * recorded whatever their scores and count against k, as in {@link TokenSelectAttention}; the
 * papers' rule is sinks 0 and a window of 1 (the current token only: {@link #RecordingAttention(TensorOps,
 * AttentionKernel, int)}). {@link #withLocalWindow} adds StreamingLLM's sinks and a one-page window:
 * a selection recorded from one query (another layer's in TidalDecode, an earlier step's in Recycled
 * Attention) is attended by heads that look at fixed short distances whatever the query; on the
 * retrieval model (issue 21, {@code SelectionProbe}) such heads put 0.6-1.0 of their probability on
 * one key 1 to 15 positions back, which the recording query's top-k did not hold, and the sparse
 * layer's output was off by a relative error of 0.4-4.7 (layer 2 of 8) without the window.
 *
 * <p><b>Cost</b>: the exact kernel, plus O(Lk * D * g) scores per KV head (a second pass over the
 * keys) and the top-k. With split-K as the exact kernel, a decode step's scores are the logits the
 * exact pass computed anyway (no second pass): O(Lk * g) for the softmax and the top-k.
 *
 * <p>Threading: thread-safe (the selector keeps per-thread buffers); the selection it records
 * belongs to the caller's sequence.
 */
public final class RecordingAttention {
    private final TensorOps ops;
    private final AttentionKernel exact;
    private final TokenSelectAttention selector;
    private final int selected;
    /** Steps recorded from the exact pass's own logits, over this kernel's life: tests assert the fast path ran. */
    private final java.util.concurrent.atomic.LongAdder fromLogits = new java.util.concurrent.atomic.LongAdder();
    /** Per calling thread, per KV head, the logits a decode step's exact pass captured (grown, never shrunk). */
    private final ThreadLocal<float[][]> logits = ThreadLocal.withInitial(() -> new float[0][]);


    /**
     * The papers' rule: the current token and the top {@code selected - 1} keys by score.
     *
     * @param exact the full-attention kernel whose output is returned
     * @param selected keys per KV head in a recorded selection, the current token included
     */
    public RecordingAttention(TensorOps ops, AttentionKernel exact, int selected) {
        this(ops, exact, checkedBudget(selected));
    }

    /**
     * The rule with forced keys: {@code budget.sinks()} sinks and the {@code budget.window()} most
     * recent positions (the current token among them), then the best-scored keys up to
     * {@code budget.budget()} in all.
     *
     * @throws IllegalArgumentException when the window is 0 (the current token must be recorded)
     */
    public RecordingAttention(TensorOps ops, AttentionKernel exact, SelectedAttentionBudget budget) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.exact = Objects.requireNonNull(exact, "exact");
        Objects.requireNonNull(budget, "budget");
        if (budget.window() < 1) {
            throw new IllegalArgumentException("recording attention: the window must hold at least the current token, got "
                    + budget.window());
        }
        this.selected = budget.budget();
        this.selector = new TokenSelectAttention(ops, budget);
    }

    private static SelectedAttentionBudget checkedBudget(int selected) {
        if (selected <= 0) {
            throw new IllegalArgumentException("recording attention: selected must be positive, got " + selected);
        }
        // No sinks; a window of one position: the current token, as TidalDecode's kernel always keeps the last token.
        return new SelectedAttentionBudget(selected, 0, 1);
    }

    /**
     * {@code selected} keys with {@link SelectedAttentionBudget#DEFAULT_SINKS} sinks and a
     * {@link SelectedAttentionBudget#DEFAULT_WINDOW}-position recent window forced, when those take
     * at most half of it; a smaller selection forces only a window of half its size (at least the
     * current token), so that the scores still choose half of the keys.
     *
     * @throws IllegalArgumentException when {@code selected} is not positive
     */
    public static SelectedAttentionBudget withLocalWindow(int selected) {
        checkedBudget(selected);
        int forced = SelectedAttentionBudget.DEFAULT_SINKS + SelectedAttentionBudget.DEFAULT_WINDOW;
        if (2 * forced <= selected) {
            return SelectedAttentionBudget.of(selected);
        }
        return new SelectedAttentionBudget(selected, 0, Math.max(1, selected / 2));
    }

    /** Keys per KV head in a recorded selection. */
    public int selected() {
        return selected;
    }

    /** The selection size with the sinks and recent window it records whatever their scores. */
    public SelectedAttentionBudget budget() {
        return selector.budget();
    }

    /**
     * Exact attention of {@code p} into {@code out}/{@code lse}, then {@code sel} re-recorded from its
     * last row. A decode step (one query row) through a {@link SplitKDecodeAttention} records from
     * the logits the exact pass computed ({@link SplitKDecodeAttention#attendCapturingLogits}): the
     * same floats, so the same selection as {@link #record}, without reading the keys again.
     */
    public void attend(PersistentSelection sel, AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        Objects.requireNonNull(sel, "selection");
        if (exact instanceof SplitKDecodeAttention splitK && p.queryRows() == 1) {
            checkHeads(sel, p);
            float[][] logits = logitBuffers(p);
            if (splitK.attendCapturingLogits(p, out, lse, observer, logits)) {
                record(sel, p, logits);
                fromLogits.increment();
                return;
            }
        }
        exact.attend(p, out, lse, observer);
        record(sel, p);
    }

    /** Steps recorded from the exact pass's own logits (no second pass over the keys) since this kernel was made. */
    long stepsFromLogits() {
        return fromLogits.sum();
    }

    /** Records {@code sel} from the last query row of {@code p} without attending. */
    public void record(PersistentSelection sel, AttentionProblem p) {
        record(sel, p, null);
    }

    /** {@link #record}; with {@code logits} (per KV head, as the exact pass captured them) the scores come from them. */
    private void record(PersistentSelection sel, AttentionProblem p, float[][] logits) {
        int rows = p.queryRows();
        if (rows == 0) {
            return;
        }
        checkHeads(sel, p);
        int row = rows - 1;
        ops.pool().parallelFor(p.kvHeads(), kh -> selector.recordInto(sel, p, row, kh, logits == null ? null : logits[kh]));
        sel.keepFrom(p.queryPositions()[row]);
        sel.recorded(true);
    }

    private static void checkHeads(PersistentSelection sel, AttentionProblem p) {
        if (sel.kvHeads() != p.kvHeads()) {
            throw new IllegalArgumentException("recording attention: the selection holds " + sel.kvHeads()
                    + " KV heads, the problem " + p.kvHeads());
        }
    }

    /** This thread's logit buffers, one per KV head of {@code p}, each of {@code g * pageCount * pageSize} floats at least. */
    private float[][] logitBuffers(AttentionProblem p) {
        float[][] buffers = logits.get();
        if (buffers.length < p.kvHeads()) {
            buffers = java.util.Arrays.copyOf(buffers, p.kvHeads());
            logits.set(buffers);
        }
        for (int kh = 0; kh < p.kvHeads(); kh++) {
            KvView view = p.kv()[kh];
            int need = p.groupSize() * view.pageCount() * view.pageSize();
            if (buffers[kh] == null || buffers[kh].length < need) {
                // Grown with room, so that a cache growing by a page per 64 steps does not reallocate each time.
                buffers[kh] = new float[Math.max(need, 2 * (buffers[kh] == null ? 0 : buffers[kh].length))];
            }
        }
        return buffers;
    }

    /** A kernel that attends exactly and records into {@code sel}. */
    public AttentionKernel over(PersistentSelection sel) {
        Objects.requireNonNull(sel, "selection");
        return new AttentionKernel() {
            @Override
            public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
                RecordingAttention.this.attend(sel, p, out, lse, observer);
            }

            @Override
            public String name() {
                return "recording(" + exact.name() + ")";
            }
        };
    }
}
