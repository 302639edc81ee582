package dev.longctx.models.serving;

import dev.longctx.core.sampling.Sampler;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.decoder.Decoder;
import dev.longctx.models.internal.StopFilter;
import dev.longctx.models.internal.StrategyPlan;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Session;
import dev.longctx.models.tokenizer.StreamingDecoder;

/**
 * One request inside the engine: its tokens (prompt, then generated ones) and how many of them the
 * model has computed into its cache (vLLM's "num computed tokens"). A step runs
 * {@code tokens[computed ...]}: a prefill chunk while more than the last token is uncomputed (the
 * prompt, or everything again after a preemption), a single token while decoding; when the step
 * reaches {@code length}, its logits give the next token.
 *
 * <p>Invariants: {@code 0 <= computed <= length <= tokens.length}; {@code cache != null} exactly
 * while admitted (running); the cache holds the keys and values of {@code tokens[0..computed)} as
 * the strategy keeps them; blocks {@code [0, published)} are offered to the prefix cache.
 *
 * <p>Threading: owned by the engine thread (the handle is the part other threads touch).
 */
final class Sequence {
    final long id;
    final RequestHandle handle;
    final Request request;
    final GenerateOptions options;
    final StrategyPlan plan;
    /** The prefix-cache namespace for this request's pages, or null when they cannot be shared exactly. */
    final String namespace;
    final int promptLength;
    final int[] tokens;
    final int[] stopIds;
    final Sampler sampler;
    final StreamingDecoder text;
    final StopFilter filter;
    final Session.TokenListener listener;
    final long submitNanos;
    final long deadlineNanos;
    /** The worst-case pages of the whole request (checked against the pool at submission). */
    final long worstPages;
    /** Squeezed Attention's fixed context (the first prompt's first {@code fixed} tokens); 0 for other strategies. */
    final int fixed;
    /** Squeezed Attention: whether this admission's index was counted (built or adopted) and offered to the prefix cache. */
    boolean indexSettled;
    /**
     * Whether this request is never preempted (H2O, SnapKV: what they keep depends on the attention
     * seen so far, which a recomputation would not see again); its worst-case pages are promised to
     * it from admission.
     */
    final boolean pinned;
    int length;
    int computed;
    int published;
    int generated;
    /** Whether the next step still runs the prompt (or recomputes after a preemption), ending with endsPrompt. */
    boolean prefilling = true;
    /** SirLLM: the last logits row of the previous step, which scores the next step's first token; else null. */
    float[] lastRow;
    SequenceKvCache cache;
    Decoder.State state;
    final Decoder.Step step = new Decoder.Step();
    final int[] one = new int[1];
    long firstScheduledNanos;
    long firstTokenNanos;
    long lastTokenNanos;
    int preemptions;

    Sequence(long id, RequestHandle handle, Request request, GenerateOptions options, StrategyPlan plan, String namespace,
             int[] prompt, int[] stopIds, StreamingDecoder text, long submitNanos, long deadlineNanos, long worstPages) {
        this.id = id;
        this.handle = handle;
        this.request = request;
        this.options = options;
        this.plan = plan;
        this.namespace = namespace;
        this.promptLength = prompt.length;
        this.tokens = new int[prompt.length + options.maxTokens()];
        System.arraycopy(prompt, 0, tokens, 0, prompt.length);
        this.length = prompt.length;
        this.stopIds = stopIds;
        this.sampler = new Sampler(options.sampler());
        this.text = text;
        this.filter = new StopFilter(options.stopStrings());
        this.listener = request.listener();
        this.submitNanos = submitNanos;
        this.deadlineNanos = deadlineNanos;
        this.worstPages = worstPages;
        this.fixed = plan.squeezedFixed(prompt.length);
        this.pinned = plan.strategy instanceof dev.longctx.models.session.Strategy.H2o
                || plan.strategy instanceof dev.longctx.models.session.Strategy.SnapKv;
    }

    /** Whether the strategy is Squeezed Attention. */
    boolean squeezed() {
        return plan.strategy instanceof dev.longctx.models.session.Strategy.Squeezed;
    }

    /**
     * The most leading tokens this sequence may take from or give to the prefix cache: all but its
     * last (whose logits it needs), and under Squeezed Attention only its fixed context (the rows
     * after it attend sparsely, so their keys and values are not the exact ones other requests compute).
     */
    int prefixLimit() {
        return squeezed() ? Math.min(length - 1, fixed) : length - 1;
    }

    /** Tokens the next step runs: the rest of the current aligned chunk while prefilling, else one. */
    int nextTokens(int chunk) {
        if (!prefilling) {
            return 1;
        }
        // Chunks end at multiples of the chunk size, as a session's prefill does: the same request
        // gets the same chunks whatever else is batched with it (eviction between chunks depends on them).
        long end = Math.min(length, ((long) computed / chunk + 1) * chunk);
        return (int) (end - computed);
    }

    /** The input array for {@code t} tokens from {@code computed}. */
    int[] input(int t) {
        if (t == 1) {
            one[0] = tokens[computed];
            return one;
        }
        return java.util.Arrays.copyOfRange(tokens, computed, computed + t);
    }

    boolean contains(int[] ids, int id) {
        for (int s : ids) {
            if (s == id) {
                return true;
            }
        }
        return false;
    }

    /** The prompt ids. */
    int[] prompt() {
        return java.util.Arrays.copyOf(tokens, promptLength);
    }

    /** The generated ids. */
    int[] output() {
        return java.util.Arrays.copyOfRange(tokens, promptLength, length);
    }
}
