package dev.longctx.spark;

import dev.longctx.models.session.Strategy;
import java.io.Serializable;
import java.util.Objects;

/**
 * A {@link Strategy} in a form that travels with a Spark job: the strategies are records of the
 * models module and are not {@link Serializable}, so the job carries the kind and its numeric
 * parameters and rebuilds the strategy on the executor.
 *
 * <p>Threading: an immutable value.
 *
 * @param kind the strategy's name ({@link Strategy#name()})
 * @param a the first parameter (sinks, heavy hitters, capacity, selected keys), 0 = derived from the budget
 * @param b the second parameter (window, recent tokens, observation window), 0 = derived
 * @param c the third parameter (SnapKV's pooling kernel), 0 = the default
 */
record StrategySpec(String kind, int a, int b, int c) implements Serializable {
    private static final long serialVersionUID = 2L;

    StrategySpec {
        Objects.requireNonNull(kind, "kind");
    }

    /** A spec without a third parameter (every kind but SnapKV). */
    StrategySpec(String kind, int a, int b) {
        this(kind, a, b, 0);
    }

    /**
     * The spec of {@code s}.
     *
     * @throws IllegalArgumentException for a retrieval-head strategy (its head profile is not shipped to executors)
     */
    static StrategySpec of(Strategy s) {
        Objects.requireNonNull(s, "strategy");
        return switch (s) {
            case Strategy.Full f -> new StrategySpec(f.name(), 0, 0);
            case Strategy.Streaming st -> new StrategySpec(st.name(), st.sinks(), st.window());
            case Strategy.H2o h -> new StrategySpec(h.name(), h.heavy(), h.recent());
            case Strategy.SnapKv k -> new StrategySpec(k.name(), k.capacity(), k.window(), k.kernel());
            case Strategy.Quest q -> new StrategySpec(q.name(), q.selected(), 0);
            case Strategy.TidalDecode t -> {
                if (t.selectionLayer() != 0 || t.reselectionLayer() != 0) {
                    throw new IllegalArgumentException("DocumentInference ships TidalDecode with the paper's layers only; "
                            + "got fractions " + t.selectionLayer() + " and " + t.reselectionLayer());
                }
                yield new StrategySpec(t.name(), t.selected(), 0);
            }
            case Strategy.Recycled r -> new StrategySpec(r.name(), r.selected(), r.stride());
            case Strategy.InfLlm i -> {
                if (i.sinks() != 0 || i.window() != 0 || i.unit() != 0 || i.reps() != 0 || i.keyBound()) {
                    throw new IllegalArgumentException("DocumentInference ships InfLLM's attended keys and units retrieved only (the paper's relevance); "
                            + "got " + i);
                }
                yield new StrategySpec(i.name(), i.attended(), i.topK());
            }
            case Strategy.LongHeads lh -> {
                if (lh.chunk() != 0) {
                    throw new IllegalArgumentException("DocumentInference ships LongHeads' attended keys and chunk count only; got " + lh);
                }
                yield new StrategySpec(lh.name(), lh.attended(), lh.chunks());
            }
            case Strategy.SirLlm sl -> throw new IllegalArgumentException("strategy 'sirllm' needs per-token logits, which the "
                    + "serving engine behind DocumentInference does not compute yet; use streaming, h2o, snapkv, quest or full");
            case Strategy.SparsePrefill p -> new StrategySpec(p.name(), 0, 0);
            case Strategy.Moa m -> throw new IllegalArgumentException("strategy 'moa' needs its per-head windows, which "
                    + "DocumentInference does not ship to executors yet; use streaming, h2o, snapkv, quest or full");
            case Strategy.ThinK t -> {
                String name = "think:" + t.ratio() + ":" + t.inner().name();
                if (t.window() != 0 || !Strategy.parse(name).equals(t)) {
                    throw new IllegalArgumentException("DocumentInference ships ThinK by name only (ratio and an inner strategy with "
                            + "budget-derived parameters, the default window); got " + t);
                }
                yield new StrategySpec(name, 0, 0);
            }
            case Strategy.Squeezed sq -> {
                String name = "squeezed:" + sq.keep() + ":" + sq.fixedTokens() + ":" + sq.keysPerCluster();
                if (!Strategy.parse(name).equals(sq)) {
                    throw new IllegalArgumentException("DocumentInference ships Squeezed Attention by name only (keep, fixed tokens, "
                            + "keys per cluster; no selected keys or iterations); got " + sq);
                }
                yield new StrategySpec(name, 0, 0);
            }
            case Strategy.SinkCalibration sc -> throw new IllegalArgumentException("strategy 'sink-calib' carries a head set, which "
                    + "DocumentInference does not ship to executors; use streaming, h2o, snapkv, quest or full");
            case Strategy.RetrievalHeads r -> throw new IllegalArgumentException("strategy 'duo' needs a head profile, which "
                    + "DocumentInference does not ship to executors; use streaming, h2o, snapkv, quest or full");
        };
    }

    /** The strategy again. */
    Strategy strategy() {
        return switch (kind) {
            case "full" -> new Strategy.Full();
            case "streaming" -> new Strategy.Streaming(a, b);
            case "h2o" -> new Strategy.H2o(a, b);
            case "snapkv" -> new Strategy.SnapKv(a, b, c);
            case "quest" -> new Strategy.Quest(a);
            case "tidal" -> new Strategy.TidalDecode(a, 0, 0);
            case "recycled" -> new Strategy.Recycled(a, b);
            case "infllm" -> new Strategy.InfLlm(a, 0, 0, 0, b, 0);
            case "longheads" -> new Strategy.LongHeads(a, 0, b);
            default -> Strategy.parse(kind); // the sparse-prefill variants, think and squeezed, by name
        };
    }
}
