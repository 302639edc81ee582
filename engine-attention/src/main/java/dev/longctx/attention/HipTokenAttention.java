package dev.longctx.attention;

import dev.longctx.core.kernels.TensorOps;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Objects;

/**
 * HiP prefill attention at the paper's granularity (Lee et al., 2024, arXiv 2406.09827): per
 * (KV head, query block of {@code b_q} rows) the keys {@link HipTokenSelection} picks (the sink, the
 * diagonal with a local window, and the key blocks of {@code b_k} tokens its hierarchy keeps),
 * gathered from the paged view into a dense one ({@code GatheredKvView}), then exact attention of
 * the block's rows and the g query heads of the KV head over exactly those keys (the
 * {@link TiledAttention} inner loop, {@code OnlineSoftmaxTile}: same scale, soft cap, and the
 * problem's mask applied per element by position, so the causal mask holds inside the block).
 *
 * <p><b>What it approximates.</b> Full attention, assuming the mass outside the selection is
 * negligible. Over the selection the result is exact: it equals {@link NaiveAttention} over the
 * same keys up to f32 rounding; when {@code k} holds every candidate it equals tiled exact
 * attention (tested). Where {@link BlockSparseAttention} with {@link HipEstimator} keeps whole
 * 64-token pages, this reads only the selected tokens: O(k) rows per block, however scattered.
 *
 * <p><b>Work.</b> One task per (KV head, query block) on the {@link TensorOps} pool: selection
 * (see {@link HipTokenSelection} for its cost), a gather of O(k + sink + window + b_q) rows, and
 * O((k + sink + window + b_q) x b_q x g x D) exact work. Each task writes only its own outputs, so
 * results are bit-identical for any thread count. Extra memory per thread: the gathered view and
 * one tile; per call, each KV head's valid-key index (O(Lk) ints).
 *
 * <p><b>Observer.</b> Reported per (row, query head, page of the original view) with the exact
 * probabilities over the selection (they sum to 1; unselected keys report 0), like
 * {@link SelectedAttention}.
 *
 * <p>Thread-safe: the kernel holds only immutable configuration and per-thread buffers.
 */
public final class HipTokenAttention implements AttentionKernel {
    private final TensorOps ops;
    private final HipTokenSelection selection;
    private final ThreadLocal<Workspace> workspaces;

    /** The kernel with the paper's defaults ({@link HipTokenSelection#paper()}). */
    public HipTokenAttention(TensorOps ops) {
        this(ops, HipTokenSelection.paper());
    }

    /** The kernel with a selection rule. */
    public HipTokenAttention(TensorOps ops, HipTokenSelection selection) {
        this.ops = Objects.requireNonNull(ops, "ops");
        this.selection = Objects.requireNonNull(selection, "selection");
        this.workspaces = ThreadLocal.withInitial(() -> new Workspace(ops));
    }

    @Override
    public String name() {
        return selection.name();
    }

    /** The selection rule. */
    public HipTokenSelection selection() {
        return selection;
    }

    @Override
    public void attend(AttentionProblem p, float[] out, float[] lse, AttentionObserver observer) {
        AttentionKernel.checkOutputs(p, out, lse);
        if (p.queryRows() == 0) {
            return;
        }
        int heads = p.kvHeads();
        int blocks = selection.queryBlocks(p);
        HipTokenSelection.HeadKeys[] keys = new HipTokenSelection.HeadKeys[heads];
        ops.pool().parallelFor(heads, h -> keys[h] = new HipTokenSelection.HeadKeys(p.kv()[h]));
        ops.pool().parallelFor(heads * blocks, t -> {
            int kh = t / blocks;
            int b = t % blocks;
            Workspace ws = workspaces.get();
            ws.keys.clear();
            selection.select(ws.selection, ops.kernels(), p, keys[kh], kh, b, ws.keys);
            GatheredKvView sel = ws.gathered.reset(p.kv()[kh], ws.keys);
            int r0 = b * selection.blockQ();
            int r1 = Math.min(p.queryRows(), r0 + selection.blockQ());
            OnlineSoftmaxTile tile = SelectedAttention.attendOver(ws.tile, p, kh, r0, r1, sel, out, lse);
            if (observer != null) {
                observe(ws, p, kh, r0, sel, tile, observer);
            }
        });
    }

    /**
     * Scatters the selection's probabilities into a [tile rows][slots] buffer of the original view
     * (unselected keys stay 0), then reports one call per (row, query head, original page).
     */
    private static void observe(Workspace ws, AttentionProblem p, int kh, int r0, GatheredKvView sel,
                                OnlineSoftmaxTile tile, AttentionObserver observer) {
        KvView base = p.kv()[kh];
        int g = p.groupSize();
        int ps = base.pageSize();
        int slots = base.pageCount() * ps;
        int rows = tile.rows();
        float[] probs = ws.probs = HipTokenSelection.grow(ws.probs, rows * slots);
        Arrays.fill(probs, 0, rows * slots, 0f);
        float[] rowLse = Arrays.copyOf(tile.lse(), rows);
        for (int page = 0; page < sel.pageCount(); page++) {
            tile.observe(page, rowLse, (row, head, kvHead, pg, pr, count) -> {
                int off = ((row - r0) * g + head - kh * g) * slots;
                for (int s = 0; s < count; s++) {
                    if (pr[s] != 0f) {
                        probs[off + sel.baseKey(pg, s)] = pr[s];
                    }
                }
            });
        }
        float[] pageProbs = ws.pageProbs = HipTokenSelection.grow(ws.pageProbs, ps);
        for (int r = 0; r < rows; r++) {
            for (int bp = 0; bp < base.pageCount(); bp++) {
                if (base.pageLength(bp) == 0) {
                    continue; // as the tiled kernel: empty pages are not reported
                }
                System.arraycopy(probs, r * slots + bp * ps, pageProbs, 0, ps);
                observer.observe(r0 + r / g, kh * g + r % g, kh, bp, pageProbs, base.pageLength(bp));
            }
        }
    }

    /** Per-thread buffers of one kernel instance. */
    private static final class Workspace {
        final OnlineSoftmaxTile tile;
        final HipTokenSelection.Workspace selection = new HipTokenSelection.Workspace();
        final GatheredKvView gathered = new GatheredKvView();
        final BitSet keys = new BitSet();
        float[] probs = new float[0];
        float[] pageProbs = new float[0];

        Workspace(TensorOps ops) {
            this.tile = new OnlineSoftmaxTile(ops.kernels());
        }
    }
}
