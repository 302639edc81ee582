package dev.longctx.kvcache;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.KvView;
import dev.longctx.attention.PerHeadAttention;
import java.util.Objects;

/**
 * MoA's heterogeneous elastic windows (Fu et al., 2024; see {@link HeadWindows}) on the paged
 * cache: each KV head attends through its own mask, and after every step or prefill chunk each
 * head evicts the keys that no later query can see: keys at positions {@code >= sinks} and at most
 * {@code t - windowAt(t)}, where {@code t} is the next query's position (the oldest visible key
 * never moves back, see {@link AttentionMask}). So eviction is exact: outputs equal attention under
 * the same masks over a cache that keeps everything.
 *
 * <ul>
 *   <li>Trigger: after every step or prefill chunk. Score: none (positions). Granularity: tokens,
 *       per KV head; each KV head has its own pages, so a page is released as soon as its head's
 *       window has passed it (the query heads of a GQA group share their KV head's window).</li>
 *   <li>Budget: per head {@code sinks + alpha + beta * N} tokens (grows with the length).</li>
 *   <li>Positions: kept as cached.</li>
 * </ul>
 *
 * <p>Threading: immutable; the caches it is given follow their own one-thread-at-a-time rule.
 */
public final class MoaPolicy implements EvictionPolicy {
    private final HeadWindows windows;
    private final AttentionMask[][] masks;

    /** The policy of {@code windows} for {@code layout} (they must match). */
    public MoaPolicy(HeadWindows windows, KvLayout layout) {
        this.windows = Objects.requireNonNull(windows, "windows");
        windows.checkMatches(layout);
        masks = new AttentionMask[windows.layers()][windows.kvHeads()];
        for (int l = 0; l < masks.length; l++) {
            for (int h = 0; h < masks[l].length; h++) {
                masks[l][h] = windows.mask(l, h);
            }
        }
    }

    /** The windows. */
    public HeadWindows windows() {
        return windows;
    }

    /** The attention kernel of one layer: {@code kernel} per KV head under that head's elastic mask. */
    public AttentionKernel kernelForLayer(int layer, AttentionKernel kernel) {
        Objects.requireNonNull(kernel, "kernel");
        AttentionMask[] m = masks[layer];
        return new PerHeadAttention(h -> kernel, h -> m[h]);
    }

    @Override
    public String name() {
        return "moa";
    }

    @Override
    public int maxTokensPerHead() {
        return Integer.MAX_VALUE; // windows grow with the length
    }

    @Override
    public void afterStep(SequenceKvCache cache, int layer) {
        for (int h = 0; h < cache.layout().kvHeads(); h++) {
            prune(cache, layer, h);
        }
    }

    private void prune(SequenceKvCache cache, int layer, int h) {
        KvView view = cache.view(layer, h);
        int pages = view.pageCount();
        if (pages == 0 || view.pageLength(pages - 1) == 0) {
            return;
        }
        long next = view.pageMaxPosition(pages - 1) + 1;
        long sinks = windows.sinks();
        long last = next - masks[layer][h].windowAt(next); // keys at or before it are hidden from every later query
        for (int p = 0; p < cache.pages(layer, h); p++) {
            view = cache.view(layer, h);
            if (view.pageLength(p) == 0 || view.pageMinPosition(p) > last) {
                break;
            }
            int before = cache.pages(layer, h);
            for (int s = 0; s < view.pageLength(p); s++) {
                long pos = view.position(p, s);
                if (pos > last) {
                    return;
                }
                if (pos < sinks || !view.isValid(p, s)) {
                    continue;
                }
                cache.evict(layer, h, p, s);
                if (cache.pages(layer, h) < before) {
                    p--; // the page was released; the next one moved into its index
                    break;
                }
            }
        }
    }
}
