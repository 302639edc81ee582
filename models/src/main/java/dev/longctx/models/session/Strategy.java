package dev.longctx.models.session;

import dev.longctx.kvcache.HeadProfile;
import java.util.Locale;
import java.util.Objects;

/**
 * A long-context strategy: what the KV cache keeps and how attention reads it. Parameters left at
 * 0 are derived from the session's token budget (see each record). Names (for the CLI and
 * benchmark tables): {@code full}, {@code streaming}, {@code h2o}, {@code snapkv}, {@code quest},
 * {@code tidal}, {@code recycled}, {@code sirllm}, {@code infllm}, {@code duo}, {@code sparse-prefill}.
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
     * stays bounded.
     *
     * @param capacity tokens kept per head after each selection (0: the budget)
     * @param window observation window (0: the paper's 32)
     */
    record SnapKv(int capacity, int window) implements Strategy {
        public SnapKv {
            nonNegative("snapkv capacity", capacity);
            nonNegative("snapkv window", window);
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
     */
    record InfLlm(int attended, int sinks, int window, int unit, int topK, int reps) implements Strategy {
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

        /** Every parameter derived from the budget. */
        public InfLlm() {
            this(0, 0, 0, 0, 0, 0);
        }

        @Override
        public String name() {
            return "infllm";
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
     * cache. Each prefill chunk's block mask comes from {@code estimator}.
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
            TOP_K_BLOCKS("top-k");

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
     * A strategy by name with budget-derived parameters ({@code duo} needs a profile, so it is
     * not available here). Some take parameters after a colon: {@code sparse-prefill:ESTIMATOR},
     * {@code tidal:SELECTION:RESELECTION} (layers as fractions of the depth),
     * {@code recycled:STRIDE}, {@code sirllm:DECAY[:RECENT]}, {@code infllm:TOPK[:REPS]} (colons, so that comma-separated lists of names still split).
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
                    + "' (vertical-slash, a-shape, top-k)");
        }
        int colon = lower.indexOf(':');
        if (colon > 0 && !lower.startsWith("sparse-prefill:")) {
            String[] args = lower.substring(colon + 1).split(":", -1);
            try {
                return switch (lower.substring(0, colon)) {
                    case "tidal" -> new TidalDecode(0, Double.parseDouble(args[0]), args.length > 1 ? Double.parseDouble(args[1]) : 0);
                    case "recycled" -> new Recycled(0, Integer.parseInt(args[0]));
                    case "sirllm" -> new SirLlm(0, 0, args.length > 1 ? Integer.parseInt(args[1]) : 0, Double.parseDouble(args[0]));
                    case "infllm" -> new InfLlm(0, 0, 0, 0, Integer.parseInt(args[0]), args.length > 1 ? Integer.parseInt(args[1]) : 0);
                    default -> throw new IllegalArgumentException("strategy '" + name + "' takes no parameters (tidal:S:R, "
                            + "recycled:STRIDE, sirllm:DECAY[:RECENT], infllm:TOPK[:REPS] and sparse-prefill:ESTIMATOR do)");
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
            case "sparse-prefill", "minference" -> new SparsePrefill();
            case "duo" -> throw new IllegalArgumentException("strategy 'duo' needs a head profile (--profile FILE)");
            default -> throw new IllegalArgumentException("unknown strategy '" + name
                    + "' (full, streaming, h2o, snapkv, quest, tidal, recycled, sirllm, infllm, duo, sparse-prefill[:vertical-slash|a-shape|top-k])");
        };
    }

    private static void nonNegative(String what, int v) {
        if (v < 0) {
            throw new IllegalArgumentException(what + " must be >= 0 (0 derives it from the budget), got " + v);
        }
    }
}
