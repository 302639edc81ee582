package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import java.util.BitSet;
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
 * <p><b>Cost</b>: the exact kernel, plus O(Lk * D * g) scores per KV head (a second pass over the
 * keys) and the top-k.
 *
 * <p>Threading: thread-safe (the selector keeps per-thread buffers); the selection it records
 * belongs to the caller's sequence.
 */
public final class RecordingAttention {
    private final TensorOps ops;
    private final AttentionKernel exact;
    private final TokenSelectAttention selector;
    private final int selected;

    /**
     * @param exact the full-attention kernel whose output is returned
     * @param selected keys per KV head in a recorded selection, the current token included
     */
    public RecordingAttention(TensorOps ops, AttentionKernel exact, int selected) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.exact = Objects.requireNonNull(exact, "exact");
        if (selected <= 0) {
            throw new IllegalArgumentException("recording attention: selected must be positive, got " + selected);
        }
        this.selected = selected;
        // No sinks; a window of one position: the current token, as TidalDecode's kernel always keeps the last token.
        this.selector = new TokenSelectAttention(ops, new SelectedAttentionBudget(selected, 0, 1));
    }

    /** Keys per KV head in a recorded selection. */
    public int selected() {
        return selected;
    }

    /** Exact attention of {@code p} into {@code out}/{@code lse}, then {@code sel} re-recorded from its last row. */
    public void attend(PersistentSelection sel, AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        Objects.requireNonNull(sel, "selection");
        exact.attend(p, out, lse, observer);
        record(sel, p);
    }

    /** Records {@code sel} from the last query row of {@code p} without attending. */
    public void record(PersistentSelection sel, AttentionProblem p) {
        int rows = p.queryRows();
        if (rows == 0) {
            return;
        }
        if (sel.kvHeads() != p.kvHeads()) {
            throw new IllegalArgumentException("recording attention: the selection holds " + sel.kvHeads()
                    + " KV heads, the problem " + p.kvHeads());
        }
        int row = rows - 1;
        ops.pool().parallelFor(p.kvHeads(), kh -> {
            BitSet keys = new BitSet();
            selector.chooseKeysInto(p, row, kh, keys);
            sel.record(kh, p.kv()[kh], keys);
        });
        sel.keepFrom(p.queryPositions()[row]);
        sel.recorded(true);
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
