package dev.longctx.bench.ruler;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import dev.longctx.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Answers task instances greedily under each strategy and budget and scores them by exact match.
 * The full cache prefills each prompt once; Quest, TidalDecode and Recycled Attention, which
 * prefill exactly and select keys only while decoding, decode from forks of that prefill; every other strategy prefills on its own
 * (its evictions run between prefill chunks).
 */
public final class RulerRunner {
    /** Extra tokens the keep-all sessions hold beyond the context, for the answer. */
    private static final int SPARE = 64;

    /** Makes a strategy from its name and the budget in tokens per KV head. */
    @FunctionalInterface
    public interface Strategies {
        /** The strategy {@code name} at {@code budgetTokens}. */
        Strategy make(String name, int budgetTokens) throws IOException;

        /** The strategy {@code name} at {@code budgetTokens} for a {@code context}-token instance (MoA fits its windows to it). */
        default Strategy make(String name, int budgetTokens, int context) throws IOException {
            return make(name, budgetTokens);
        }
    }

    /**
     * One answer.
     *
     * @param strategy the strategy's name as asked
     * @param budgetFraction the budget as a fraction of the context (1 for the full cache)
     * @param budgetTokens the budget in tokens per KV head
     * @param correct whether the answer matched exactly
     * @param output the answer given
     * @param kvBytes KV bytes in use after answering
     */
    public record Outcome(String strategy, double budgetFraction, int budgetTokens, boolean correct, String output, long kvBytes) {
    }

    private final ModelWeights weights;
    private final Tokenizer tokenizer;
    private final TensorOps ops;
    private final DType kvType;
    private final int chunk;
    private final boolean snapKvOneChunk;

    /**
     * @param chunk prefill chunk (evictions run between chunks)
     * @param snapKvOneChunk SnapKV prefills the whole prompt in one chunk (the paper's single selection)
     */
    public RulerRunner(ModelWeights weights, Tokenizer tokenizer, TensorOps ops, DType kvType, int chunk, boolean snapKvOneChunk) {
        this.weights = weights;
        this.tokenizer = tokenizer;
        this.ops = ops;
        this.kvType = kvType;
        this.chunk = chunk;
        this.snapKvOneChunk = snapKvOneChunk;
    }

    /** The budget in tokens for {@code fraction} of a {@code context}-token context. */
    public static int budgetTokens(double fraction, int context) {
        return Math.max(16, (int) Math.round(fraction * context));
    }

    /**
     * The session for {@code s} at a budget; strategies that keep every token get the whole context.
     * SnapKV prefills the prompt in one chunk, as the paper does (one selection after the prefill,
     * voted by the prompt's last window, which holds the question): chunked, the engine's SnapKV
     * adds up the votes of every chunk's window, and the question's votes are outweighed (measured:
     * 0 of 5 single needles at 4K with 128-token chunks, 5 of 5 in one chunk). {@link #run} runs plain
     * SnapKV as a fork of the full cache's prefill instead ({@link SnapKvForks}: the same selection,
     * equal up to rounding, without a second prefill); ThinK over SnapKV still prefills in one chunk.
     */
    private Session session(Strategy s, int budget, int context) {
        return session(s, budget, context, 0);
    }

    /** As {@link #session(Strategy, int, int)}, strategies that keep every token with {@code room} more tokens per KV head. */
    private Session session(Strategy s, int budget, int context, int room) {
        int tokens = s.keepsEveryToken() ? context + SPARE + room : budget;
        Strategy tokens0 = s instanceof Strategy.ThinK t ? t.inner() : s; // ThinK over SnapKV prefills as SnapKV does
        int c = tokens0 instanceof Strategy.SnapKv && snapKvOneChunk ? context : chunk;
        return Session.builder(weights).tokenizer(tokenizer).strategy(s).budgetTokens(tokens).kvType(kvType).chunkSize(c)
                .ops(ops).build();
    }

    /**
     * Answers {@code inst} under the full cache (always, first) and each other strategy at each
     * budget fraction.
     */
    public List<Outcome> run(TaskInstance inst, List<String> strategies, List<Double> fractions, Strategies factory)
            throws IOException {
        List<Outcome> out = new ArrayList<>();
        int context = inst.length();
        // the answer and its end of turn, a little more, within the model's context
        int maxNew = Math.min(inst.answerIds().length + 3, weights.config().maxPositions() - inst.promptLength());
        int[] prompt = inst.prompt();
        List<Strategy> made = new ArrayList<>();
        int maxBudget = 0;
        for (double frac : fractions) {
            int budget = budgetTokens(frac, context);
            maxBudget = Math.max(maxBudget, budget);
            for (String name : strategies) {
                made.add(name.equals("full") ? null : documentAsFixedContext(factory.make(name, budget, context), inst));
            }
        }
        // SnapKV in one chunk: a fork of the full cache's prefill at the prompt's tail (the same selection, no second prefill)
        boolean snapFork = snapKvOneChunk && SnapKvForks.fits(prompt.length, chunk)
                && made.stream().anyMatch(s -> s != null && SnapKvForks.forks(s));
        int head = snapFork ? prompt.length - SnapKvForks.TAIL : prompt.length;
        int[] tail = Arrays.copyOfRange(prompt, head, prompt.length);
        int room = snapFork ? SnapKvForks.room(weights.config().layers(), context, maxBudget) : 0;
        try (Session full = session(new Strategy.Full(), context, context, room)) {
            float[] logits = full.prefill(Arrays.copyOf(prompt, head), null);
            try (Session atTail = snapFork ? full.fork() : null) {
                if (snapFork) {
                    logits = full.prefill(tail, null);
                }
                if (strategies.contains("full")) {
                    try (Session f = full.fork()) {
                        out.add(outcome(inst, "full", 1.0, context, f, logits, maxNew));
                    }
                }
                int k = 0;
                for (double frac : fractions) {
                    int budget = budgetTokens(frac, context);
                    for (String name : strategies) {
                        Strategy s = made.get(k++);
                        if (s == null) {
                            continue;
                        }
                        if (s.selectsAtDecode()) { // Quest, TidalDecode, Recycled: the full cache's prefill, decoded from a fork
                            try (Session q = full.fork(s)) {
                                out.add(outcome(inst, name, frac, budget, q, logits, maxNew));
                            }
                        } else if (snapFork && SnapKvForks.forks(s)) {
                            try (Session snap = atTail.fork(SnapKvForks.withCapacity(s, budget))) {
                                out.add(outcome(inst, name, frac, budget, snap, snap.prefill(tail, null), maxNew));
                            }
                        } else {
                            try (Session other = session(s, budget, context)) {
                                float[] l = other.prefill(prompt, null);
                                out.add(outcome(inst, name, frac, budget, other, l, maxNew));
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    /**
     * Squeezed Attention clusters a fixed context offline and selects from it for the user's input that
     * arrives later (Hooper et al., 2024): here the fixed context is the document, up to the question,
     * so that the question's rows select clusters as the paper's queries do (a strategy that names its
     * own fixed length keeps it). Other strategies as they are.
     */
    static Strategy documentAsFixedContext(Strategy s, TaskInstance inst) {
        if (s instanceof Strategy.Squeezed sq && sq.fixedTokens() == 0) {
            return new Strategy.Squeezed(sq.keep(), sq.selected(), inst.questionStart(), sq.keysPerCluster(), sq.iterations());
        }
        return s;
    }

    private Outcome outcome(TaskInstance inst, String name, double frac, int budget, Session s, float[] logits, int maxNew) {
        String text = answer(s, logits, maxNew);
        return new Outcome(name, frac, budget, text.strip().equals(inst.answer()), text, s.kvBytesInUse());
    }

    /** Greedy answer from a prefilled session whose last logits are {@code logits}, up to the end of the turn. */
    String answer(Session s, float[] logits, int maxNew) {
        int first = argmax(logits);
        if (first == RulerSpec.EOS) {
            return "";
        }
        Generation g = s.generate(new int[] {first}, GenerateOptions.greedy(maxNew - 1).withStopIds(List.of(RulerSpec.EOS)), null);
        int[] ids = new int[g.outputIds().length + 1];
        ids[0] = first;
        System.arraycopy(g.outputIds(), 0, ids, 1, g.outputIds().length);
        int n = ids.length;
        while (n > 0 && ids[n - 1] == RulerSpec.EOS) {
            n--;
        }
        return tokenizer.decode(Arrays.copyOf(ids, n));
    }

    /**
     * Perplexity of {@code ids} under {@code s} at {@code budget} tokens. Quest selects pages only
     * for decode steps, so it is scored one token at a time (every token a decode step).
     */
    public double perplexity(int[] ids, Strategy s, int budget) {
        int tokens = s.keepsEveryToken() ? ids.length + SPARE : budget;
        try (Session session = Session.builder(weights).strategy(s).budgetTokens(tokens).kvType(kvType)
                .chunkSize(s.selectsAtDecode() ? 1 : chunk).ops(ops).build()) {
            double[] lp = session.logProbabilities(ids, null);
            return Math.exp(-Arrays.stream(lp).average().orElse(0));
        }
    }

    static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
