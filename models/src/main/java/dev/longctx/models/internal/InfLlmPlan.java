package dev.longctx.models.internal;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.InfLlmAttention;
import dev.longctx.attention.InfLlmMemory;
import dev.longctx.attention.KvView;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.session.Strategy;

/**
 * InfLLM's decode steps (Xiao et al., 2024; see {@link Strategy.InfLlm}) with its per-sequence
 * context memory in {@link SequenceKvCache#planState()}:
 * <ul>
 *   <li>every prompt chunk's attention reports its probabilities; each key adds those of the
 *       queries within {@code window} positions after it, summed over the query heads of its KV
 *       head, to its score in the cache (the page metadata H2O's scores use). Decode steps do not
 *       score: an observer sends the decode kernel down its slow path (a probability call per page
 *       of the whole cache, measured at 16K: decode 0.41x the full cache's with it), so a unit of
 *       generated tokens is represented by the ones the prompt's last queries saw, else its
 *       first tokens;</li>
 *   <li>before a decode step's attention in a layer, every block of {@code unit} positions (from
 *       the sinks on) whose last position is at least {@code window} before the current one
 *       becomes a memory unit, represented by its {@code reps} best-scored tokens (ties to the
 *       older) and the sum of their keys (the variant {@code infllm-bound}: also the per-channel
 *       minimum and maximum of all its valid keys);</li>
 *   <li>the decode step then runs {@link InfLlmAttention} with that layer's memory; prompt chunks
 *       run the exact chunk kernel.</li>
 * </ul>
 * A fork carries a copy of the memory (the scores travel with the pages).
 *
 * <p>Threading: immutable and shared by the sequences of a plan; each sequence's state lives in its
 * cache, used by the one thread that runs that sequence. The observer is called from the pool's
 * threads during one attention call and writes through the cache's synchronised score update.
 */
final class InfLlmPlan {
    private final Strategy.InfLlm params;
    private final TensorOps ops;
    private final int kvHeads;
    private final LayerMemories<InfLlmMemory> memories;

    /** @param params a resolved {@link Strategy.InfLlm} (every parameter positive) */
    InfLlmPlan(Strategy.InfLlm params, int layers, int kvHeads, int headDim, TensorOps ops) {
        this.params = params;
        this.ops = ops;
        this.kvHeads = kvHeads;
        // one kernel (and its per-thread buffers) per sequence, bound to each layer's memory in turn
        this.memories = new LayerMemories<>(layers, () -> new InfLlmMemory(kvHeads, params.reps(), headDim), InfLlmMemory::copy,
                () -> new InfLlmAttention(ops, params.sinks(), params.topK(), params.keyBound()
                        ? InfLlmAttention.Relevance.KEY_BOUND : InfLlmAttention.Relevance.REPRESENTATIVES)::over);
    }

    /** The kernel for {@code queryRows} rows of {@code layer}: {@code chunk} for prompt chunks, InfLLM's for decode steps. */
    AttentionKernel kernel(SequenceKvCache cache, int layer, int queryRows, AttentionKernel chunk) {
        if (queryRows != 1) {
            return chunk;
        }
        InfLlmMemory mem = memories.memory(cache, layer);
        for (int kh = 0; kh < kvHeads; kh++) {
            closeUnits(cache, layer, kh, mem);
        }
        return memories.kernel(cache, layer);
    }

    /**
     * Accumulates each key's attention from the prompt queries within the window after it (see the
     * class comment); null for decode steps.
     */
    AttentionObserver observer(SequenceKvCache cache, int layer, int queryRows) {
        if (queryRows == 1) {
            return null;
        }
        KvView[] views = cache.views(layer);
        long firstQuery = lastPosition(views[0]) - queryRows + 1;
        int window = params.window();
        ThreadLocal<float[]> buffers = ThreadLocal.withInitial(() -> new float[views[0].pageSize()]);
        return (row, queryHead, kvHead, page, probabilities, count) -> {
            long from = firstQuery + row - window + 1; // keys at a distance below the window
            KvView v = views[kvHead];
            if (count == 0 || v.pageMaxPosition(page) < from) {
                return;
            }
            if (v.pageMinPosition(page) >= from) {
                cache.addScores(layer, kvHead, page, probabilities, count);
                return;
            }
            float[] b = buffers.get();
            for (int s = 0; s < count; s++) {
                b[s] = v.position(page, s) >= from ? probabilities[s] : 0f;
            }
            cache.addScores(layer, kvHead, page, b, count);
        };
    }

    private static long lastPosition(KvView v) {
        for (int pg = v.pageCount() - 1; pg >= 0; pg--) {
            if (v.pageLength(pg) > 0) {
                return v.pageMaxPosition(pg);
            }
        }
        return -1;
    }

    /** Turns every block that has left the window into a unit of {@code mem}. */
    private void closeUnits(SequenceKvCache cache, int layer, int kh, InfLlmMemory mem) {
        KvView view = cache.view(layer, kh);
        long current = lastPosition(view);
        int unit = params.unit();
        int reps = params.reps();
        long first = Math.max(params.sinks(), mem.coveredTo(kh) + 1);
        if (first + unit - 1 > current - params.window()) {
            return;
        }
        long[] best = new long[reps];
        int[] bestPage = new int[reps];
        int[] bestSlot = new int[reps];
        float[] bestScore = new float[reps];
        int d = view.headDim();
        float[] key = new float[d];
        float[] sum = new float[d];
        float[] min = new float[d];
        float[] max = new float[d];
        for (; first + unit - 1 <= current - params.window(); first += unit) {
            int n = 0;
            long last = first + unit - 1;
            java.util.Arrays.fill(min, Float.POSITIVE_INFINITY);
            java.util.Arrays.fill(max, Float.NEGATIVE_INFINITY);
            // the unit's valid tokens in position order, keeping the reps best (strictly better replaces: ties to the older)
            for (int pg = firstPageEndingAtOrAfter(view, first); pg < view.pageCount(); pg++) {
                int len = view.pageLength(pg);
                if (len == 0 || view.pageMaxPosition(pg) < first) {
                    continue;
                }
                if (view.pageMinPosition(pg) > last) {
                    break; // positions increase page by page
                }
                for (int s = 0; s < len; s++) {
                    long pos = view.position(pg, s);
                    if (pos < first || pos > last || !view.isValid(pg, s)) {
                        continue;
                    }
                    if (params.keyBound()) {
                        // the variant's per-channel bounds over every valid key of the unit
                        ops.kernels().dequantize(view.dtype(), view.keys(pg), s * view.rowBytes(), key, 0, d);
                        for (int c = 0; c < d; c++) {
                            min[c] = Math.min(min[c], key[c]);
                            max[c] = Math.max(max[c], key[c]);
                        }
                    }
                    float sc = cache.score(layer, kh, pg, s);
                    int at;
                    if (n < reps) {
                        at = n++;
                    } else if (sc > bestScore[reps - 1]) {
                        at = reps - 1;
                    } else {
                        continue;
                    }
                    while (at > 0 && bestScore[at - 1] < sc) {
                        best[at] = best[at - 1];
                        bestPage[at] = bestPage[at - 1];
                        bestSlot[at] = bestSlot[at - 1];
                        bestScore[at] = bestScore[at - 1];
                        at--;
                    }
                    best[at] = pos;
                    bestPage[at] = pg;
                    bestSlot[at] = s;
                    bestScore[at] = sc;
                }
            }
            java.util.Arrays.fill(sum, 0f);
            for (int i = 0; i < n; i++) {
                ops.kernels().dequantize(view.dtype(), view.keys(bestPage[i]), bestSlot[i] * view.rowBytes(), key, 0, d);
                for (int c = 0; c < d; c++) {
                    sum[c] += key[c];
                }
            }
            if (params.keyBound()) {
                if (min[0] > max[0]) { // no valid key in the unit: nothing of it can be attended, bound 0
                    java.util.Arrays.fill(min, 0f);
                    java.util.Arrays.fill(max, 0f);
                }
                mem.addUnit(kh, first, last, best, n, sum, 0, min, max, 0);
            } else {
                mem.addUnit(kh, first, last, best, n, sum, 0);
            }
        }
    }

    /** The first page of {@code view} whose last position is {@code >= position} (pages of a view hold increasing positions). */
    private static int firstPageEndingAtOrAfter(KvView view, long position) {
        int lo = 0;
        int hi = view.pageCount();
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (view.pageLength(mid) > 0 && view.pageMaxPosition(mid) < position) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return lo;
    }

    /** The memory of {@code layer} of the sequence whose cache is {@code cache} (for tests). */
    InfLlmMemory memory(SequenceKvCache cache, int layer) {
        return memories.memory(cache, layer);
    }
}
