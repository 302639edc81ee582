package dev.longctx.models.session;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.sampling.Sampler;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.AttentionPlan;
import dev.longctx.models.decoder.Decoder;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.internal.SessionAccess;
import dev.longctx.models.internal.StopFilter;
import dev.longctx.models.internal.StrategyPlan;
import dev.longctx.models.tokenizer.StreamingDecoder;
import dev.longctx.models.tokenizer.Tokenizer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One conversation with a model under a long-context strategy: its own paged KV cache inside a
 * memory budget, chunked prefill with progress, and generation with streaming tokens, stop ids and
 * stop strings. Sessions of one model are independent (each has its own block pool; a
 * {@link #fork()} shares its parent's pool and prefix pages, copy-on-write) and may run on
 * different threads at the same time; one session is used by one thread at a time.
 *
 * <pre>{@code
 * try (Model model = Model.open(path);
 *      Session s = model.session().strategy(new Strategy.Streaming(4, 0)).budgetTokens(4096).build()) {
 *     Generation g = s.generate(prompt, GenerateOptions.greedy(200), (id, text) -> System.out.print(text));
 * }
 * }</pre>
 */
public final class Session implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Session.class);

    static {
        SessionAccess.register(new SessionAccess() {
            @Override
            public SequenceKvCache cache(Session s) {
                return s.cache;
            }

            @Override
            public AttentionPlan plan(Session s) {
                return s.plan;
            }

            @Override
            public ModelConfig config(Session s) {
                return s.config;
            }

            @Override
            public int pendingToken(Session s) {
                return s.pending;
            }

            @Override
            public void stepWith(Session s, int token, AttentionPlan plan) {
                s.stepWith(token, plan);
            }

            @Override
            public void advanceExternally(Session s, int token) {
                s.advanceExternally(token);
            }
        });
    }

    /** Receives prefill progress: {@code done} of {@code total} prompt tokens. */
    @FunctionalInterface
    public interface Progress {
        void onProgress(int done, int total);
    }

    /**
     * Receives each generated token and the new text it completes (empty without a tokenizer): whole
     * UTF-8 characters, never any part of a stop string (text that could begin one is held back
     * until it cannot); the pieces together are the generation's text.
     */
    @FunctionalInterface
    public interface TokenListener {
        void onToken(int id, String text);
    }

    /** A block pool shared by a session and its forks, closed with the last of them. */
    private static final class SharedPool {
        final BlockPool pool;
        final AtomicInteger users = new AtomicInteger(1);

        SharedPool(BlockPool pool) {
            this.pool = pool;
        }

        void release() {
            if (users.decrementAndGet() == 0) {
                pool.close();
            }
        }
    }

    private final ModelConfig config;
    private final Decoder decoder;
    private final StrategyPlan plan;
    private final Tokenizer tokenizer;
    private final SharedPool pool;
    private final SequenceKvCache cache;
    private final int chunk;
    private final TensorOps ops;
    /** The decoder's buffers for this sequence: chunks of up to {@code chunk} tokens, allocated once. */
    private final Decoder.State state;
    private long position;
    private int[] history = new int[64];
    private int historyLength;
    /** A sampled token not yet run through the model (the next call feeds it first), or -1. */
    private int pending = -1;
    /** SirLLM: the last logits row of the previous step, which scores the next step's first token; else null. */
    private float[] lastRow;
    private boolean closed;

    private Session(ModelConfig config, Decoder decoder, StrategyPlan plan, Tokenizer tokenizer, SharedPool pool,
                    SequenceKvCache cache, int chunk, TensorOps ops) {
        this.config = config;
        this.decoder = decoder;
        this.plan = plan;
        this.tokenizer = tokenizer;
        this.pool = pool;
        this.cache = cache;
        this.chunk = chunk;
        this.ops = ops;
        this.state = decoder.newState(chunk);
    }

    /** Prompt tokens per prefill chunk unless {@link Builder#chunkSize} says otherwise. */
    public static final int DEFAULT_CHUNK = 256;

    /** A builder for a session over {@code weights}. */
    public static Builder builder(ModelWeights weights) {
        return new Builder(weights);
    }

    /** Options of a new session. */
    public static final class Builder {
        private final ModelWeights weights;
        private Tokenizer tokenizer;
        private Strategy strategy = new Strategy.Full();
        private int budgetTokens;
        private long budgetBytes;
        private DType kvType = KvLayout.DEFAULT_DTYPE;
        private int pageSize = KvLayout.DEFAULT_PAGE_SIZE;
        private int chunk = DEFAULT_CHUNK;
        private TensorOps ops;

        private Builder(ModelWeights weights) {
            this.weights = Objects.requireNonNull(weights, "weights");
        }

        /** The tokenizer, for streamed text and stop strings (optional). */
        public Builder tokenizer(Tokenizer t) {
            this.tokenizer = t;
            return this;
        }

        /** The long-context strategy (default {@link Strategy.Full}). */
        public Builder strategy(Strategy s) {
            this.strategy = Objects.requireNonNull(s, "strategy");
            return this;
        }

        /**
         * The budget in tokens per KV head: what evicting strategies keep (their zero parameters
         * are derived from it), and the longest context for strategies that keep every token.
         * Default: 4096 for evicting strategies, the model's context length otherwise.
         */
        public Builder budgetTokens(int tokens) {
            if (tokens <= 0) {
                throw new IllegalArgumentException("budgetTokens must be positive, got " + tokens);
            }
            this.budgetTokens = tokens;
            this.budgetBytes = 0;
            return this;
        }

        /** The budget in bytes of KV pages (data and metadata): a hard cap; the token budget is the most that fits. */
        public Builder budgetBytes(long bytes) {
            if (bytes <= 0) {
                throw new IllegalArgumentException("budgetBytes must be positive, got " + bytes);
            }
            this.budgetBytes = bytes;
            this.budgetTokens = 0;
            return this;
        }

        /** The KV page dtype: F32, F16, BF16 (default, {@link KvLayout#DEFAULT_DTYPE}) or Q8_0. */
        public Builder kvType(DType t) {
            this.kvType = Objects.requireNonNull(t, "kvType");
            return this;
        }

        /** Tokens per KV page (default 64). */
        public Builder pageSize(int tokens) {
            this.pageSize = tokens;
            return this;
        }

        /** Prompt tokens per prefill chunk (default {@link #DEFAULT_CHUNK}). */
        public Builder chunkSize(int tokens) {
            if (tokens <= 0) {
                throw new IllegalArgumentException("chunkSize must be positive, got " + tokens);
            }
            this.chunk = tokens;
            return this;
        }

        /** Kernels and thread pool (default {@link TensorOps#defaults()}). */
        public Builder ops(TensorOps o) {
            this.ops = Objects.requireNonNull(o, "ops");
            return this;
        }

        /**
         * Creates the session.
         *
         * @throws ContextBudgetException when the budget cannot hold the strategy's protected sets
         */
        public Session build() {
            ModelConfig c = weights.config();
            TensorOps o = ops != null ? ops : TensorOps.defaults();
            KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), pageSize, kvType);
            long pageBytes = BlockPool.pageBytes(layout);
            StrategyPlan plan;
            long bytes;
            if (budgetBytes > 0) {
                plan = largestFitting(layout, o, pageBytes);
                bytes = budgetBytes;
            } else {
                int tokens = budgetTokens > 0 ? budgetTokens : strategy.keepsEveryToken() ? c.maxPositions() : 4096;
                plan = StrategyPlan.resolve(strategy, tokens, layout, chunk, o, slidingWindows(c));
                bytes = poolBytes(plan, layout, pageBytes);
            }
            LOG.debug("session: {} with {} tokens per KV head, {} bytes of KV pages ({})", plan.strategy, plan.budgetTokens, bytes,
                    layout);
            SharedPool pool = new SharedPool(new BlockPool(layout, bytes));
            return new Session(c, new Decoder(weights, o), plan, tokenizer, pool, SequenceKvCache.create(pool.pool), chunk, o);
        }

        /** The plan with the largest token budget whose pages fit {@link #budgetBytes}. */
        private StrategyPlan largestFitting(KvLayout layout, TensorOps o, long pageBytes) {
            long perHeadPages = budgetBytes / pageBytes / ((long) layout.layers() * layout.kvHeads());
            int lo = 1;
            int hi = (int) Math.min(Integer.MAX_VALUE / 2, Math.max(1, perHeadPages * layout.pageSize()));
            StrategyPlan best = null;
            while (lo <= hi) {
                int mid = lo + (hi - lo) / 2;
                StrategyPlan p;
                try {
                    p = StrategyPlan.resolve(strategy, mid, layout, chunk, o, slidingWindows(weights.config()));
                } catch (ContextBudgetException e) {
                    lo = mid + 1;
                    continue;
                }
                if (poolBytes(p, layout, pageBytes) <= budgetBytes) {
                    best = p;
                    lo = mid + 1;
                } else {
                    hi = mid - 1;
                }
            }
            if (best == null) {
                throw new ContextBudgetException("a KV budget of " + budgetBytes + " bytes is too small for " + strategy.name()
                        + " (pages of " + pageBytes + " bytes, " + layout.layers() + " layers x " + layout.kvHeads()
                        + " KV heads, prefill chunks of " + chunk + " tokens)");
            }
            return best;
        }

        /**
         * The model's sliding window per layer, so that the session's plan returns the pages that
         * fall out of a local layer's window to the pool and sizes those layers for their window.
         */
        private static int[] slidingWindows(ModelConfig c) {
            return StrategyPlan.modelWindows(c);
        }

        private static long poolBytes(StrategyPlan plan, KvLayout layout, long pageBytes) {
            long pages = 0;
            for (int l = 0; l < layout.layers(); l++) {
                for (int h = 0; h < layout.kvHeads(); h++) {
                    pages += plan.pagesPerHead(l, h);
                }
            }
            return pages * pageBytes;
        }
    }

    /** Runs one token through the model with another plan (fidelity measurement). */
    private void stepWith(int token, AttentionPlan spy) {
        checkOpen();
        decoder.forward(cache, new int[] {token}, position, false, spy, false);
        position++;
        remember(token);
    }

    /** Records a token whose keys and values were appended to this cache by someone else. */
    private void advanceExternally(int token) {
        position++;
        remember(token);
    }

    /** The strategy with its parameters resolved. */
    public Strategy strategy() {
        return plan.strategy;
    }

    /** The token budget per KV head. */
    public int budgetTokens() {
        return plan.budgetTokens;
    }

    /** The bytes of KV pages this session's pool may hold. */
    public long kvBudgetBytes() {
        return pool.pool.stats().budgetBytes();
    }

    /** KV bytes this session's cache holds now. */
    public long kvBytesInUse() {
        checkOpen();
        return cache.bytesInUse();
    }

    /**
     * KV bytes this session's cache holds now in the layers of one type: {@code SLIDING_ATTENTION}
     * for the layers with a sliding window (which keep only their window), {@code FULL_ATTENTION}
     * for the others.
     */
    public long kvBytesInUse(ModelConfig.LayerType type) {
        checkOpen();
        long bytes = 0;
        for (int l = 0; l < config.layers(); l++) {
            boolean sliding = config.slidingWindow(l) > 0;
            if (sliding == (type == ModelConfig.LayerType.SLIDING_ATTENTION)) {
                bytes += cache.bytesInUse(l);
            }
        }
        return bytes;
    }

    /** Tokens run through the model so far (the next token's position). */
    public long position() {
        return position;
    }

    /**
     * Runs {@code ids} through the model in chunks, after any token sampled but not yet run, and
     * returns the logits after the last one.
     *
     * @throws ContextBudgetException before any work when the context would not fit
     */
    public float[] prefill(int[] ids, Progress progress) {
        checkOpen();
        Objects.requireNonNull(ids, "ids");
        checkContext(ids.length + (pending >= 0 ? 1 : 0), 0);
        return run(ids, progress).clone(); // the caller's copy: the decoder reuses its logits buffer
    }

    private float[] run(int[] ids, Progress progress) {
        int[] tokens = ids;
        if (pending >= 0) {
            tokens = new int[ids.length + 1];
            tokens[0] = pending;
            System.arraycopy(ids, 0, tokens, 1, ids.length);
            pending = -1;
        }
        if (tokens.length == 0) {
            throw new IllegalArgumentException("prefill: no tokens");
        }
        for (int id : tokens) {
            if (id < 0 || id >= config.vocabSize()) {
                throw new IllegalArgumentException("token id " + id + " outside the vocabulary of " + config.vocabSize());
            }
        }
        float[][] last = new float[1][];
        forwardChunks(tokens, false, progress, (from, logits) -> last[0] = logits);
        return last[0];
    }

    /**
     * One forward step of {@code tokens} at the session's position. Under SirLLM every row's logits
     * are computed to score the tokens: token i's entropy comes from row i - 1, the first token's
     * from the previous step's last row; the caller still gets what it asked for (every row or the
     * last).
     */
    private float[] forward(int[] tokens, boolean allLogits, boolean endsPrompt) {
        if (!plan.scoresTokenEntropy()) {
            return decoder.forward(state, cache, tokens, position, allLogits, plan, endsPrompt);
        }
        int vocab = config.vocabSize();
        if (lastRow != null) {
            plan.recordEntropy(cache, position, lastRow, 0, vocab, tokens[0]);
        }
        float[] rows = decoder.forward(state, cache, tokens, position, true, plan, endsPrompt);
        lastRow = plan.recordStepEntropies(cache, position, rows, tokens.length, tokens, 0, vocab);
        return allLogits ? rows : lastRow.clone(); // the caller's copy: a sampler may rewrite it (penalties), lastRow must not change
    }

    /** Logits of a chunk that starts at token index {@code from} of the input. */
    @FunctionalInterface
    private interface ChunkLogits {
        void accept(int from, float[] logits);
    }

    /**
     * Runs {@code tokens} through the model in chunks (the strategy evicting between them), handing
     * each chunk's logits (every row with {@code allLogits}, else the last) to {@code sink}, and
     * remembers the tokens.
     */
    private void forwardChunks(int[] tokens, boolean allLogits, Progress progress, ChunkLogits sink) {
        plan.beginPrompt(cache, position, tokens.length); // Squeezed Attention fixes its context at the first prompt
        for (int from = 0; from < tokens.length; from += chunk) {
            int to = Math.min(tokens.length, from + chunk);
            sink.accept(from, forward(Arrays.copyOfRange(tokens, from, to), allLogits, to == tokens.length));
            position += to - from;
            if (progress != null) {
                progress.onProgress(to, tokens.length);
            }
        }
        for (int id : tokens) {
            remember(id);
        }
    }

    /**
     * Runs {@code ids} through the model in chunks (evicting as the strategy does, like
     * {@link #prefill}) and returns the natural-log probability the model gave each next token:
     * {@code out[i] = ln p(ids[i + 1] | ..., ids[i])}, {@code ids.length - 1} values. For
     * perplexity: {@code exp(-mean(out))}.
     *
     * @throws IllegalStateException when a sampled token is still pending (call it on a fresh session or after prefill)
     */
    public double[] logProbabilities(int[] ids, Progress progress) {
        checkOpen();
        Objects.requireNonNull(ids, "ids");
        if (pending >= 0) {
            throw new IllegalStateException("logProbabilities: a generated token is pending; use a fresh session");
        }
        if (ids.length < 2) {
            throw new IllegalArgumentException("logProbabilities needs at least 2 tokens, got " + ids.length);
        }
        checkContext(ids.length, 0);
        int vocab = config.vocabSize();
        double[] out = new double[ids.length - 1];
        forwardChunks(ids, true, progress, (from, logits) -> {
            for (int r = 0; from + r + 1 < ids.length && r * vocab < logits.length; r++) {
                double max = Double.NEGATIVE_INFINITY;
                for (int v = 0; v < vocab; v++) {
                    max = Math.max(max, logits[r * vocab + v]);
                }
                double sum = 0;
                for (int v = 0; v < vocab; v++) {
                    sum += Math.exp(logits[r * vocab + v] - max);
                }
                out[from + r] = logits[r * vocab + ids[from + r + 1]] - max - Math.log(sum);
            }
        });
        return out;
    }

    private void remember(int id) {
        if (historyLength == history.length) {
            history = Arrays.copyOf(history, history.length * 2);
        }
        history[historyLength++] = id;
    }

    /**
     * Prefills {@code prompt} and generates up to {@code options.maxTokens()} tokens, calling
     * {@code listener} for each. The context (this session's tokens, the prompt and the tokens to
     * generate) is checked against the budget before any work.
     *
     * @throws ContextBudgetException when the context would not fit
     */
    public Generation generate(int[] prompt, GenerateOptions options, TokenListener listener) {
        return generate(prompt, options, listener, null);
    }

    /**
     * Encodes {@code prompt} with the session's tokenizer (with its special tokens, e.g. BOS, only
     * at the start of the session) and generates as {@link #generate(int[], GenerateOptions, TokenListener)}.
     *
     * @throws IllegalStateException when the session has no tokenizer
     */
    public Generation generate(String prompt, GenerateOptions options, TokenListener listener) {
        checkOpen();
        Objects.requireNonNull(prompt, "prompt");
        if (tokenizer == null) {
            throw new IllegalStateException("generate(String): this session has no tokenizer (Session.Builder.tokenizer)");
        }
        return generate(tokenizer.encode(prompt, position == 0 && pending < 0, false), options, listener, null);
    }

    /** As {@link #generate(int[], GenerateOptions, TokenListener)}, reporting prefill progress. */
    public Generation generate(int[] prompt, GenerateOptions options, TokenListener listener, Progress progress) {
        checkOpen();
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(options, "options");
        if (!options.stopStrings().isEmpty() && tokenizer == null) {
            throw new IllegalArgumentException("stop strings need a tokenizer (Session.Builder.tokenizer)");
        }
        checkContext(prompt.length + (pending >= 0 ? 1 : 0), options.maxTokens());
        long t0 = System.nanoTime();
        float[] logits = run(prompt, progress);
        long t1 = System.nanoTime();
        int[] stops = (options.stopIds() != null ? options.stopIds() : config.eosTokenIds()).stream().mapToInt(Integer::intValue)
                .toArray();
        Sampler sampler = new Sampler(options.sampler());
        StreamingDecoder text = tokenizer == null ? null : tokenizer.streamingDecoder(true);
        StopFilter out = new StopFilter(options.stopStrings());
        // Everything a decode step uses is allocated here, once per call: the output ids (at most
        // maxTokens), the one-token input, the sampler's scratch; the decoder's buffers are the session's.
        int[] ids = new int[options.maxTokens()];
        int count = 0;
        int[] step = new int[1];
        FinishReason reason = FinishReason.LENGTH;
        for (int i = 0; i < options.maxTokens(); i++) {
            int id = sampler.sample(logits, 0, config.vocabSize(), history, historyLength);
            ids[count++] = id;
            remember(id);
            if (contains(stops, id)) {
                // The stop id ends the output ids; its text (e.g. "<|endoftext|>") is not the answer's
                if (listener != null) {
                    listener.onToken(id, "");
                }
                reason = FinishReason.EOS;
                pending = id;
                break;
            }
            // the listener sees the text without any stop string: what could begin one is held back
            String shown = text == null ? "" : out.accept(text.accept(id));
            if (listener != null) {
                listener.onToken(id, shown);
            }
            if (out.stopped()) {
                reason = FinishReason.STOP_STRING;
                pending = id;
                break;
            }
            if (i == options.maxTokens() - 1) {
                pending = id; // not run yet: a later call feeds it first
                break;
            }
            step[0] = id;
            logits = forward(step, false, false);
            position++;
        }
        if (text != null && reason != FinishReason.STOP_STRING) {
            // bytes of earlier tokens still waiting for the rest of a character, and text held back for a stop string
            String rest = out.accept(text.flush()) + out.flush();
            if (listener != null && !rest.isEmpty() && count > 0) {
                listener.onToken(ids[count - 1], rest);
            }
        }
        historyLength--; // the pending token is remembered again when it is run
        long t2 = System.nanoTime();
        return new Generation(prompt.clone(), Arrays.copyOf(ids, count), out.text(), reason, t1 - t0, t2 - t1);
    }

    private static boolean contains(int[] ids, int id) {
        for (int s : ids) {
            if (s == id) {
                return true;
            }
        }
        return false;
    }

    private void checkContext(long adding, int generating) {
        long total = position + adding + generating;
        if (plan.strategy.keepsEveryToken() && total > config.maxPositions()) {
            throw new ContextBudgetException("a context of " + total + " tokens is longer than the model's context length of "
                    + config.maxPositions() + " under " + plan.strategy.name() + "; strategies that bound the cache run past it: "
                    + "streaming, h2o, snapkv");
        }
        if (total > plan.maxContext()) {
            throw new ContextBudgetException("a context of " + total + " tokens (" + position + " cached, " + adding + " to prefill, "
                    + generating + " to generate) does not fit the budget of " + plan.budgetTokens + " tokens per KV head under "
                    + plan.strategy.name() + ", which keeps every token; strategies that keep a bounded set fit any length: "
                    + "streaming, h2o, snapkv (or raise the budget)");
        }
    }

    /**
     * A new session continuing from this one's state: it shares the cached prefix pages
     * (copy-on-write) and the pool, and is independent from then on.
     */
    public Session fork() {
        checkOpen();
        pool.users.incrementAndGet();
        return copyState(new Session(config, decoder, plan, tokenizer, pool, cache.fork(), chunk, ops));
    }

    /**
     * A fork that continues under another strategy, e.g. Quest decoding after an exact prefill.
     * The cache is shared as it is, so this session's strategy must keep every token ({@code Full},
     * {@code Quest}, {@code SparsePrefill}, ...), and so must the fork's, except {@link Strategy.SnapKv}:
     * the budget stays this session's.
     *
     * <p>SnapKV's own prefill is the exact one, so a SnapKV fork of a full-cache session is a
     * SnapKV session that has prefilled the same tokens: prefill the question (at least SnapKV's
     * observation window, 32 tokens by default, in the fork's first call) and the fork's last
     * window votes over the whole shared prefix and keeps {@code capacity} tokens per KV head, as
     * a SnapKV session given the whole prompt in one chunk does (equal up to rounding), while the
     * document's prefill is paid once for any number of questions. Its capacity must be given (this
     * session's budget would keep every token). The fork prefills in this session's chunks, and a
     * SnapKV chunk selects, so the first call must fit one chunk. While it selects, the fork copies
     * the shared pages of one layer at a time (scores and evictions never touch a page the parent
     * still reads), so the pool needs room for one layer's share of the prefix plus the kept tokens
     * beside what the parent holds; otherwise {@link dev.longctx.kvcache.KvCacheFullException}, with
     * the parent intact.
     *
     * @throws IllegalArgumentException when this session's strategy evicts, or the fork's evicts and is not SnapKV
     */
    public Session fork(Strategy strategy) {
        checkOpen();
        if (!plan.strategy.keepsEveryToken() || !(strategy.keepsEveryToken() || strategy instanceof Strategy.SnapKv)) {
            throw new IllegalArgumentException("fork(strategy) needs a session that keeps every token and a strategy that does too"
                    + " (or snapkv, whose prefill is exact), got " + plan.strategy.name() + " -> " + strategy.name());
        }
        if (strategy instanceof Strategy.SnapKv k && k.capacity() == 0) {
            throw new IllegalArgumentException("fork(snapkv) needs SnapKV's capacity: this session's budget of " + plan.budgetTokens
                    + " tokens would keep every token");
        }
        StrategyPlan other = StrategyPlan.resolve(strategy, plan.budgetTokens, cache.layout(), chunk, ops, plan.slidingWindows());
        pool.users.incrementAndGet();
        return copyState(new Session(config, decoder, other, tokenizer, pool, cache.fork(), chunk, ops));
    }

    private Session copyState(Session s) {
        s.position = position;
        s.history = history.clone();
        s.historyLength = historyLength;
        s.pending = pending;
        s.lastRow = lastRow; // never written in place: each step makes a new one
        return s;
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("this session is closed");
        }
    }

    /** Frees this session's pages (and the pool, with the last of its forks). Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            cache.close();
            pool.release();
        }
    }
}
