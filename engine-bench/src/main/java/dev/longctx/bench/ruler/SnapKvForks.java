package dev.longctx.bench.ruler;

import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SnapKvPolicy;
import dev.longctx.models.session.Strategy;

/**
 * How the main job and the accuracy harness run SnapKV from the full cache's prefill
 * ({@code Session.fork(Strategy)}): the full cache prefills a prompt but its last {@link #TAIL}
 * tokens, a fork of it is kept there, the full cache goes on with the tail, and each SnapKV
 * strategy forks the kept point and prefills the tail itself, so its window (the question) votes
 * over the whole document as in the paper's one-chunk prefill, without prefilling the document
 * again. Stateless.
 */
public final class SnapKvForks {
    /**
     * The prompt's last tokens a SnapKV fork prefills itself: SnapKV's observation window (32,
     * {@link SnapKvPolicy#DEFAULT_WINDOW}) and with it the question, in one prefill chunk of 64 or more.
     */
    public static final int TAIL = 64;

    private SnapKvForks() {
    }

    /** Whether {@code s} runs as a fork: plain SnapKV with at most a {@link #TAIL}-token window. */
    public static boolean forks(Strategy s) {
        return s instanceof Strategy.SnapKv k && k.window() <= TAIL;
    }

    /** Whether prompts of {@code promptTokens} prefilled in chunks of {@code chunk} can fork at the tail. */
    public static boolean fits(int promptTokens, int chunk) {
        return chunk >= TAIL && promptTokens > TAIL;
    }

    /** {@code s} with its capacity given: a fork would otherwise keep the full cache's budget ({@code Session.fork}). */
    public static Strategy withCapacity(Strategy s, int budget) {
        return s instanceof Strategy.SnapKv k && k.capacity() == 0 ? new Strategy.SnapKv(budget, k.window(), k.kernel()) : s;
    }

    /**
     * Tokens per KV head beyond the context that the full cache's pool keeps free for one SnapKV
     * fork at a time: while it selects it copies one layer's pages of the document, and it keeps
     * {@code budget} tokens per head in every layer; a page per head for the fork point's last
     * page and one each for the kept and the decoded tokens' partly filled pages.
     */
    public static int room(int layers, int context, int budget) {
        return (context + layers - 1) / layers + budget + 3 * KvLayout.DEFAULT_PAGE_SIZE;
    }
}
