package dev.longctx.models.serving;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.PrefixCache;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.Model;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.Decoder;
import dev.longctx.models.internal.StrategyPlan;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.FinishReason;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Strategy;
import dev.longctx.models.tokenizer.StreamingDecoder;
import dev.longctx.models.tokenizer.Tokenizer;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Tags;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Serves many requests of one model at once: one KV block pool with a byte budget for all of them,
 * continuous batching, automatic prefix caching, and a long-context strategy chosen per request.
 *
 * <p><b>Steps.</b> A scheduler thread runs one batched forward step after another
 * ({@link Decoder#forwardBatch}): every running sequence that is decoding brings its next token,
 * and sequences with prompt left bring a chunk, within a per-step token budget (chunked prefill
 * mixed with decode, as vLLM and Sarathi-Serve do). The projections and the FFN run as one
 * matrix-matrix product over all rows of the step; RoPE, the KV append and attention run per
 * sequence against its own cache, under its own strategy.
 *
 * <p><b>Pages.</b> Before a step the scheduler reserves, for every sequence in it, the exact
 * pages its appends will take ({@link SequenceKvCache#pagesToAppend}), so no append of a step ever
 * finds the pool full and the budget is never exceeded. A waiting request is admitted (FIFO) when
 * the pages of its first chunk are free; when a running sequence needs pages and none are free,
 * unused prefix-cache blocks are freed first, then the newest running sequences are preempted
 * (pages freed; they wait at the front of the queue and recompute their tokens when readmitted,
 * keeping their sampler, so they finish with the tokens they would have produced). H2O and SnapKV
 * keep what the attention seen so far chose, which a recomputation would choose differently, so
 * their requests are "pinned": admitted only when their whole bounded working set is free, which
 * stays promised to them, and never preempted.
 *
 * <p><b>Prefix caching.</b> Full pages of requests whose strategy computes exact keys and values
 * over every token ({@code full}, {@code quest}) are kept after the request ends, keyed by their
 * tokens and everything before them ({@link PrefixCache}); a later request whose prompt starts
 * with cached blocks shares them copy-on-write and skips their prefill. Strategies that evict, or
 * whose prefill is approximate ({@code sparse-prefill}), neither publish nor reuse pages: their
 * pages hold what that request's eviction kept, not what another request would compute.
 * Squeezed Attention ({@code squeezed}) prefills its fixed context exactly, so it publishes and
 * reuses the blocks inside that context (and only those) with the full cache's requests; the
 * clusters of a fixed context are filed on its last whole cached block (a {@link PrefixCache}
 * annotation), so a later request with the same fixed tokens and cluster settings attends with
 * them instead of clustering again, and they are dropped when that block is reclaimed (they hold
 * heap memory, no pages). The counter {@code longctx.squeezed.index} (tags {@code source=built},
 * {@code source=prefix-cache}) counts both.
 *
 * <p><b>Exactness.</b> A request's tokens do not depend on what it is batched with, up to
 * floating-point rounding: a batched step sums the same products in another order than a
 * sequence alone (matrix-matrix against matrix-vector kernels), which can flip a near tie.
 * Prefill chunks end at multiples of the chunk size for every request, as in a {@code Session}
 * with the same chunk size, so evicting strategies evict at the same points.
 *
 * <p>Threading: thread-safe. {@link #submit} may be called from any thread; listeners run on the
 * engine's thread; {@link #close()} waits for the step in progress, then ends every request still
 * in flight with {@code CANCELLED} and frees every page.
 */
public final class ServingEngine implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(ServingEngine.class);
    private static final AtomicInteger ENGINES = new AtomicInteger();
    /** The prefix-cache namespace of strategies whose pages hold exact keys and values of every token. */
    private static final String EXACT = "exact";

    private final ModelConfig config;
    private final Tokenizer tokenizer;
    private final Model model;
    private final TensorOps ops;
    private final Decoder decoder;
    private final KvLayout layout;
    private final BlockPool pool;
    private final PrefixCache prefix;
    private final Strategy defaultStrategy;
    private final Duration defaultTimeout;
    private final int chunk;
    private final int stepTokens;
    private final int maxRunning;
    private final int maxQueue;
    /** Query-row x cached-key pairs the prefill chunks of one step may attend; 0: no limit. */
    private final long stepAttention;
    private final double stepAttentionRatio;
    private final EngineMetrics metrics;
    private final Thread thread;

    private final ConcurrentLinkedQueue<Sequence> inbox = new ConcurrentLinkedQueue<>();
    /** Requests not admitted yet (inbox and waiting): bounded by {@link #maxQueue}. */
    private final AtomicInteger queued = new AtomicInteger();
    private final AtomicLong ids = new AtomicLong();
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition work = lock.newCondition();
    private volatile boolean closing;
    private boolean wakeup;

    // Engine thread only.
    private final ArrayDeque<Sequence> waiting = new ArrayDeque<>();
    /** Admitted sequences, oldest admission first (preemption takes from the end). */
    private final List<Sequence> running = new ArrayList<>();
    private final Decoder.State batch;
    private final Decoder.Step[] steps;
    private final Sequence[] stepSeqs;
    private final int[] stepRows;

    // Published by the engine thread for stats().
    private volatile int runningCount;
    private final AtomicLong prefillTotal = new AtomicLong();
    private final AtomicLong decodeTotal = new AtomicLong();
    private final AtomicLong completed = new AtomicLong();
    private final AtomicLong preemptions = new AtomicLong();
    private final AtomicLong stepCount = new AtomicLong();

    private ServingEngine(Builder b) {
        this.model = b.model;
        this.config = model.config();
        this.tokenizer = model.hasTokenizer() ? model.tokenizer() : null;
        this.ops = model.ops();
        this.decoder = new Decoder(model.weights(), ops);
        this.layout = new KvLayout(config.layers(), config.kvHeads(), config.headDim(), b.pageSize, b.kvType);
        this.pool = new BlockPool(layout, b.budgetBytes);
        this.prefix = b.prefixCaching ? new PrefixCache(pool) : null;
        this.defaultStrategy = b.strategy;
        this.defaultTimeout = b.timeout;
        this.chunk = b.chunk;
        this.stepTokens = b.stepTokens;
        this.maxRunning = b.maxRunning;
        this.maxQueue = b.maxQueue;
        this.stepAttention = b.stepAttention;
        this.stepAttentionRatio = b.stepAttentionRatio;
        this.batch = decoder.newState(Math.max(stepTokens, maxRunning + chunk));
        this.steps = new Decoder.Step[maxRunning];
        this.stepSeqs = new Sequence[maxRunning];
        this.stepRows = new int[maxRunning];
        int n = ENGINES.incrementAndGet();
        this.metrics = new EngineMetrics(b.registry != null ? b.registry : new SimpleMeterRegistry(),
                Tags.of("engine", b.name != null ? b.name : "engine-" + n), this);
        LOG.info("serving engine: {} pages of {} bytes ({} bytes), {}, chunks of {} tokens, {} tokens per step, up to {} "
                        + "running and {} queued, prefix caching {}", pool.maxPages(), BlockPool.pageBytes(layout), b.budgetBytes,
                layout, chunk, stepTokens, maxRunning, maxQueue, prefix != null ? "on" : "off");
        this.thread = Thread.ofPlatform().name("longctx-engine-" + n).daemon(true).unstarted(this::loop);
        thread.start();
    }

    /** A builder for an engine over {@code model} (which must stay open until the engine is closed). */
    public static Builder builder(Model model) {
        return new Builder(model);
    }

    /** Options of a new engine. */
    public static final class Builder {
        private final Model model;
        private long budgetBytes = 1L << 30;
        private Strategy strategy = new Strategy.Full();
        private Duration timeout;
        private int chunk = 256;
        private int stepTokens = 512;
        private int maxRunning = 16;
        private int maxQueue = 1024;
        private int pageSize = KvLayout.DEFAULT_PAGE_SIZE;
        private DType kvType = KvLayout.DEFAULT_DTYPE;
        private boolean prefixCaching = true;
        private long stepAttention;
        private double stepAttentionRatio;
        private MeterRegistry registry;
        private String name;

        private Builder(Model model) {
            this.model = Objects.requireNonNull(model, "model");
        }

        /** Bytes of KV pages (data and metadata) for all sequences and the prefix cache together (default 1 GiB, committed as used). */
        public Builder budgetBytes(long bytes) {
            this.budgetBytes = positive("budgetBytes", bytes);
            return this;
        }

        /** The strategy of requests that name none (default {@code full}). */
        public Builder strategy(Strategy s) {
            this.strategy = Objects.requireNonNull(s, "strategy");
            return this;
        }

        /** The time limit of requests that set none (default: none). */
        public Builder timeout(Duration d) {
            this.timeout = Request.positive(d);
            return this;
        }

        /** Prompt tokens per prefill chunk (default 256, as sessions). */
        public Builder chunkTokens(int tokens) {
            this.chunk = (int) positive("chunkTokens", tokens);
            return this;
        }

        /**
         * Token rows per step (default 512): decode tokens first, then prefill chunks while they fit
         * (one chunk always may). Smaller steps keep inter-token latency low while a long prompt is
         * prefilled; larger ones prefill faster.
         */
        public Builder stepTokens(int tokens) {
            this.stepTokens = (int) positive("stepTokens", tokens);
            return this;
        }

        /**
         * The most query-row x cached-key pairs the prefill chunks of one step may attend (default
         * 0: no limit). A chunk's attention grows with the context already cached: at 16K tokens
         * one prompt row costs far more than its projections, so a token budget alone cannot keep
         * the step, and the decoding sequences' inter-token latency, short. With a limit, the
         * chunks of {@code full} and {@code quest} requests are cut to fit (at least one row per
         * step); other strategies keep their aligned chunks, whose boundaries decide what they
         * evict.
         */
        public Builder stepAttention(long keyRows) {
            this.stepAttention = positive("stepAttention", keyRows);
            return this;
        }

        /**
         * While sequences decode, the most query-row x cached-key pairs the prefill chunks of a step
         * may attend, as a multiple of the keys the decoding sequences attend in that step (the sum
         * of their cached tokens; default 0: no such limit). A decode row reads its whole cache, so
         * this keeps a long prompt's share of each step, and the decoding sequences' inter-token
         * latency, in proportion to their own attention whatever their depth: at {@code 1} the
         * chunks attend at most as many keys as the decoders. With no sequence decoding the chunks
         * are not limited by it (the prompt gets every step). Combines with {@link #stepAttention}
         * (the smaller limit wins) and cuts the same chunks ({@code full} and {@code quest}; at least
         * one row per step).
         */
        public Builder stepAttentionRatio(double ratio) {
            if (!(ratio > 0) || Double.isInfinite(ratio)) {
                throw new IllegalArgumentException("stepAttentionRatio must be a positive finite number, got " + ratio);
            }
            this.stepAttentionRatio = ratio;
            return this;
        }

        /** Sequences admitted at once (default 16). */
        public Builder maxRunning(int n) {
            this.maxRunning = (int) positive("maxRunning", n);
            return this;
        }

        /** Requests waiting for admission before {@link #submit} refuses more (default 1024). */
        public Builder maxQueue(int n) {
            this.maxQueue = (int) positive("maxQueue", n);
            return this;
        }

        /** Tokens per KV page and prefix-cache block (default 64). */
        public Builder pageSize(int tokens) {
            this.pageSize = (int) positive("pageSize", tokens);
            return this;
        }

        /** The KV page dtype (default {@link KvLayout#DEFAULT_DTYPE}). */
        public Builder kvType(DType t) {
            this.kvType = Objects.requireNonNull(t, "kvType");
            return this;
        }

        /** Whether full pages are kept and reused across requests (default on). */
        public Builder prefixCaching(boolean on) {
            this.prefixCaching = on;
            return this;
        }

        /** Where the meters go (default: a registry of the engine's own; see {@link #meterRegistry()}). */
        public Builder meterRegistry(MeterRegistry r) {
            this.registry = Objects.requireNonNull(r, "registry");
            return this;
        }

        /** The value of the meters' {@code engine} tag (default {@code engine-N}). */
        public Builder name(String n) {
            this.name = Objects.requireNonNull(n, "name");
            return this;
        }

        /**
         * Starts the engine's thread.
         *
         * @throws IllegalArgumentException when the budget is smaller than one page
         */
        public ServingEngine build() {
            return new ServingEngine(this);
        }

        private static long positive(String what, long v) {
            if (v <= 0) {
                throw new IllegalArgumentException(what + " must be positive, got " + v);
            }
            return v;
        }
    }

    /**
     * Queues a request and returns at once. The prompt is encoded and the request checked here:
     * nothing is allocated for a request that is refused.
     *
     * @throws IllegalArgumentException for an empty prompt, token ids outside the vocabulary, stop strings without a
     *     tokenizer or a text prompt without one
     * @throws ContextBudgetException when the context is longer than the model's or the request's budget allows
     * @throws RequestRejectedException when the queue is full, the request could never fit the KV budget, or the
     *     engine is closed
     */
    public RequestHandle submit(Request request) {
        Objects.requireNonNull(request, "request");
        if (closing) {
            throw new RequestRejectedException(RequestRejectedException.Reason.CLOSED, "the serving engine is closed");
        }
        int[] prompt = encode(request);
        GenerateOptions options = request.options();
        if (prompt.length == 0) {
            throw new IllegalArgumentException("empty prompt: a request needs at least one token");
        }
        for (int i = 0; i < prompt.length; i++) {
            if (prompt[i] < 0 || prompt[i] >= config.vocabSize()) {
                throw new IllegalArgumentException("prompt token " + i + " is " + prompt[i] + ", outside the vocabulary of "
                        + config.vocabSize());
            }
        }
        if (!options.stopStrings().isEmpty() && tokenizer == null) {
            throw new IllegalArgumentException("stop strings need a tokenizer; the model has none");
        }
        Strategy strategy = request.strategy() != null ? request.strategy() : defaultStrategy;
        long context = (long) prompt.length + options.maxTokens();
        if (strategy.keepsEveryToken() && context > config.maxPositions()) {
            throw new ContextBudgetException("a context of " + context + " tokens (" + prompt.length + " prompt + "
                    + options.maxTokens() + " to generate) is longer than the model's context length of " + config.maxPositions()
                    + " under " + strategy.name() + "; strategies that bound the cache run past it: streaming, h2o, snapkv");
        }
        int budget = request.budgetTokens() > 0 ? request.budgetTokens()
                : strategy.keepsEveryToken() ? (int) Math.min(config.maxPositions(), context) : 4096;
        // A request that shares pages with the prefix cache keeps every layer's blocks (the cache
        // shares whole blocks across layers); any other returns its sliding layers' old pages.
        boolean shares = prefix != null && shareable(strategy);
        StrategyPlan plan = StrategyPlan.resolve(strategy, budget, layout, chunk, ops,
                shares ? null : StrategyPlan.modelWindows(config));
        if (context > plan.maxContext()) {
            throw new ContextBudgetException("a context of " + context + " tokens does not fit the request's budget of " + budget
                    + " tokens per KV head under " + strategy.name() + ", which keeps every token");
        }
        long worst = worstPages(plan, context);
        if (worst > pool.maxPages()) {
            throw new RequestRejectedException(RequestRejectedException.Reason.TOO_LARGE, "the request needs up to " + worst
                    + " KV pages (" + worst * BlockPool.pageBytes(layout) + " bytes: " + context + " tokens under " + strategy.name()
                    + " with a budget of " + budget + " tokens per KV head) but the engine's KV budget of "
                    + pool.stats().budgetBytes() + " bytes holds " + pool.maxPages() + " pages");
        }
        if (queued.incrementAndGet() > maxQueue) {
            queued.decrementAndGet();
            throw new RequestRejectedException(RequestRejectedException.Reason.QUEUE_FULL, "the queue holds its limit of "
                    + maxQueue + " waiting requests; retry later");
        }
        long id = ids.incrementAndGet();
        long now = System.nanoTime();
        Duration timeout = request.timeout() != null ? request.timeout() : defaultTimeout;
        long deadline = timeout == null ? Long.MAX_VALUE : now + Math.min(timeout.toNanos(), Long.MAX_VALUE / 4);
        int[] stops = (options.stopIds() != null ? options.stopIds() : config.eosTokenIds()).stream().mapToInt(Integer::intValue)
                .toArray();
        StreamingDecoder text = tokenizer == null ? null : tokenizer.streamingDecoder(true);
        String namespace = shares ? EXACT : null;
        RequestHandle handle = new RequestHandle(id, prompt.length, this::wake);
        Sequence s = new Sequence(id, handle, request, options, plan, namespace, prompt, stops, text, now, deadline, worst);
        inbox.add(s);
        wake();
        if (closing && inbox.remove(s)) { // closed while submitting: the engine thread may be gone
            queued.decrementAndGet();
            throw new RequestRejectedException(RequestRejectedException.Reason.CLOSED, "the serving engine is closed");
        }
        return handle;
    }

    private int[] encode(Request r) {
        if (r.promptIds() != null) {
            return r.promptIds().clone();
        }
        if (r.promptText() != null) {
            if (tokenizer == null) {
                throw new IllegalArgumentException("a text prompt needs a tokenizer; the model has none (submit token ids)");
            }
            return tokenizer.encode(r.promptText());
        }
        return model.encodeChat(r.messages());
    }

    /**
     * Strategies whose cached pages equal what any other such request computes for the same tokens
     * (Squeezed Attention's for its fixed context only, which it prefills exactly: see
     * {@link Sequence#prefixLimit}).
     */
    private static boolean shareable(Strategy s) {
        return s instanceof Strategy.Full || s.selectsAtDecode() || s instanceof Strategy.Squeezed;
    }

    /**
     * The tag a Squeezed Attention index of {@code s}'s fixed context is filed under, on the cached
     * block that ends the fixed context's whole blocks: the plan's index key (cluster size,
     * iterations, seed, length) and the fixed tokens after those blocks. Null when the fixed context
     * holds no whole block (nothing to file it on).
     */
    private Object squeezedTag(Sequence s) {
        int ps = layout.pageSize();
        if (s.fixed < ps) {
            return null;
        }
        int whole = s.fixed / ps * ps;
        List<Integer> rest = new ArrayList<>();
        for (int i = whole; i < s.fixed; i++) {
            rest.add(s.tokens[i]);
        }
        return List.of(s.plan.squeezedIndexKey(s.fixed), rest);
    }

    /**
     * At admission: a Squeezed Attention request whose fixed context's clusters are in the prefix
     * cache (built by an earlier request with the same fixed tokens) attends with them instead of
     * clustering again.
     */
    private void adoptSqueezedIndex(Sequence s, SequenceKvCache cache) {
        if (!s.squeezed() || prefix == null || s.namespace == null) {
            return;
        }
        Object tag = squeezedTag(s);
        if (tag != null && prefix.annotation(s.tokens, s.fixed / layout.pageSize(), s.namespace, tag)
                instanceof dev.longctx.attention.SqueezedIndex[] index) {
            s.plan.adoptSqueezedIndexes(cache, index);
            s.indexSettled = true;
            metrics.squeezedIndexReuses.increment();
            LOG.debug("request {} reuses the clusters of its {}-token fixed context", s.id, s.fixed);
        }
    }

    /**
     * After a step: once a Squeezed Attention request has clustered its fixed context (every
     * layer), counts it and files the clusters on the fixed context's cached blocks, where later
     * requests with the same fixed tokens find them (they go when those blocks are reclaimed).
     */
    private void offerSqueezedIndex(Sequence s) {
        dev.longctx.attention.SqueezedIndex[] index = s.plan.squeezedIndexes(s.cache);
        if (index == null) {
            return;
        }
        s.indexSettled = true;
        metrics.squeezedIndexBuilds.increment();
        Object tag = squeezedTag(s);
        if (prefix != null && s.namespace != null && tag != null) {
            prefix.annotate(s.tokens, s.fixed / layout.pageSize(), s.namespace, tag, index);
        }
    }

    /** The most pages a request can hold at once: per head its strategy's bound, at most the whole context. */
    private long worstPages(StrategyPlan plan, long context) {
        int ps = layout.pageSize();
        long contextPages = (context + ps - 1) / ps + 1;
        long total = 0;
        for (int l = 0; l < layout.layers(); l++) {
            for (int h = 0; h < layout.kvHeads(); h++) {
                total += Math.min(plan.pagesPerHead(l, h), contextPages);
            }
        }
        return total;
    }

    private void wake() {
        lock.lock();
        try {
            wakeup = true;
            work.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The registry the meters are in. */
    public MeterRegistry meterRegistry() {
        return metrics.registry();
    }

    /** The strategy of requests that name none (the builder's {@code strategy}). */
    public Strategy defaultStrategy() {
        return defaultStrategy;
    }

    /** The model's config. */
    public ModelConfig config() {
        return config;
    }

    /** The model this engine serves. */
    public Model model() {
        return model;
    }

    /** A snapshot of the queue, the pages and the counters. Any thread. */
    public EngineStats stats() {
        int available = pool.availablePages();
        return new EngineStats(queued.get(), runningCount, pool.maxPages() - available, available,
                prefix == null ? 0 : prefix.cachedPages(), prefix == null ? 0 : prefix.lookupTokens(),
                prefix == null ? 0 : prefix.hitTokens(), prefillTotal.get(), decodeTotal.get(), completed.get(), preemptions.get(),
                stepCount.get());
    }

    /** Prefill tokens per second over the last 10 s. */
    public double prefillTokensPerSecond() {
        return metrics.prefillPerSecond();
    }

    /** Generated tokens per second over the last 10 s. */
    public double decodeTokensPerSecond() {
        return metrics.decodePerSecond();
    }

    // ---------------------------------------------------------------- the engine thread

    private void loop() {
        Throwable fatal = null;
        try {
            while (!closing) {
                drainInbox();
                reap(System.nanoTime());
                int n = schedule();
                if (n == 0) {
                    awaitWork();
                    continue;
                }
                runStep(n);
            }
        } catch (Throwable t) {
            fatal = t;
            LOG.error("serving engine stopped by an unexpected error", t);
        } finally {
            shutdown(fatal);
        }
    }

    private void drainInbox() {
        Sequence s;
        while ((s = inbox.poll()) != null) {
            waiting.addLast(s);
        }
    }

    private void awaitWork() throws InterruptedException {
        lock.lock();
        try {
            if (!wakeup && inbox.isEmpty() && !closing) {
                // Waiting requests or deadlines: look again soon; an idle engine sleeps until woken.
                if (waiting.isEmpty() && running.isEmpty()) {
                    work.await(1, TimeUnit.SECONDS);
                } else {
                    work.await(10, TimeUnit.MILLISECONDS);
                }
            }
            wakeup = false;
        } finally {
            lock.unlock();
        }
    }

    /** Ends cancelled and timed-out requests, running or waiting, freeing their pages. */
    private void reap(long now) {
        for (int i = running.size() - 1; i >= 0; i--) {
            Sequence s = running.get(i);
            FinishReason r = endedOutside(s, now);
            if (r != null) {
                finish(s, r);
            }
        }
        for (var it = waiting.iterator(); it.hasNext(); ) {
            Sequence s = it.next();
            FinishReason r = endedOutside(s, now);
            if (r != null) {
                it.remove();
                queued.decrementAndGet();
                complete(s, r);
            }
        }
    }

    private static FinishReason endedOutside(Sequence s, long now) {
        if (s.handle.cancelRequested()) {
            return FinishReason.CANCELLED;
        }
        return now - s.deadlineNanos >= 0 ? FinishReason.TIMEOUT : null;
    }

    /**
     * Chooses the next step: running sequences in admission order (each decoding one brings one
     * token; prefilling ones bring their next chunk while the step's token budget allows, and the
     * first always may), then waiting requests in arrival order while their first chunk fits.
     * Reserves each one's pages, freeing prefix-cache blocks and preempting newer sequences when
     * the pool is short.
     *
     * @return the number of sequences in the step
     */
    private int schedule() {
        int decoding = 0;
        for (Sequence s : running) {
            if (!s.prefilling) {
                decoding++;
            }
        }
        int prefillBudget = stepTokens - decoding;
        long attentionLeft = attentionLimit();
        boolean prefillScheduled = false;
        int reserved = 0;
        int n = 0;
        for (int i = 0; i < running.size(); i++) {
            Sequence s = running.get(i);
            int t = s.nextTokens(chunk);
            if (s.prefilling && attentionLeft < Long.MAX_VALUE && shareable(s.plan.strategy)) {
                // each row attends at most the cached keys plus the chunk's: cut the chunk to what is left
                t = (int) Math.max(1, Math.min(t, attentionLeft / Math.max(1, (long) s.computed + t)));
            }
            if (s.prefilling && prefillScheduled && t > prefillBudget) {
                continue;
            }
            int need = s.cache.pagesToAppend(t);
            if (!makeRoom(need, reserved, i, s)) {
                continue; // waits for older sequences to finish
            }
            reserved += need;
            if (s.prefilling) {
                prefillBudget -= t;
                attentionLeft -= (long) t * (s.computed + t);
                prefillScheduled = true;
            }
            stepSeqs[n] = s;
            stepRows[n] = t;
            n++;
        }
        while (!waiting.isEmpty() && running.size() < maxRunning) {
            Sequence s = waiting.peekFirst();
            int hit = prefix != null && s.namespace != null ? prefix.peek(s.tokens, s.length, s.prefixLimit(), s.namespace) : 0;
            int first = (int) Math.min(s.length, ((long) hit / chunk + 1) * chunk) - hit;
            if (prefillScheduled && first > prefillBudget) {
                break;
            }
            SequenceKvCache cache = SequenceKvCache.create(pool);
            if (hit > 0) {
                // attached (retained) before any room is made, so reclaiming cannot free these blocks
                hit = prefix.attach(cache, s.tokens, s.length, s.prefixLimit(), s.namespace);
                first = (int) Math.min(s.length, ((long) hit / chunk + 1) * chunk) - hit;
            }
            if (attentionLeft < Long.MAX_VALUE && shareable(s.plan.strategy)) {
                first = (int) Math.max(1, Math.min(first, attentionLeft / Math.max(1, (long) hit + first)));
            }
            int need = cache.pagesToAppend(first);
            // a pinned request is admitted with its whole bounded working set free (it is never preempted)
            int room = s.pinned ? (int) Math.max(need, s.worstPages - cache.pages()) : need;
            if (!makeRoom(room, reserved, running.size(), null)) {
                cache.close();
                break; // the head of the queue waits; later requests do not overtake it
            }
            reserved += need;
            if (prefix != null && s.namespace != null) {
                prefix.recordLookup(s.length, hit);
                metrics.prefixLookupTokens.increment(s.length);
                metrics.prefixHitTokens.increment(hit);
            }
            waiting.pollFirst();
            queued.decrementAndGet();
            s.plan.beginPrompt(cache, 0, s.promptLength);
            adoptSqueezedIndex(s, cache);
            s.cache = cache;
            s.computed = hit;
            s.published = hit / layout.pageSize();
            s.prefilling = true;
            if (s.state == null) {
                s.state = decoder.newSequenceState(chunk);
            }
            running.add(s);
            runningCount = running.size();
            if (s.firstScheduledNanos == 0) {
                s.firstScheduledNanos = System.nanoTime();
            }
            prefillBudget -= first;
            attentionLeft -= (long) first * (hit + first);
            prefillScheduled = true;
            stepSeqs[n] = s;
            stepRows[n] = first;
            n++;
        }
        runningCount = running.size();
        return n;
    }

    /**
     * The query-row x cached-key pairs this step's prefill chunks may attend: {@link Builder#stepAttention},
     * and {@link Builder#stepAttentionRatio} times the decoding sequences' cached tokens while any
     * decodes; the smaller, or no limit ({@code Long.MAX_VALUE}).
     */
    private long attentionLimit() {
        long limit = stepAttention > 0 ? stepAttention : Long.MAX_VALUE;
        if (stepAttentionRatio > 0) {
            long decodeKeys = 0;
            for (Sequence s : running) {
                if (!s.prefilling) {
                    decodeKeys += s.computed + 1; // its cache and the token it appends
                }
            }
            if (decodeKeys > 0) {
                limit = Math.min(limit, (long) Math.max(1, Math.min(Long.MAX_VALUE / 2.0, stepAttentionRatio * decodeKeys)));
            }
        }
        return limit;
    }

    /**
     * Makes {@code need} more pages available beyond {@code reserved}: frees unused prefix-cache
     * blocks, then preempts running sequences newer than index {@code self} (newest first) while
     * that can still make enough room.
     *
     * @return whether the pages are there
     */
    private boolean makeRoom(int need, int reserved, int self, Sequence s) {
        int pinned = pinnedReserve(s);
        int available = pool.availablePages() - reserved - pinned;
        if (need <= available) {
            return true;
        }
        if (prefix != null) {
            prefix.reclaim(need - available);
            available = pool.availablePages() - reserved - pinned;
            if (need <= available) {
                return true;
            }
        }
        long freeable = 0;
        for (int i = running.size() - 1; i > self; i--) {
            if (!running.get(i).pinned) {
                freeable += running.get(i).cache.pages();
            }
        }
        if (need > available + freeable) {
            return false; // preempting could not help (shared pages aside): wait
        }
        for (int i = running.size() - 1; i > self && need > available; i--) {
            if (!running.get(i).pinned) {
                preempt(running.get(i));
                available = pool.availablePages() - reserved - pinned;
            }
        }
        return need <= available;
    }

    /**
     * Pages promised to running pinned sequences (H2O, SnapKV) beyond what they hold: their
     * bounded working set was free when they were admitted and stays theirs, so they never need
     * preempting. {@code except}'s own promise is not counted against it.
     */
    private int pinnedReserve(Sequence except) {
        long sum = 0;
        for (Sequence r : running) {
            if (r.pinned && r != except) {
                sum += Math.max(0, r.worstPages - r.cache.pages());
            }
        }
        return (int) Math.min(Integer.MAX_VALUE, sum);
    }

    private void preempt(Sequence s) {
        running.remove(s);
        runningCount = running.size();
        s.cache.close();
        s.cache = null;
        s.lastRow = null; // recomputed from the first token with the cache
        s.computed = 0;
        s.published = 0;
        s.indexSettled = false; // the clusters went with the cache: adopted again or rebuilt on readmission
        s.prefilling = true;
        s.preemptions++;
        waiting.addFirst(s);
        queued.incrementAndGet();
        preemptions.incrementAndGet();
        metrics.preemptions.increment();
        LOG.debug("preempted request {} ({} tokens, {} generated)", s.id, s.length, s.generated);
    }

    private void runStep(int n) {
        int rows = 0;
        int prefill = 0;
        for (int i = 0; i < n; i++) {
            Sequence s = stepSeqs[i];
            int t = stepRows[i];
            boolean endsPrompt = s.prefilling && s.computed + t == s.length;
            // SirLLM scores each token by -ln p(token) from the row that predicted it, as a Session
            // does: the first from the previous step's last row, the rest from this step's rows
            boolean entropy = s.plan.scoresTokenEntropy();
            if (entropy && s.lastRow != null) {
                s.plan.recordEntropy(s.cache, s.computed, s.lastRow, 0, config.vocabSize(), s.tokens[s.computed]);
            }
            steps[i] = s.step.set(s.state, s.cache, s.input(t), s.computed, s.plan, endsPrompt, entropy);
            rows += t;
            if (s.prefilling) {
                prefill += t;
            }
        }
        long t0 = System.nanoTime();
        try {
            decoder.forwardBatch(batch, steps, n);
        } catch (RuntimeException | Error e) {
            // A step that fails may have written some layers of some sequences: none of them can go on.
            LOG.error("a forward step of {} sequences failed; they end with the error", n, e);
            for (int i = 0; i < n; i++) {
                fail(stepSeqs[i], e);
            }
            return;
        }
        long t1 = System.nanoTime();
        stepCount.incrementAndGet();
        prefillTotal.addAndGet(prefill);
        int before = (int) decodeTotal.get();
        for (int i = 0; i < n; i++) {
            Sequence s = stepSeqs[i];
            float[] logits = steps[i].logits();
            if (s.plan.scoresTokenEntropy()) {
                logits = recordEntropies(s, logits, stepRows[i]);
            }
            s.computed += stepRows[i];
            if (s.namespace != null) {
                int full = (s.squeezed() ? Math.min(s.computed, s.fixed) : s.computed) / layout.pageSize();
                if (full > s.published) {
                    s.published = prefix.publish(s.cache, s.tokens, s.published, full, s.namespace);
                }
            }
            if (s.squeezed() && !s.indexSettled) {
                offerSqueezedIndex(s);
            }
            if (s.computed == s.length) {
                s.prefilling = false;
                try {
                    sample(s, logits, t1);
                } catch (RuntimeException e) {
                    fail(s, e); // the listener threw
                }
            }
            stepSeqs[i] = null;
            steps[i] = null;
        }
        // decode throughput counts generated tokens (the first of a request comes from its last prefill chunk)
        metrics.step(t1 - t0, rows, prefill, t1);
        metrics.decodeRate(t1, (int) decodeTotal.get() - before);
        runningCount = running.size();
    }

    /**
     * SirLLM: records the entropy of the step's tokens after its first from the rows that predicted
     * them, keeps the last row for the next step's first token, and returns a copy of that row for
     * sampling (a sampler may rewrite it, the kept row must not change).
     */
    private float[] recordEntropies(Sequence s, float[] rows, int t) {
        s.lastRow = s.plan.recordStepEntropies(s.cache, s.computed, rows, t, s.tokens, s.computed, config.vocabSize());
        return s.lastRow.clone();
    }

    /** Samples the next token from {@code logits}, streams it, and ends the request when it should end. */
    private void sample(Sequence s, float[] logits, long now) {
        int id = s.sampler.sample(logits, 0, config.vocabSize(), s.tokens, s.length);
        s.tokens[s.length++] = id;
        s.generated++;
        decodeTotal.incrementAndGet();
        metrics.decodeTokens.increment(); // before the result can complete: a caller that joins sees it counted
        if (s.firstTokenNanos == 0) {
            s.firstTokenNanos = now;
            metrics.ttft(now - s.submitNanos);
        } else {
            metrics.itl(now - s.lastTokenNanos);
        }
        s.lastTokenNanos = now;
        if (s.contains(s.stopIds, id)) {
            emit(s, id, "");
            finish(s, FinishReason.EOS);
            return;
        }
        String shown = s.text == null ? "" : s.filter.accept(s.text.accept(id));
        emit(s, id, shown);
        if (s.filter.stopped()) {
            finish(s, FinishReason.STOP_STRING);
        } else if (s.generated == s.options.maxTokens()) {
            finish(s, FinishReason.LENGTH);
        }
    }

    private static void emit(Sequence s, int id, String text) {
        if (s.listener != null) {
            s.listener.onToken(id, text);
        }
    }

    /** Ends a running sequence: frees its pages and completes its result. */
    private void finish(Sequence s, FinishReason reason) {
        running.remove(s);
        runningCount = running.size();
        release(s);
        complete(s, reason);
    }

    private void complete(Sequence s, FinishReason reason) {
        if (s.text != null && reason != FinishReason.STOP_STRING) {
            // bytes of earlier tokens still waiting for the rest of a character, and text held back for a stop string
            String rest = s.filter.accept(s.text.flush()) + s.filter.flush();
            if (!rest.isEmpty() && s.generated > 0) {
                try {
                    emit(s, s.tokens[s.length - 1], rest);
                } catch (RuntimeException e) {
                    LOG.warn("request {}: the listener failed on the last text", s.id, e);
                }
            }
        }
        long end = System.nanoTime();
        long first = s.firstTokenNanos != 0 ? s.firstTokenNanos : end;
        long scheduled = s.firstScheduledNanos != 0 ? s.firstScheduledNanos : first;
        Generation g = new Generation(s.prompt(), s.output(), s.filter.text(), reason, first - scheduled, end - first);
        completed.incrementAndGet();
        metrics.finished(reason);
        s.state = null;
        s.handle.result().complete(g);
    }

    private void fail(Sequence s, Throwable e) {
        if (running.remove(s)) {
            release(s);
            runningCount = running.size();
        }
        s.state = null;
        completed.incrementAndGet();
        metrics.failed();
        s.handle.result().completeExceptionally(e);
    }

    private void release(Sequence s) {
        if (s.cache != null) {
            s.cache.close();
            s.cache = null;
        }
    }

    private void shutdown(Throwable fatal) {
        drainInbox();
        for (Sequence s : new ArrayList<>(running)) {
            if (fatal != null) {
                fail(s, fatal);
            } else {
                finish(s, FinishReason.CANCELLED);
            }
        }
        for (Sequence s : waiting) {
            queued.decrementAndGet();
            if (fatal != null) {
                fail(s, fatal);
            } else {
                complete(s, FinishReason.CANCELLED);
            }
        }
        waiting.clear();
        runningCount = 0;
        if (prefix != null) {
            prefix.close();
        }
    }

    /**
     * Stops the engine: the step in progress completes, every request still running or waiting
     * ends with {@code CANCELLED} (its result completes), every page is freed and the pool's memory
     * released. Requests submitted afterwards are refused. Idempotent; the model stays open.
     */
    @Override
    public void close() {
        closing = true;
        wake();
        boolean interrupted = false;
        while (thread.isAlive()) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        // A request that slipped in after the thread's last look is refused here.
        Sequence s;
        while ((s = inbox.poll()) != null) {
            queued.decrementAndGet();
            complete(s, FinishReason.CANCELLED);
        }
        metrics.close();
        pool.close();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }
}
