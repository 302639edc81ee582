package dev.longctx.models.session;

import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.HeadWindows;
import java.util.Locale;
import java.util.Objects;

/**
 * A long-context strategy: what the KV cache keeps and how attention reads it. Parameters left at
 * 0 are derived from the session's token budget (see each record). Names (for the CLI and
 * benchmark tables): {@code full}, {@code streaming}, {@code h2o}, {@code snapkv}, {@code quest},
 * {@code tidal}, {@code recycled}, {@code sirllm}, {@code infllm}, {@code think}, {@code longheads}, {@code sink-calib}, {@code duo}, {@code moa}, {@code squeezed}, {@code sparse-prefill}.
 *
 * <p>Threading: every strategy is an immutable record and may be shared between threads; what a
 * sequence keeps while it runs one lives in that sequence's cache.
 */
public sealed interface Strategy {
    /** The short name. */
    String name();

    /** Whether the cache keeps every token (memory grows with the context). */
    boolean keepsEveryToken();

    /**
     * Whether the strategy keeps every token and changes only decode steps (Quest, TidalDecode,
     * Recycled Attention): its prefill and cached pages are the full cache's, so a fork of a
     * full-cache prefill decodes under it exactly as its own prefill would, and its pages may be
     * shared with full-cache requests.
     */
    default boolean selectsAtDecode() {
        return false;
    }

    /** Exact attention over the full cache: the reference. */
    record Full() implements Strategy {
        @Override
        public String name() {
            return "full";
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }
    }

    /**
     * StreamingLLM (Xiao et al., 2023): {@code sinks} first tokens plus the last {@code window}.
     * Cached keys keep their original positions.
     *
     * @param sinks attention sinks (0: the paper's 4)
     * @param window recent tokens (0: the budget less the sinks)
     */
    record Streaming(int sinks, int window) implements Strategy {
        public Streaming {
            nonNegative("streaming sinks", sinks);
            nonNegative("streaming window", window);
        }

        @Override
        public String name() {
            return "streaming";
        }

        @Override
        public boolean keepsEveryToken() {
            return false;
        }
    }

    /**
     * H2O (Zhang et al., 2023): the {@code heavy} tokens with the most accumulated attention plus
     * the last {@code recent}.
     *
     * @param heavy heavy hitters (0: half the budget)
     * @param recent recent tokens (0: the rest of the budget)
     */
    record H2o(int heavy, int recent) implements Strategy {
        public H2o {
            nonNegative("h2o heavy", heavy);
            nonNegative("h2o recent", recent);
        }

        @Override
        public String name() {
            return "h2o";
        }

        @Override
        public boolean keepsEveryToken() {
            return false;
        }
    }

    /**
     * SnapKV (Li et al., 2024), chunked: after each prefill chunk that leaves a head over
     * {@code capacity}, the chunk's last {@code window} queries vote (votes accumulate over chunks
     * and decode steps) and each head keeps its top prefix tokens plus the window. Decoded tokens
     * are appended; once they put a head a page over capacity the selection runs again, so memory
     * stays bounded. The paper selects once, voted by the prompt's last window (the question): a
     * prompt prefilled in several chunks is selected by every chunk's window, and the question's
     * votes come too late for what earlier chunks evicted (on the retrieval model, 0 of 5 needles
     * at 4K against 5 of 5). For the paper's selection, prefill the prompt in one chunk
     * ({@code chunkSize} of the prompt's length) or fork a full-cache session that has prefilled
     * the document ({@link Session#fork(Strategy)}), which also serves many questions per document.
     *
     * @param capacity tokens kept per head after each selection (0: the budget)
     * @param window observation window (0: the paper's 32)
     * @param kernel the votes' max-pooling kernel, odd (0: 7, the authors' LongBench configuration, window 32,
     *     kernel 7, max pooling; the SnapKV code's constructor default is 5). On the retrieval model a value is five
     *     tokens long and the votes peak on its start; a kernel of 5 loses its last token in the retrieval heads'
     *     layers, 7 and 9 keep it (docs/accuracy.md, runs K16, N13, K21 and K21b)
     */
    record SnapKv(int capacity, int window, int kernel) implements Strategy {
        public SnapKv {
            nonNegative("snapkv capacity", capacity);
            nonNegative("snapkv window", window);
            if (kernel < 0 || kernel > 0 && kernel % 2 == 0) {
                throw new IllegalArgumentException("snapkv pooling kernel must be odd (0: the default, 7), got " + kernel);
            }
        }

        /** The default pooling kernel (7, the authors' LongBench configuration). */
        public SnapKv(int capacity, int window) {
            this(capacity, window, 0);
        }

        @Override
        public String name() {
            return "snapkv";
        }

        @Override
        public boolean keepsEveryToken() {
            return false;
        }
    }

    /**
     * Quest (Tang et al., 2024): the full cache, and each decode step attends only the pages whose
     * key bounds promise the most, {@code selected} tokens' worth. Saves reads, not memory.
     *
     * @param selected keys attended per step (0: the budget)
     */
    record Quest(int selected) implements Strategy {
        public Quest {
            nonNegative("quest selected", selected);
        }

        @Override
        public String name() {
            return "quest";
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }

        @Override
        public boolean selectsAtDecode() {
            return true;
        }
    }

    /**
     * TidalDecode (Yang et al., 2024, "TidalDecode: Fast and Accurate LLM Decoding with Position
     * Persistent Sparse Attention"), at decode steps over the full cache: the layers before the
     * token-selection layer attend everything; the token-selection layer attends everything and
     * records, per KV head, the {@code selected} keys with the highest attention scores of the
     * step's query, 4 sinks and the 64 most recent positions always among them
     * ({@code RecordingAttention.withLocalWindow}: the paper's code keeps only the current token, but
     * on the retrieval model the heads that look 1-15 positions back lost all their attention
     * without the window, issue 21); the following layers attend only those
     * positions (position-persistent: the same positions, per KV head, at every layer), until the
     * re-selection layer, which attends everything and selects again for the layers after it.
     * Prefill is exact. The paper's defaults: layers 0-1 dense, selection at layer 2, re-selection
     * at layer 13 of Llama-3-8B's 32 (the reference code's example run; its function default is 9). The
     * layers are given as fractions of the depth so that small models get a proportional layout:
     * layer {@code ceil(fraction * layers)}.
     *
     * @param selected keys attended per KV head at the sparse layers (0: the budget, at most 4,096, as Quest)
     * @param selectionLayer depth fraction of the token-selection layer (0: the paper's 2/32)
     * @param reselectionLayer depth fraction of the re-selection layer (0: the paper's 13/32)
     */
    record TidalDecode(int selected, double selectionLayer, double reselectionLayer) implements Strategy {
        /** TidalDecode's token-selection layer, 2 of Llama-3-8B's 32 (Yang et al., 2024). */
        public static final double DEFAULT_SELECTION = 2.0 / 32;
        /** TidalDecode's re-selection ("correction") layer, 13 of 32 in the paper's examples (Yang et al., 2024). */
        public static final double DEFAULT_RESELECTION = 13.0 / 32;

        public TidalDecode {
            nonNegative("tidal selected", selected);
            if (!(selectionLayer >= 0 && selectionLayer < 1) || !(reselectionLayer >= 0 && reselectionLayer < 1)) {
                throw new IllegalArgumentException("tidal layers are fractions of the depth in [0, 1) (0: the paper's), got "
                        + selectionLayer + " and " + reselectionLayer);
            }
        }

        /** The token-selection layer of a model of {@code layers} layers. */
        public int selectionLayerIndex(int layers) {
            return layerIndex(selectionLayer > 0 ? selectionLayer : DEFAULT_SELECTION, layers);
        }

        /** The re-selection layer of a model of {@code layers} layers (none when not after the selection layer). */
        public int reselectionLayerIndex(int layers) {
            return layerIndex(reselectionLayer > 0 ? reselectionLayer : DEFAULT_RESELECTION, layers);
        }

        private static int layerIndex(double fraction, int layers) {
            // 1e-9 absorbs rounding in fraction * layers (13/32 * 32 is 13, not 13.000000000000002)
            return (int) Math.ceil(fraction * layers - 1e-9);
        }

        @Override
        public String name() {
            return "tidal";
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }

        @Override
        public boolean selectsAtDecode() {
            return true;
        }
    }

    /**
     * Recycled Attention (Xu, Goyal and Choi, 2024, "Recycled Attention: Efficient inference for
     * long-context language models"), at decode steps over the full cache: every {@code stride}-th
     * step (the first decode step after a prompt included) attends everything and records, per
     * layer and KV head, the {@code selected} keys with the highest attention scores (4 sinks and the
     * 64 most recent positions always among them, as TidalDecode's); the steps in
     * between attend only those keys plus the tokens generated since that full step. Prefill is
     * exact. Per KV head of a grouped-query model the group's probabilities are summed.
     *
     * @param selected keys recorded per layer and KV head at a full step (the paper's K; 0: the budget, at most 4,096, as Quest)
     * @param stride decode steps from one full step to the next (0: {@link #DEFAULT_STRIDE}; the paper's S)
     */
    record Recycled(int selected, int stride) implements Strategy {
        /**
         * The default stride S. The paper schedules full steps at a fixed stride and compares
         * several; 10 is our default (a full step every tenth token), not a value checked against
         * the paper's tables in this project.
         */
        public static final int DEFAULT_STRIDE = 10;

        public Recycled {
            nonNegative("recycled selected", selected);
            nonNegative("recycled stride", stride);
        }

        @Override
        public String name() {
            return "recycled";
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }

        @Override
        public boolean selectsAtDecode() {
            return true;
        }
    }

    /**
     * SirLLM (Yao et al., 2024, "SirLLM: Streaming Infinite Retentive LLM"): keeps {@code sinks}
     * first tokens, the {@code capacity} tokens with the highest token entropy
     * {@code -ln p(x_t | x_<t)} (the model's surprisal at each prefilled or generated token),
     * multiplied by {@code decay} at every later step, and the last {@code recent} tokens; evicts
     * the rest, for streaming (multi-turn) use. The session computes every prompt token's logits to
     * score it. Not yet in the serving engine (it does not compute per-token logits).
     *
     * @param sinks first tokens kept (0: the reference code's {@code start_size} 4)
     * @param capacity tokens kept by entropy (0: the budget less sinks and recent)
     * @param recent most recent tokens kept (the reference code's experiments use 0)
     * @param decay per-step decay of the scores in (0, 1] (0: the reference code's default 1, no decay)
     */
    record SirLlm(int sinks, int capacity, int recent, double decay) implements Strategy {
        public SirLlm {
            nonNegative("sirllm sinks", sinks);
            nonNegative("sirllm capacity", capacity);
            nonNegative("sirllm recent", recent);
            if (!(decay >= 0 && decay <= 1)) {
                throw new IllegalArgumentException("sirllm decay must be in (0, 1] (0: the default 1), got " + decay);
            }
        }

        @Override
        public String name() {
            return "sirllm";
        }

        @Override
        public boolean keepsEveryToken() {
            return false;
        }
    }

    /**
     * InfLLM (Xiao et al., 2024, "InfLLM: Training-Free Long-Context Extrapolation for LLMs with an
     * Efficient Context Memory"), over a cache that keeps every token in the paged pool: each decode
     * step attends, per KV head, the {@code sinks} initial tokens, the local window (the last
     * {@code window} positions, plus the fewer than {@code unit} tokens waiting to fill the next
     * unit) and the {@code topK} memory units most relevant to the step's query. A memory unit is a
     * block of {@code unit} consecutive positions that has left the window, represented by its
     * {@code reps} tokens that received the most attention from the queries that saw them inside the
     * window (attention probabilities summed over the query heads of the group, from prompt chunks
     * only: decode steps do not score, see {@code InfLlmPlan}; the paper's representative score is {@code r_m = sum_j q_{m+j} . k_m}
     * over the following window queries). Relevance of unit B to query q:
     * {@code sim(q, B) = sum_{r in reps(B)} q . k_r} (summed over the group's query heads).
     * Prompt chunks attend exactly (the paper also runs its memory during the prompt, in chunks of 512).
     *
     * <p>The paper's defaults (its Mistral-7B configuration, {@code config/mistral-inf-llm.yaml} of
     * the authors' repository thunlp/InfLLM: {@code n_init 128, n_local 4096, block_size 128,
     * repr_topk 4, topk 16}): 128 initial tokens, a 4,096-token local window, units of 128 tokens
     * with 4 representative tokens, 16 units retrieved per step (6,272 keys attended). Here a budget of {@code attended} keys per KV head below those 6,272 scales the
     * sinks, window and unit size down in proportion and keeps 16 units of 4 representatives.
     *
     * <p>Positions: cached keys keep their original positions (rotated once, when cached), as every
     * other strategy here; the paper instead puts every memory token at one distance (the window
     * size) from the current token so that a model never sees a distance beyond its training
     * length. Re-rotating the retrieved keys per step would cost a rotation of each retrieved key per
     * step and layer; on models run within their trained length (the retrieval model at 16K) original
     * positions are what the model was trained on. Not done: the paper's distance cap.
     *
     * @param attended keys attended per KV head per step when the others are 0 (0: the budget, at most the paper's 6,272)
     * @param sinks initial tokens (0: derived)
     * @param window local window (0: derived)
     * @param unit tokens per memory unit (0: derived)
     * @param topK units retrieved per step (0: the paper's 16)
     * @param reps representative tokens per unit (0: the paper's 4; at most the unit size)
     * @param keyBound false: the paper's relevance (the summed representative keys). true: the
     *     variant {@code infllm-bound}, not the paper's: units ranked by Quest's upper bound of their
     *     best key (per-channel key minimum and maximum of each unit,
     *     {@code InfLlmAttention.Relevance.KEY_BOUND}); on the retrieval model the paper's
     *     representatives are filler tokens (docs/strategies.md, run S14-P)
     */
    record InfLlm(int attended, int sinks, int window, int unit, int topK, int reps, boolean keyBound) implements Strategy {
        /** The paper's initial tokens (attention sinks). */
        public static final int PAPER_SINKS = 128;
        /** The paper's local window. */
        public static final int PAPER_WINDOW = 4096;
        /** The paper's memory unit size. */
        public static final int PAPER_UNIT = 128;
        /** The paper's units retrieved per step. */
        public static final int PAPER_TOP_K = 16;
        /** The paper's representative tokens per unit. */
        public static final int PAPER_REPS = 4;
        /** Keys the paper's defaults attend per step: 128 + 4,096 + 16 x 128. */
        public static final int PAPER_ATTENDED = PAPER_SINKS + PAPER_WINDOW + PAPER_TOP_K * PAPER_UNIT;

        public InfLlm {
            nonNegative("infllm attended", attended);
            nonNegative("infllm sinks", sinks);
            nonNegative("infllm window", window);
            nonNegative("infllm unit", unit);
            nonNegative("infllm topK", topK);
            nonNegative("infllm reps", reps);
        }

        /** The paper's relevance with the given parameters (0: derived). */
        public InfLlm(int attended, int sinks, int window, int unit, int topK, int reps) {
            this(attended, sinks, window, unit, topK, reps, false);
        }

        /** Every parameter derived from the budget. */
        public InfLlm() {
            this(0, 0, 0, 0, 0, 0);
        }

        @Override
        public String name() {
            return keyBound ? "infllm-bound" : "infllm";
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }
    }

    /**
     * LongHeads (Lu et al., 2024, "LongHeads: Multi-Head Attention is Secretly a Long Context
     * Processor"), at decode steps over the full cache: positions are cut into chunks of
     * {@code chunk}, and every query head attends its own {@code chunks} chunks: the first (the
     * attention sink), the last complete one and the incomplete one holding the query, plus the
     * {@code chunks - 3} others whose representation {@code r_c} scores highest against the head's
     * query ({@code q . r_c}). A chunk's representation is its keys pooled by attention from their
     * mean: {@code r_c = sum_j softmax_j(kbar_c . k_j / sqrt(d)) k_j} (see {@code LongHeadsAttention}
     * for how this differs from the authors' code, which pools from the mean of the chunk's
     * intra-chunk attention outputs). Prefill is exact (the paper also selects chunks while encoding
     * prompts beyond its 4K window: not done). Keys keep their original positions (the paper
     * re-assigns contiguous positions to the selected keys: not done).
     *
     * <p>The paper's defaults (the authors' README, LLaMA-2-7B): chunks of 256 positions and an
     * attention window of 4,096 (16 chunks). With fewer {@code attended} keys per head the 16 chunks
     * are kept and the chunk shrinks to {@code attended / 16} (2,048: chunks of 128).
     *
     * @param attended keys a head attends per step (0: the budget, at most the paper's 4,096)
     * @param chunk positions per chunk (0: derived)
     * @param chunks chunks a head attends, the three always attended included (0: the paper's 16; at least 3)
     */
    record LongHeads(int attended, int chunk, int chunks) implements Strategy {
        /** The paper's chunk size ({@code window_size}). */
        public static final int PAPER_CHUNK = 256;
        /** The paper's attention window ({@code atten_length}, LLaMA-2's pre-trained 4,096). */
        public static final int PAPER_ATTENDED = 4096;
        /** Chunks per head in the paper's setting: 4,096 / 256. */
        public static final int PAPER_CHUNKS = PAPER_ATTENDED / PAPER_CHUNK;

        public LongHeads {
            nonNegative("longheads attended", attended);
            nonNegative("longheads chunk", chunk);
            nonNegative("longheads chunks", chunks);
            if (chunks != 0 && chunks < 3) {
                throw new IllegalArgumentException("longheads attends at least 3 chunks (the first, the last complete and the "
                        + "incomplete one), got " + chunks);
            }
        }

        @Override
        public String name() {
            return "longheads";
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }

        @Override
        public boolean selectsAtDecode() {
            return true;
        }
    }

    /**
     * Attention-sink calibration, ACT (Yu et al., 2024, "Unveiling and Harnessing Hidden Attention
     * Sinks: Enhancing Large Language Models without Training through Attention Calibration"), over
     * the full cache: in the query heads of {@code heads}, every query row's keys at a position
     * other than 0 whose attention probability exceeds {@code threshold} (its sinks) get their
     * probability scaled by {@code beta}, and the other keys share the mass taken, in proportion to
     * their probabilities ({@code SinkCalibratedAttention} in engine-attention has the formula).
     * Prefill and decode alike; the cache is the full one. It changes the output: with
     * {@code beta = 1} it is exact attention.
     *
     * <p>The defaults are the authors' calibration script's ({@code scripts/calibration.sh} of
     * GATECH-EIC/ACT: {@code BETA=0.4}, {@code THRES=0.1}). The authors choose the heads by a search
     * on a calibration set (a head is kept when calibrating it raises accuracy); the bench and eval
     * commands here choose the heads whose attention collapses most onto non-initial sinks on the
     * model's own task instances (see {@code SinkHeadProfiler} in engine-bench).
     *
     * @param heads the calibrated query heads
     * @param threshold sink threshold on a probability, in (0, 1) (0: the authors' 0.1)
     * @param beta scale of a sink's probability, in [0, 1] (0 is taken as the default 0.4; to remove sinks entirely use a tiny value)
     */
    record SinkCalibration(SinkHeads heads, double threshold, double beta) implements Strategy {
        /** The authors' sink threshold ({@code THRES}). */
        public static final double DEFAULT_THRESHOLD = 0.1;
        /** The authors' sink scale ({@code BETA}). */
        public static final double DEFAULT_BETA = 0.4;

        public SinkCalibration {
            Objects.requireNonNull(heads, "heads");
            if (!(threshold >= 0 && threshold < 1)) {
                throw new IllegalArgumentException("sink-calib threshold must be in (0, 1) (0: the default 0.1), got " + threshold);
            }
            if (!(beta >= 0 && beta <= 1)) {
                throw new IllegalArgumentException("sink-calib beta must be in [0, 1] (0: the default 0.4), got " + beta);
            }
        }

        /** The threshold in use. */
        public double thresholdOrDefault() {
            return threshold > 0 ? threshold : DEFAULT_THRESHOLD;
        }

        /** The scale in use. */
        public double betaOrDefault() {
            return beta > 0 ? beta : DEFAULT_BETA;
        }

        @Override
        public String name() {
            return "sink-calib";
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }
    }

    /**
     * ThinK (Xu et al., 2024, "ThinK: Thinner Key Cache by Query-Driven Pruning") on top of a
     * token-level strategy: the {@code inner} strategy decides which tokens the cache keeps; at the
     * end of every prompt, per layer and KV head, each key channel {@code c} is scored
     * {@code || Q_obs[:, c] K[:, c]^T ||_F} (the last {@code window} prompt queries of the group's
     * query heads against the head's cached keys, after the inner strategy's selection) and the
     * {@code D - floor(ratio * D)} channels of highest score are kept; decode steps compute
     * {@code q.k} over the kept channels only (values untouched). Prompt chunks attend exactly. The
     * mask applies to every cached key, the ones decoded later included.
     *
     * <p>Memory: the pruned channels are still stored in the pool's pages (a page holds whole
     * keys of one width for every head), so this saves no KV memory here; the paper's saving is
     * {@code ratio} of the key cache (20 % of K + V at its 0.4). What it reproduces is the accuracy
     * of attention over pruned keys. The inner strategy must not keep per-sequence state of its
     * own (tidal, recycled, infllm, sirllm, squeezed): a sequence's cache carries one plan state.
     *
     * @param inner the token-level strategy (full, streaming, h2o, snapkv, quest, duo, sparse-prefill)
     * @param ratio the fraction lambda of key channels pruned, in [0, 1) (0: none, exact over {@code inner})
     * @param window observation window in prompt queries (0: SnapKV's 32, which the paper's code uses)
     */
    record ThinK(Strategy inner, double ratio, int window) implements Strategy {
        /**
         * The paper's pruning ratio lambda = 0.4 (Xu et al., 2024, section 4: the setting its
         * LongBench and needle tables report with SnapKV and H2O, "ThinK (0.4)").
         */
        public static final double PAPER_RATIO = 0.4;

        public ThinK {
            Objects.requireNonNull(inner, "inner");
            if (!(ratio >= 0 && ratio < 1)) {
                throw new IllegalArgumentException("think pruning ratio must be in [0, 1), got " + ratio);
            }
            nonNegative("think window", window);
            if (inner instanceof ThinK || inner instanceof TidalDecode || inner instanceof Recycled || inner instanceof InfLlm
                    || inner instanceof SirLlm || inner instanceof Squeezed) {
                throw new IllegalArgumentException("think composes with full, streaming, h2o, snapkv, quest, duo or sparse-prefill, not "
                        + inner.name() + " (a sequence's cache carries one strategy state)");
            }
        }

        /** ThinK at the paper's ratio over {@code inner}. */
        public ThinK(Strategy inner) {
            this(inner, PAPER_RATIO, 0);
        }

        @Override
        public String name() {
            return "think";
        }

        @Override
        public boolean keepsEveryToken() {
            return inner.keepsEveryToken();
        }
    }

    /**
     * MoA (Fu et al., 2024, "MoA: Mixture of Sparse Attention for Automatic Large Language Model
     * Compression"): heterogeneous sliding windows, per layer and KV head an elastic rule
     * {@code alpha + beta * N} plus sink tokens ({@link HeadWindows}), usually fitted from a
     * profile on the model's own task instances under a memory budget ({@code MoaProfile.fit}).
     * Each head attends through its own window (at the length so far, see
     * {@code AttentionMask.elasticWindow}) and its cache releases what no later query can see, so
     * memory per head is its window; prompt chunks and decode steps alike. With every head's
     * {@code beta} 1 it is exact attention.
     *
     * <p>Its budget is the longest context, as for the strategies that keep every token: windows
     * grow with the length ({@link #keepsEveryToken} is true in that sense; the memory actually held is
     * the windows').
     *
     * @param windows the per-head rules (must match the model's layers and KV heads)
     */
    record Moa(HeadWindows windows) implements Strategy {
        public Moa {
            Objects.requireNonNull(windows, "windows");
        }

        @Override
        public String name() {
            return "moa";
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }
    }

    /**
     * DuoAttention's retrieval-head split (Xiao et al., 2024) from a head profile: retrieval heads
     * keep everything, streaming heads keep {@code sinks} plus {@code window}.
     *
     * @param profile which KV heads are retrieval heads
     * @param sinks sinks of streaming heads (0: 4)
     * @param window window of streaming heads (0: the budget less the sinks)
     */
    record RetrievalHeads(HeadProfile profile, int sinks, int window) implements Strategy {
        public RetrievalHeads {
            Objects.requireNonNull(profile, "profile");
            nonNegative("duo sinks", sinks);
            nonNegative("duo window", window);
        }

        @Override
        public String name() {
            return "duo";
        }

        @Override
        public boolean keepsEveryToken() {
            return profile.retrievalHeads() > 0;
        }
    }

    /**
     * MInference-style block-sparse prefill (Jiang et al., 2024), then exact decode over the full
     * cache. Each prefill chunk's block mask comes from {@code estimator} (MInference's three, or
     * HiP's hierarchical pruning of pages); {@code hip-token} runs HiP at token granularity
     * ({@code HipTokenAttention}) and {@code hyper} HyperAttention's kernel on the chunks instead.
     *
     * <p>How sparse the mask is depends on the model: vertical-slash finds the columns and
     * diagonals that real models' attention concentrates on, but on random weights, whose attention
     * has no such structure, it keeps almost every block (97% for a 512-token chunk at 16K,
     * measured); A-shape and top-k keep a fixed share whatever the model.
     *
     * @param estimator how each chunk's block mask is estimated
     */
    record SparsePrefill(Estimator estimator) implements Strategy {
        /** The MInference pattern estimators ({@code MInferenceEstimators} in engine-attention). */
        public enum Estimator {
            /** Columns and diagonals from the last 64 queries' softmax (MInference's most common pattern). */
            VERTICAL_SLASH("vertical-slash"),
            /** Sink pages plus the most recent pages: 128 + 3968 tokens. */
            A_SHAPE("a-shape"),
            /** The top 4.9% of pages per query block by mean-pooled q.k (MInference's 100 of 2048 blocks). */
            TOP_K_BLOCKS("top-k"),
            /**
             * HiP (Lee et al., 2024): hierarchical top-k pruning of key pages per query block, 512
             * tokens kept besides the sink and diagonal pages ({@code HipEstimator}); not MInference's,
             * but the same block-sparse kernel.
             */
            HIP("hip"),
            /**
             * HiP at the paper's granularity (Lee et al., 2024; {@code HipTokenAttention}): per block of
             * 32 queries, 512 keys in blocks of 2 tokens found by the hierarchical top-k, plus 64 sink
             * tokens and the diagonal with a 64-token window, attended exactly; not a block mask.
             */
            HIP_TOKEN("hip-token"),
            /**
             * Not a block mask: the HyperAttention kernel (Han et al., 2023; {@code HyperAttention}):
             * sortLSH blocks of 256 plus 256 sampled columns, exact below 4096 keys.
             */
            HYPER_ATTENTION("hyper");

            private final String label;

            Estimator(String label) {
                this.label = label;
            }

            /** The name used after {@code sparse-prefill:}. */
            public String label() {
                return label;
            }
        }

        /** The default: vertical-slash. */
        public SparsePrefill() {
            this(Estimator.VERTICAL_SLASH);
        }

        public SparsePrefill {
            Objects.requireNonNull(estimator, "estimator");
        }

        @Override
        public String name() {
            return estimator == Estimator.VERTICAL_SLASH ? "sparse-prefill" : "sparse-prefill:" + estimator.label();
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }
    }

    /**
     * Squeezed Attention (Hooper et al., 2024, "Squeezed Attention: Accelerating Long Context Length
     * LLM Inference"): the keys of a <em>fixed context</em> are clustered once, per layer and KV
     * head, by k-means ({@code SqueezedIndex}); every later query row (the rest of the prompt, e.g.
     * the question, and every decoded token) ranks its KV head's centroids by {@code q . centroid},
     * takes clusters from the top until their keys reach the kept budget, and attends exactly to
     * those keys plus every key after the fixed context ({@code SqueezedAttention}). The fixed
     * context itself is prefilled exactly, so its pages are the full cache's (the serving engine
     * shares them with full-cache requests and builds a cached document's clusters once).
     *
     * <p><b>The fixed context</b> is the first {@code F} positions of the sequence, fixed at its
     * first prompt of {@code P} tokens: {@code F = min(fixedTokens, P - 1)}, or {@code P - 1} (the
     * whole prompt but its last token) when {@code fixedTokens} is 0. A later prompt in the same
     * session (a second turn) attends with the same clusters. Layers with a sliding window attend
     * exactly (the window already bounds them).
     *
     * <p><b>Defaults and where they come from.</b> The kept fraction 1/8 is the operating point the
     * paper's abstract reports for LongBench: "up to an 8x reduction [of the KV budget] with only a
     * 0.5 point accuracy gap" (its lossless point is 3.1x, a fraction of about 0.32). One cluster per
     * 32 keys and 10 Lloyd rounds are this project's choices ({@code SqueezedIndex}): the paper's
     * section on the offline clustering gives its centroid count as a share of the context length
     * and calibrates a score threshold instead of a fixed fraction, but its exact numbers could not
     * be checked here (only the abstract and third-party summaries were at hand); its hierarchical
     * (two-level) lookup is not built.
     *
     * @param keep fraction of the fixed context's keys each query head attends, in [0, 1] (0: 1/8)
     * @param selected fixed keys each query head attends (0: {@code keep} of the fixed context; given, it wins over keep)
     * @param fixedTokens length of the fixed context (0: the first prompt less its last token)
     * @param keysPerCluster fixed keys per centroid (0: {@link #DEFAULT_KEYS_PER_CLUSTER})
     * @param iterations Lloyd rounds of the k-means (0: {@link #DEFAULT_ITERATIONS})
     */
    record Squeezed(double keep, int selected, int fixedTokens, int keysPerCluster, int iterations) implements Strategy {
        /** The kept fraction: the 8x KV-budget reduction of the paper's abstract. */
        public static final double DEFAULT_KEEP = 1.0 / 8;
        /** One centroid per 32 fixed keys: this project's choice (see the record's Javadoc). */
        public static final int DEFAULT_KEYS_PER_CLUSTER = 32;
        /** Lloyd rounds: {@code SqueezedIndex.DEFAULT_ITERATIONS}, this project's choice. */
        public static final int DEFAULT_ITERATIONS = 10;

        public Squeezed {
            if (!(keep >= 0 && keep <= 1)) {
                throw new IllegalArgumentException("squeezed keep must be a fraction in (0, 1] (0: the default 1/8), got " + keep);
            }
            nonNegative("squeezed selected", selected);
            nonNegative("squeezed fixed tokens", fixedTokens);
            nonNegative("squeezed keys per cluster", keysPerCluster);
            nonNegative("squeezed iterations", iterations);
        }

        /** The defaults: 1/8 of the fixed context kept, the fixed context the first prompt less its last token. */
        public Squeezed() {
            this(0, 0, 0, 0, 0);
        }

        /**
         * The fixed context's length for a sequence whose first prompt has {@code promptTokens} tokens
         * (0 for a one-token prompt: then every row attends exactly).
         */
        public int fixedFor(int promptTokens) {
            int all = Math.max(0, promptTokens - 1);
            return fixedTokens > 0 ? Math.min(fixedTokens, all) : all;
        }

        @Override
        public String name() {
            return "squeezed";
        }

        @Override
        public boolean keepsEveryToken() {
            return true;
        }
    }

    /**
     * A strategy by name with budget-derived parameters ({@code duo} needs a profile, so it is
     * not available here). Some take parameters after a colon: {@code sparse-prefill:ESTIMATOR}, {@code snapkv:KERNEL}
     * (the votes' pooling kernel),
     * {@code tidal:SELECTION:RESELECTION} (layers as fractions of the depth),
     * {@code recycled:STRIDE}, {@code sirllm:DECAY[:RECENT]}, {@code infllm:TOPK[:REPS]},
     * {@code think:RATIO[:INNER]} (ThinK over the strategy named INNER, default snapkv; plain {@code think}: the paper's 0.4), {@code longheads:CHUNKS},
     * {@code squeezed:KEEP[:FIXED[:KEYS_PER_CLUSTER]]}, {@code sink-calib:HEADS[:BETA]} ({@code sink-calib} alone: every head) (colons, so that comma-separated lists of names still split).
     *
     * @throws IllegalArgumentException naming the known strategies
     */
    static Strategy parse(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        if (lower.startsWith("sparse-prefill:")) {
            String label = lower.substring("sparse-prefill:".length());
            for (SparsePrefill.Estimator e : SparsePrefill.Estimator.values()) {
                if (e.label().equals(label)) {
                    return new SparsePrefill(e);
                }
            }
            throw new IllegalArgumentException("unknown sparse-prefill estimator '" + label + "' in '" + name
                    + "' (vertical-slash, a-shape, top-k, hip, hip-token, hyper)");
        }
        int colon = lower.indexOf(':');
        if (colon > 0 && !lower.startsWith("sparse-prefill:")) {
            String[] args = lower.substring(colon + 1).split(":", -1);
            try {
                return switch (lower.substring(0, colon)) {
                    case "snapkv" -> new SnapKv(0, 0, Integer.parseInt(args[0]));
                    case "tidal" -> new TidalDecode(0, Double.parseDouble(args[0]), args.length > 1 ? Double.parseDouble(args[1]) : 0);
                    case "recycled" -> new Recycled(0, Integer.parseInt(args[0]));
                    case "sirllm" -> new SirLlm(0, 0, args.length > 1 ? Integer.parseInt(args[1]) : 0, Double.parseDouble(args[0]));
                    case "infllm" -> new InfLlm(0, 0, 0, 0, Integer.parseInt(args[0]), args.length > 1 ? Integer.parseInt(args[1]) : 0);
                    case "think" -> new ThinK(args.length > 1 ? parse(String.join(":", java.util.Arrays.copyOfRange(args, 1, args.length)))
                            : new SnapKv(0, 0), Double.parseDouble(args[0]), 0);
                    case "longheads" -> new LongHeads(0, 0, Integer.parseInt(args[0]));
                    case "sink-calib" -> new SinkCalibration(SinkHeads.parse(args[0]), 0, args.length > 1 ? Double.parseDouble(args[1]) : 0);
                    case "squeezed" -> {
                        if (args.length > 3) {
                            throw new IllegalArgumentException("strategy '" + name + "' has too many parameters (squeezed:KEEP[:FIXED[:KEYS_PER_CLUSTER]])");
                        }
                        yield new Squeezed(Double.parseDouble(args[0]), 0, args.length > 1 ? Integer.parseInt(args[1]) : 0,
                                args.length > 2 ? Integer.parseInt(args[2]) : 0, 0);
                    }
                    default -> throw new IllegalArgumentException("strategy '" + name + "' takes no parameters (snapkv:KERNEL, tidal:S:R, "
                            + "recycled:STRIDE, sirllm:DECAY[:RECENT], infllm:TOPK[:REPS], think:RATIO[:INNER], longheads:CHUNKS, "
                            + "sink-calib:HEADS[:BETA], squeezed:KEEP[:FIXED[:KEYS_PER_CLUSTER]] and sparse-prefill:ESTIMATOR do)");
                };
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad parameters in strategy '" + name + "': " + e.getMessage(), e);
            }
        }
        return switch (lower) {
            case "full" -> new Full();
            case "streaming", "streamingllm" -> new Streaming(0, 0);
            case "h2o" -> new H2o(0, 0);
            case "snapkv" -> new SnapKv(0, 0);
            case "quest" -> new Quest(0);
            case "tidal", "tidaldecode" -> new TidalDecode(0, 0, 0);
            case "recycled", "recycled-attention" -> new Recycled(0, 0);
            case "sirllm" -> new SirLlm(0, 0, 0, 0);
            case "infllm" -> new InfLlm();
            case "infllm-bound" -> new InfLlm(0, 0, 0, 0, 0, 0, true);
            case "think" -> new ThinK(new SnapKv(0, 0));
            case "longheads" -> new LongHeads(0, 0, 0);
            case "sink-calib", "act" -> new SinkCalibration(SinkHeads.all(), 0, 0);
            case "sparse-prefill", "minference" -> new SparsePrefill();
            case "squeezed", "squeezed-attention" -> new Squeezed();
            case "duo" -> throw new IllegalArgumentException("strategy 'duo' needs a head profile (--profile FILE)");
            case "moa" -> throw new IllegalArgumentException("strategy 'moa' needs a MoA profile (--moa-profile FILE, from "
                    + "profile-heads --moa)");
            default -> throw new IllegalArgumentException("unknown strategy '" + name
                    + "' (full, streaming, h2o, snapkv, quest, tidal, recycled, sirllm, infllm, think, longheads, sink-calib, duo, moa, "
                    + "squeezed, sparse-prefill[:vertical-slash|a-shape|top-k|hip|hip-token|hyper])");
        };
    }

    private static void nonNegative(String what, int v) {
        if (v < 0) {
            throw new IllegalArgumentException(what + " must be >= 0 (0 derives it from the budget), got " + v);
        }
    }
}
