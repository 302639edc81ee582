package dev.longctx.models.internal;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.BlockSparseAttention;
import dev.longctx.attention.HipEstimator;
import dev.longctx.attention.HipTokenAttention;
import dev.longctx.attention.HyperAttention;
import dev.longctx.attention.MInferenceEstimators;
import dev.longctx.attention.QuestAttention;
import dev.longctx.attention.SinkCalibratedAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.EvictionPolicy;
import dev.longctx.kvcache.H2oPolicy;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.MoaPolicy;
import dev.longctx.kvcache.RetrievalHeadPolicy;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.kvcache.SirLlmPolicy;
import dev.longctx.kvcache.TokenEntropies;
import dev.longctx.kvcache.SnapKvPolicy;
import dev.longctx.kvcache.StreamingLlmPolicy;
import dev.longctx.models.decoder.AttentionPlan;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.Strategy;
import java.util.Arrays;

/**
 * A {@link Strategy} with its parameters resolved against a token budget, as the decoder runs it:
 * kernels, observers, eviction after each layer's attention, and compaction of heads whose
 * scattered evictions left pages partly used. Also says how many pages a head may need, which
 * sizes the session's block pool. Holds no per-sequence state (scores live in the cache), so forks
 * share it. Internal: sessions and the serving engine build it; exported to longctx's own modules only.
 *
 * <p>Threading: immutable after construction, shared by the sequences that run it; the caches it
 * is given carry the per-sequence state and follow their own one-thread-at-a-time rule.
 */
public final class StrategyPlan implements AttentionPlan {
    /**
     * Keys a decode-time selection attends by default (Quest, TidalDecode, Recycled Attention) when
     * the budget, which for these strategies is the whole context, is larger: 4,096, the largest
     * budget Quest's paper evaluates (Tang et al., 2024: 512-4096).
     */
    static final int MAX_DEFAULT_SELECTED = 4096;

    /** StreamingLLM's number of attention sinks (Xiao et al., 2023). */
    public static final int DEFAULT_SINKS = 4;

    /** The strategy with its zero parameters resolved. */
    public final Strategy strategy;
    /** The token-level strategy the kernels, policy and page bounds follow: {@link #strategy}, or ThinK's inner one. */
    private final Strategy base;
    /** ThinK's channel pruning over {@link #base}'s kernels, or null. */
    private final ThinkPlan think;
    /** The token budget per KV head it was resolved against. */
    public final int budgetTokens;
    private final EvictionPolicy policy;
    private final KvLayout layout;
    private final int chunk;
    /** Exact attention as the decoder runs it without a strategy (split-K for decode steps and few-row chunks, tiled for larger chunks). */
    private final AttentionPlan exact;
    /** The exact kernel for chunks of query rows (also per head, under per-head masks). */
    private final AttentionKernel chunkKernel;
    /**
     * The strategy's own kernel, or null. StreamingLLM's is split-K over every KV head under the
     * sink + window mask, for decode steps and chunks alike (split-K hands tiles of more than
     * {@code TiledAttention.TILE_ROWS} rows to the tiled kernel). A kernel per head, as
     * {@code PerHeadAttention}, ran one single-row problem per head on one thread: 34-46 tok/s at
     * depth 16K against 46-57 through split-K.
     */
    private final AttentionKernel special;
    /** StreamingLLM's sinks + window mask, or null. */
    private final AttentionMask streamingMask;
    /** The retrieval-head split's or MoA's per-layer kernels, [decode step, chunk][layer], built once. */
    private final AttentionKernel[][] duoKernels;
    /**
     * Per layer, the model's sliding window (0: full attention) when the decoder returns the pages
     * that fall out of it to the pool; null when it keeps them (see {@link #releasesOutOfWindowPages}).
     */
    private final int[] slidingWindows;
    /** TidalDecode's or Recycled Attention's decode kernels and per-sequence state, or null. */
    private final PersistentSelectionPlan selection;
    /** InfLLM's decode kernels, scoring observer and per-sequence memory, or null. */
    private final InfLlmPlan infllm;
    /** Attention-sink calibration's per-layer kernels, [decode step, chunk][layer], or null. */
    private final AttentionKernel[][] sinkKernels;
    /** LongHeads' decode kernels and per-sequence chunk representations, or null. */
    private final LongHeadsPlan longheads;
    /** Squeezed Attention's per-sequence fixed context and clusters, or null. */
    private final SqueezedPlan squeezed;

    private StrategyPlan(Strategy outer, Strategy strategy, int budgetTokens, EvictionPolicy policy, KvLayout layout, int chunk,
                         TensorOps ops, int[] slidingWindows) {
        this.slidingWindows = slidingWindows == null ? null : slidingWindows.clone();
        if (slidingWindows != null && slidingWindows.length != layout.layers()) {
            throw new IllegalArgumentException("sliding windows for " + slidingWindows.length + " layers, the layout has "
                    + layout.layers());
        }
        this.strategy = outer;
        this.base = strategy;
        this.think = outer instanceof Strategy.ThinK t ? new ThinkPlan(t, layout.layers(), layout.kvHeads(), layout.headDim(), ops) : null;
        this.budgetTokens = budgetTokens;
        this.policy = policy;
        this.layout = layout;
        this.chunk = chunk;
        this.exact = AttentionPlan.exact(ops);
        this.chunkKernel = exact.kernel(0, 2); // the chunk kernel: split-K, tiled for large chunks
        this.special = switch (strategy) {
            case Strategy.Quest q -> new QuestAttention(ops, q.selected());
            case Strategy.SparsePrefill sp -> switch (sp.estimator()) {
                case VERTICAL_SLASH -> new BlockSparseAttention(ops, MInferenceEstimators.verticalSlash());
                case A_SHAPE -> new BlockSparseAttention(ops, MInferenceEstimators.aShape());
                case TOP_K_BLOCKS -> new BlockSparseAttention(ops, MInferenceEstimators.topKBlocks());
                case HIP -> new BlockSparseAttention(ops, new HipEstimator());
                case HIP_TOKEN -> new HipTokenAttention(ops);
                case HYPER_ATTENTION -> new HyperAttention(ops);
            };
            default -> null;
        };
        this.selection = strategy instanceof Strategy.TidalDecode || strategy instanceof Strategy.Recycled
                ? new PersistentSelectionPlan(strategy, layout.layers(), layout.kvHeads(), exact.kernel(0, 1), ops) : null;
        this.infllm = strategy instanceof Strategy.InfLlm i ? new InfLlmPlan(i, layout.layers(), layout.kvHeads(), layout.headDim(), ops) : null;
        this.longheads = strategy instanceof Strategy.LongHeads lh
                ? new LongHeadsPlan(lh, layout.layers(), layout.kvHeads(), layout.headDim(), ops) : null;
        this.squeezed = strategy instanceof Strategy.Squeezed sq ? new SqueezedPlan(sq, layout.layers(), ops) : null;
        if (strategy instanceof Strategy.SinkCalibration sc) {
            sinkKernels = new AttentionKernel[2][layout.layers()];
            for (int kind = 0; kind < 2; kind++) {
                for (int l = 0; l < layout.layers(); l++) {
                    int layer = l;
                    sinkKernels[kind][l] = new SinkCalibratedAttention(exact.kernel(l, kind == 0 ? 1 : 2), ops, h -> sc.heads().contains(layer, h),
                            (float) sc.thresholdOrDefault(), (float) sc.betaOrDefault());
                }
            }
        } else {
            sinkKernels = null;
        }
        this.streamingMask = strategy instanceof Strategy.Streaming s ? AttentionMask.slidingWindow(s.window(), s.sinks()) : null;
        this.duoKernels = new AttentionKernel[2][];
        if (policy instanceof MoaPolicy moa) {
            for (int kind = 0; kind < 2; kind++) {
                AttentionKernel k = exact.kernel(0, kind == 0 ? 1 : 2);
                duoKernels[kind] = new AttentionKernel[layout.layers()];
                for (int l = 0; l < layout.layers(); l++) {
                    duoKernels[kind][l] = moa.kernelForLayer(l, k);
                }
            }
        }
        if (policy instanceof RetrievalHeadPolicy duo) {
            for (int kind = 0; kind < 2; kind++) {
                AttentionKernel retrieval = exact.kernel(0, kind == 0 ? 1 : 2);
                duoKernels[kind] = new AttentionKernel[layout.layers()];
                for (int l = 0; l < layout.layers(); l++) {
                    duoKernels[kind][l] = duo.kernelForLayer(l, retrieval, chunkKernel);
                }
            }
        }
    }

    /**
     * Resolves {@code s}'s zero parameters from {@code budget} tokens per head and checks that its
     * protected sets fit.
     *
     * @throws ContextBudgetException when they do not
     */
    public static StrategyPlan resolve(Strategy s, int budget, KvLayout layout, int chunk, TensorOps ops) {
        return resolve(s, budget, layout, chunk, ops, null);
    }

    /**
     * As {@link #resolve(Strategy, int, KvLayout, int, TensorOps)}, for a model whose layers have
     * the sliding windows {@code slidingWindows} (per layer, 0 for full attention; null: keep every
     * layer's pages): the decoder then returns the pages that fall out of a sliding layer's window
     * to the pool (while the layer attends through its own window, see {@link #mask}), and such a
     * layer's heads are sized for their window and a chunk. Global layers follow the strategy.
     * Sessions use this, and so does the serving engine for requests that do not share pages with
     * its prefix cache (which shares whole blocks of every layer).
     *
     * @throws ContextBudgetException when the strategy's protected sets do not fit
     */
    public static StrategyPlan resolve(Strategy s, int budget, KvLayout layout, int chunk, TensorOps ops, int[] slidingWindows) {
        if (s instanceof Strategy.ThinK t) {
            StrategyPlan inner = resolve(t.inner(), budget, layout, chunk, ops, slidingWindows);
            Strategy.ThinK resolved = new Strategy.ThinK(inner.strategy, t.ratio(), t.window() > 0 ? t.window() : SnapKvPolicy.DEFAULT_WINDOW);
            return new StrategyPlan(resolved, inner.strategy, budget, inner.policy, layout, chunk, ops, slidingWindows);
        }
        Strategy r = switch (s) {
            case Strategy.Streaming st -> {
                int sinks = st.sinks() > 0 ? st.sinks() : DEFAULT_SINKS;
                int window = st.window() > 0 ? st.window() : budget - sinks;
                need(window >= 1 && sinks + window <= budget, s, budget, "sinks " + sinks + " + window " + Math.max(window, 1));
                yield new Strategy.Streaming(sinks, window);
            }
            case Strategy.H2o h -> {
                int heavy = h.heavy() > 0 ? h.heavy() : budget / 2;
                int recent = h.recent() > 0 ? h.recent() : budget - heavy;
                need(recent >= 1 && heavy + recent <= budget, s, budget, "heavy " + heavy + " + recent " + Math.max(recent, 1));
                yield new Strategy.H2o(heavy, recent);
            }
            case Strategy.SnapKv k -> {
                int window = k.window() > 0 ? k.window() : SnapKvPolicy.DEFAULT_WINDOW;
                int capacity = k.capacity() > 0 ? k.capacity() : budget;
                need(capacity >= window && capacity <= budget, s, budget, "capacity " + capacity + " >= window " + window);
                yield new Strategy.SnapKv(capacity, window, k.kernel() > 0 ? k.kernel() : SnapKvPolicy.DEFAULT_KERNEL);
            }
            case Strategy.Quest q -> new Strategy.Quest(q.selected() > 0 ? q.selected() : Math.min(budget, MAX_DEFAULT_SELECTED));
            case Strategy.TidalDecode t -> new Strategy.TidalDecode(t.selected() > 0 ? t.selected()
                    : Math.min(budget, MAX_DEFAULT_SELECTED), t.selectionLayer(), t.reselectionLayer());
            case Strategy.SirLlm sl -> {
                int sinks = sl.sinks() > 0 ? sl.sinks() : SirLlmPolicy.DEFAULT_SINKS;
                int capacity = sl.capacity() > 0 ? sl.capacity() : budget - sinks - sl.recent();
                need(capacity >= 1 && sinks + capacity + sl.recent() <= budget, s, budget, "sinks " + sinks + " + recent "
                        + sl.recent() + " + capacity " + Math.max(capacity, 1));
                yield new Strategy.SirLlm(sinks, capacity, sl.recent(), sl.decay() > 0 ? sl.decay() : SirLlmPolicy.DEFAULT_DECAY);
            }
            case Strategy.InfLlm i -> resolveInfLlm(i, budget);
            case Strategy.LongHeads lh -> resolveLongHeads(lh, budget);
            case Strategy.Squeezed sq -> new Strategy.Squeezed(sq.keep() > 0 ? sq.keep() : Strategy.Squeezed.DEFAULT_KEEP, sq.selected(),
                    sq.fixedTokens(), sq.keysPerCluster() > 0 ? sq.keysPerCluster() : Strategy.Squeezed.DEFAULT_KEYS_PER_CLUSTER,
                    sq.iterations() > 0 ? sq.iterations() : Strategy.Squeezed.DEFAULT_ITERATIONS);
            case Strategy.Recycled rc -> new Strategy.Recycled(rc.selected() > 0 ? rc.selected() : Math.min(budget, MAX_DEFAULT_SELECTED),
                    rc.stride() > 0 ? rc.stride() : Strategy.Recycled.DEFAULT_STRIDE);
            case Strategy.RetrievalHeads d -> {
                int sinks = d.sinks() > 0 ? d.sinks() : DEFAULT_SINKS;
                int window = d.window() > 0 ? d.window() : budget - sinks;
                need(window >= 1 && sinks + window <= budget, s, budget, "sinks " + sinks + " + window " + Math.max(window, 1));
                yield new Strategy.RetrievalHeads(d.profile(), sinks, window);
            }
            default -> s;
        };
        EvictionPolicy policy = switch (r) {
            case Strategy.Streaming st -> new StreamingLlmPolicy(st.sinks(), st.window());
            case Strategy.H2o h -> new H2oPolicy(h.heavy(), h.recent());
            case Strategy.SirLlm sl -> new SirLlmPolicy(sl.sinks(), sl.capacity(), sl.recent(), sl.decay());
            case Strategy.SnapKv k -> new SnapKvPolicy(k.capacity(), k.window(), k.kernel(), true);
            case Strategy.RetrievalHeads d -> new RetrievalHeadPolicy(d.profile(), layout, d.sinks(), d.window());
            case Strategy.Moa m -> new MoaPolicy(m.windows(), layout);
            default -> null;
        };
        return new StrategyPlan(r, r, budget, policy, layout, chunk, ops, slidingWindows);
    }

    /**
     * InfLLM's parameters: the paper's where the attended keys (given, else the budget) reach its
     * 6,272; below, sinks and unit size scale with {@code attended / 6272} (at least 1), 16 units of
     * 4 representatives (at most the unit) are kept, and the window takes the rest less one unit
     * (the tokens waiting to fill the next unit are attended with the window), so that a step
     * attends at most {@code attended} keys.
     */
    private static Strategy.InfLlm resolveInfLlm(Strategy.InfLlm i, int budget) {
        int attended = i.attended() > 0 ? i.attended() : Math.min(budget, Strategy.InfLlm.PAPER_ATTENDED);
        boolean paper = attended >= Strategy.InfLlm.PAPER_ATTENDED;
        double f = Math.min(1.0, attended / (double) Strategy.InfLlm.PAPER_ATTENDED);
        int sinks = i.sinks() > 0 ? i.sinks() : Math.max(1, (int) (Strategy.InfLlm.PAPER_SINKS * f));
        int unit = i.unit() > 0 ? i.unit() : Math.max(1, (int) (Strategy.InfLlm.PAPER_UNIT * f));
        int topK = i.topK() > 0 ? i.topK() : Strategy.InfLlm.PAPER_TOP_K;
        int reps = Math.min(i.reps() > 0 ? i.reps() : Strategy.InfLlm.PAPER_REPS, unit);
        int window = i.window() > 0 ? i.window() : paper ? Strategy.InfLlm.PAPER_WINDOW : attended - sinks - (topK + 1) * unit;
        if (window < 1) {
            throw new ContextBudgetException("a budget of " + attended + " attended keys per KV head is too small for infllm: sinks "
                    + sinks + " + " + topK + " units of " + unit + " leave no window");
        }
        return new Strategy.InfLlm(attended, sinks, window, unit, topK, reps, i.keyBound());
    }

    /**
     * LongHeads' parameters: the attended keys (given, else the budget, at most the paper's 4,096);
     * the paper's 16 chunks (given: that many) of {@code attended / chunks} positions, the paper's
     * 256 at 4,096 (given: that size, and then the chunks the attended keys hold).
     */
    private static Strategy.LongHeads resolveLongHeads(Strategy.LongHeads lh, int budget) {
        int attended = lh.attended() > 0 ? lh.attended() : Math.min(budget, Strategy.LongHeads.PAPER_ATTENDED);
        int chunks = lh.chunks() > 0 ? lh.chunks() : lh.chunk() > 0 ? attended / lh.chunk() : Strategy.LongHeads.PAPER_CHUNKS;
        int chunk = lh.chunk() > 0 ? lh.chunk() : attended / Math.max(1, chunks);
        if (chunks < 3 || chunk < 1) {
            throw new ContextBudgetException("a budget of " + attended + " attended keys per head is too small for longheads: it "
                    + "attends at least 3 chunks of at least 1 position (chunks " + chunks + " of " + chunk + ")");
        }
        return new Strategy.LongHeads(attended, chunk, chunks);
    }

    private static void need(boolean ok, Strategy s, int budget, String what) {
        if (!ok) {
            throw new ContextBudgetException("a budget of " + budget + " tokens per KV head is too small for " + s.name() + ": it needs "
                    + what + " to fit");
        }
    }

    /**
     * Pages the KV head {@code head} of {@code layer} may hold at most: the strategy's working set
     * plus a prefill chunk (or, for SnapKV, a page of decoded tokens between selections), rounded
     * up to pages, plus partly filled ones. Strategies that keep every token hold the budget. A
     * sliding layer whose out-of-window pages are released holds at most its window and a chunk
     * (positions {@code last - window + 1 ...} of a chunk's last row are in order, one page more for
     * the alignment), if that is less.
     */
    public long pagesPerHead(int layer, int head) {
        long strategyPages = strategyPagesPerHead(layer, head);
        if (releasesWindowOf(layer)) {
            return Math.min(strategyPages, ceil(slidingWindows[layer] + chunk, layout.pageSize()) + 1);
        }
        return strategyPages;
    }

    /** Whether the decoder releases {@code layer}'s out-of-window pages under this plan. */
    private boolean releasesWindowOf(int layer) {
        return slidingWindows != null && slidingWindows[layer] > 0 && keepsOwnWindow(slidingWindows[layer], 0);
    }

    /**
     * The model's sliding window per layer (0 for full attention), to pass to
     * {@link #resolve(Strategy, int, KvLayout, int, TensorOps, int[])}; null when no layer slides.
     */
    public static int[] modelWindows(dev.longctx.models.config.ModelConfig c) {
        int[] w = new int[c.layers()];
        boolean any = false;
        for (int l = 0; l < w.length; l++) {
            w[l] = c.slidingWindow(l);
            any |= w[l] > 0;
        }
        return any ? w : null;
    }

    /** The per-layer sliding windows this plan releases pages for, or null (a copy). */
    public int[] slidingWindows() {
        return slidingWindows == null ? null : slidingWindows.clone();
    }

    /**
     * The decoder returns a sliding layer's out-of-window pages to the pool (see
     * {@link #resolve(Strategy, int, KvLayout, int, TensorOps, int[])}).
     */
    @Override
    public boolean releasesOutOfWindowPages() {
        return slidingWindows != null;
    }

    private long strategyPagesPerHead(int layer, int head) {
        int ps = layout.pageSize();
        return switch (base) {
            case Strategy.Streaming s -> ceil(s.sinks(), ps) + ceil(s.window() + chunk, ps) + 1;
            case Strategy.H2o h -> ceil(h.heavy() + h.recent() + chunk, ps) + 2;
            // unscored tokens wait a step for their entropy: a chunk plus the next one (or a decode token)
            case Strategy.SirLlm sl -> ceil(sl.sinks() + sl.capacity() + sl.recent() + 2L * chunk, ps) + 2;
            case Strategy.SnapKv k -> ceil(k.capacity() + Math.max(chunk, ps), ps) + 2;
            case Strategy.RetrievalHeads d -> d.profile().role(layer, head) == HeadProfile.Role.RETRIEVAL
                    ? ceil(budgetTokens, ps) + 1 : ceil(d.sinks(), ps) + ceil(d.window() + chunk, ps) + 1;
            // the sinks' page, the window at the longest context plus a chunk (evicted after it), one page of alignment
            case Strategy.Moa m -> Math.min(ceil(budgetTokens, ps) + 1, ceil(m.windows().sinks(), ps)
                    + ceil(m.windows().mask(layer, head).windowAt(budgetTokens) + chunk, ps) + 1);
            default -> ceil(budgetTokens, ps) + 1;
        };
    }

    /** The longest context (prompt and generated tokens) the budget holds: the budget where every token is kept, else unbounded. */
    public long maxContext() {
        return strategy.keepsEveryToken() ? budgetTokens : Long.MAX_VALUE;
    }

    private static long ceil(long a, int b) {
        return (a + b - 1) / b;
    }

    /** Whether the session must score every token's entropy from its logits (SirLLM). */
    public boolean scoresTokenEntropy() {
        return policy instanceof SirLlmPolicy;
    }

    /**
     * Records the entropy {@code -ln p(token)} of the token at {@code position} from the logits
     * row {@code logits[offset .. offset + vocab)} that predicted it (SirLLM's score).
     */
    public void recordEntropy(SequenceKvCache cache, long position, float[] logits, int offset, int vocab, int token) {
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < vocab; v++) {
            max = Math.max(max, logits[offset + v]);
        }
        double sum = 0;
        for (int v = 0; v < vocab; v++) {
            sum += Math.exp(logits[offset + v] - max);
        }
        TokenEntropies.of(cache).record(position, (float) (max + Math.log(sum) - logits[offset + token]));
    }

    /**
     * SirLLM, after a step of {@code t} tokens at {@code position} whose every row's logits are
     * {@code rows}: records the entropy of each token after the step's first from the row that
     * predicted it ({@code tokens[from + r + 1]} from row r) and returns a copy of the last row,
     * which scores the next step's first token.
     */
    public float[] recordStepEntropies(SequenceKvCache cache, long position, float[] rows, int t, int[] tokens, int from, int vocab) {
        for (int r = 0; r + 1 < t; r++) {
            recordEntropy(cache, position + r + 1, rows, r * vocab, vocab, tokens[from + r + 1]);
        }
        return Arrays.copyOfRange(rows, (t - 1) * vocab, t * vocab);
    }

    /**
     * TidalDecode and Recycled Attention carry their selections in the sequence's cache, InfLLM and
     * LongHeads their memories, Squeezed Attention its fixed context's clusters; the others need no state.
     */
    @Override
    public AttentionKernel kernel(SequenceKvCache cache, int layer, int queryRows) {
        if (think != null) {
            return think.kernel(cache, layer, queryRows, kernel(layer, queryRows));
        }
        if (infllm != null) {
            return infllm.kernel(cache, layer, queryRows, exact.kernel(layer, queryRows));
        }
        if (longheads != null) {
            return longheads.kernel(cache, layer, queryRows, exact.kernel(layer, queryRows));
        }
        if (squeezed != null) {
            return squeezed.kernel(cache, layer, exact.kernel(layer, queryRows));
        }
        return selection != null ? selection.kernel(cache, layer, queryRows, exact.kernel(layer, queryRows)) : kernel(layer, queryRows);
    }

    /**
     * Tells the plan that a prompt of {@code promptTokens} tokens starts at {@code position} of the
     * sequence whose cache is {@code cache} (sessions and the serving engine call it before the
     * prompt's first chunk): Squeezed Attention fixes its fixed context at the first one. Nothing
     * for other strategies.
     */
    public void beginPrompt(SequenceKvCache cache, long position, int promptTokens) {
        if (squeezed != null) {
            squeezed.beginPrompt(cache, position, promptTokens);
        }
    }

    /** Squeezed Attention's fixed context for a first prompt of {@code promptTokens} tokens; 0 for other strategies. */
    public int squeezedFixed(int promptTokens) {
        return strategy instanceof Strategy.Squeezed sq ? sq.fixedFor(promptTokens) : 0;
    }

    /**
     * What Squeezed Attention's index of a fixed context of {@code fixed} tokens depends on besides
     * those tokens (cluster size, iterations, seed), as a value with {@code equals}: the tag the
     * serving engine files the index under in its prefix cache. Null for other strategies.
     */
    public Object squeezedIndexKey(int fixed) {
        return squeezed == null ? null : squeezed.indexKey(fixed);
    }

    /** The sequence's Squeezed Attention fixed context length (-1 before its first prompt; for tests); 0 for other strategies. */
    int squeezedFixedContext(SequenceKvCache cache) {
        return squeezed == null ? 0 : squeezed.fixed(cache);
    }

    /** Squeezed Attention's indices (one per layer) of the sequence once every layer has one; else (or for other strategies) null. */
    public dev.longctx.attention.SqueezedIndex[] squeezedIndexes(SequenceKvCache cache) {
        return squeezed == null ? null : squeezed.indexes(cache);
    }

    /** Whether the sequence's Squeezed Attention indices were handed over by {@link #adoptSqueezedIndexes}. */
    public boolean squeezedIndexesAdopted(SequenceKvCache cache) {
        return squeezed != null && squeezed.adopted(cache);
    }

    /**
     * Gives the sequence (after {@link #beginPrompt}, before any of its rows past the fixed context
     * ran) the indices another sequence built for the same fixed tokens under an equal
     * {@link #squeezedIndexKey}: it attends with them instead of clustering again.
     *
     * @throws IllegalStateException for other strategies
     * @throws IllegalArgumentException when the indices do not fit the sequence's fixed context
     */
    public void adoptSqueezedIndexes(SequenceKvCache cache, dev.longctx.attention.SqueezedIndex[] indexes) {
        if (squeezed == null) {
            throw new IllegalStateException("adoptSqueezedIndexes: the strategy is " + strategy.name() + ", not squeezed");
        }
        squeezed.adopt(cache, indexes);
    }

    /**
     * InfLLM's memory of {@code layer} of the sequence whose cache is {@code cache} (for tests and
     * the bench's selection probe); null for other strategies.
     */
    public dev.longctx.attention.InfLlmMemory infLlmMemory(SequenceKvCache cache, int layer) {
        return infllm == null ? null : infllm.memory(cache, layer);
    }

    /** LongHeads' chunk representations of {@code layer} of the sequence whose cache is {@code cache} (for tests); null for other strategies. */
    dev.longctx.attention.LongHeadsMemory longHeadsMemory(SequenceKvCache cache, int layer) {
        return longheads == null ? null : longheads.memory(cache, layer);
    }

    /** The eviction policy the plan runs (null for strategies that evict nothing); for tests. */
    EvictionPolicy policy() {
        return policy;
    }

    /** ThinK's plan (for tests); null for other strategies. */
    ThinkPlan thinkPlan() {
        return think;
    }

    /** The rule TidalDecode's and Recycled Attention's recording steps select with (null for other strategies; for tests). */
    dev.longctx.attention.SelectedAttentionBudget recordingBudget() {
        return selection == null ? null : selection.recordingBudget();
    }

    /** TidalDecode's token-selection and re-selection layers for this model ({-1, -1} for other strategies or none). */
    public int[] tidalLayers() {
        return selection == null ? new int[] {-1, -1} : new int[] {selection.selectionLayer(), selection.reselectionLayer()};
    }

    @Override
    public AttentionKernel kernel(int layer, int queryRows) {
        AttentionKernel exact = this.exact.kernel(layer, queryRows);
        return switch (base) {
            case Strategy.Quest q -> queryRows == 1 ? special : exact;
            case Strategy.SparsePrefill sp -> queryRows == 1 ? exact : special;
            case Strategy.Streaming s -> this.exact.kernel(0, 1); // split-K, or tiled for large tiles; the mask is the window
            case Strategy.RetrievalHeads d -> duoKernels[queryRows == 1 ? 0 : 1][layer];
            case Strategy.Moa m -> duoKernels[queryRows == 1 ? 0 : 1][layer];
            case Strategy.SinkCalibration sc -> sinkKernels[queryRows == 1 ? 0 : 1][layer];
            default -> exact;
        };
    }

    /**
     * StreamingLLM attends to its sinks and window, except in a sliding layer whose own window fits
     * inside the strategy's: that layer keeps its own mask, since every key the strategy keeps
     * beyond it (its sinks, the older part of its window) lies outside the model's window anyway
     * (positions stay the original ones). Before, Gemma's and Mistral's local layers attended to the
     * strategy's wider window, which the model never does.
     */
    @Override
    public AttentionMask mask(int layer, AttentionMask modelMask) {
        if (streamingMask == null || keepsOwnWindow(modelMask.window(), modelMask.sinks())) {
            return modelMask;
        }
        return streamingMask;
    }

    /** Whether a layer of sliding window {@code window} (0: full) attends through its own mask under this plan. */
    private boolean keepsOwnWindow(long window, long sinks) {
        return streamingMask == null || (window > 0 && sinks == 0 && window <= streamingMask.window());
    }

    @Override
    public AttentionObserver observer(SequenceKvCache cache, int layer, int queryRows, boolean endsPrompt) {
        if (infllm != null) {
            return infllm.observer(cache, layer, queryRows);
        }
        return switch (policy) {
            case H2oPolicy h -> h.observer(cache, layer);
            case SnapKvPolicy k -> k.prefillObserver(cache, layer, queryRows);
            case null, default -> null;
        };
    }

    @Override
    public void afterAttention(SequenceKvCache cache, int layer, int queryRows, boolean endsPrompt) {
        switch (policy) {
            case SnapKvPolicy k -> {
                // Select after a prefill chunk, or once decoded tokens put a head a page over capacity.
                if (queryRows > 1 || overCapacity(cache, layer, k.capacity() + layout.pageSize())) {
                    k.afterPrefill(cache, layer);
                    compact(cache, layer);
                }
            }
            case H2oPolicy h -> {
                h.afterStep(cache, layer);
                compact(cache, layer);
            }
            case SirLlmPolicy sl -> {
                sl.afterStep(cache, layer);
                compact(cache, layer);
            }
            case null -> {
            }
            default -> policy.afterStep(cache, layer);
        }
        if (think != null) {
            think.afterAttention(cache, layer, endsPrompt);
        }
    }

    private boolean overCapacity(SequenceKvCache cache, int layer, int limit) {
        for (int h = 0; h < layout.kvHeads(); h++) {
            if (cache.validLength(layer, h) > limit) {
                return true;
            }
        }
        return false;
    }

    /** Packs heads whose evictions left more than one spare page. */
    private void compact(SequenceKvCache cache, int layer) {
        int ps = layout.pageSize();
        for (int h = 0; h < layout.kvHeads(); h++) {
            if (cache.pages(layer, h) > ceil(cache.validLength(layer, h), ps) + 1) {
                cache.compact(layer, h);
            }
        }
    }
}
