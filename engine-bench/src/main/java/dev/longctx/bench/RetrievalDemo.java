package dev.longctx.bench;

import dev.longctx.bench.ruler.FillerPool;
import dev.longctx.bench.ruler.RandomSource;
import dev.longctx.bench.ruler.RulerCharts;
import dev.longctx.bench.ruler.RulerGenerator;
import dev.longctx.bench.ruler.RulerSpec;
import dev.longctx.bench.ruler.SinkHeadProfiler;
import dev.longctx.bench.ruler.SnapKvForks;
import dev.longctx.bench.ruler.TaskHeadProfiler;
import dev.longctx.bench.ruler.TaskInstance;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.models.Model;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.SinkHeads;
import dev.longctx.models.session.Strategy;
import dev.longctx.models.tokenizer.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The main job on the retrieval model of {@code tools/retrieval-model}: long documents of one of
 * its generator's tasks (by default multi-key needles: many key/value needle sentences, one key
 * asked; the asked needle at depths spread over the document), answered greedily under each strategy at one budget; per strategy, exact-match
 * accuracy, prefill and decode tokens/s and KV memory, and a chart of them.
 */
final class RetrievalDemo {
    /** StreamingLLM's sinks, kept by duo's streaming heads too. */
    private static final int SINKS = 4;
    /** Extra tokens the keep-all sessions hold beyond the context. */
    private static final int SPARE = 64;

    /**
     * What to run.
     *
     * @param model the GGUF or Hugging Face folder
     * @param tasksJson the generator's spec
     * @param context tokens of each conversation (prompt, generated tokens)
     * @param task the generator's task for every document (one of {@link RulerGenerator#TASKS})
     * @param instances documents (needle depths spread over [0.05, 0.95])
     * @param budgetFraction the budget as a fraction of the context
     * @param decode tokens generated per answer (the answer is what comes before the first end of turn)
     * @param strategies the strategies; full runs first
     * @param profile duo's head profile, or null to profile on task instances first
     * @param chart where the chart goes
     * @param seed the instances' seed
     * @param kvType KV page dtype
     * @param chunk prefill chunk
     */
    record Settings(Path model, Path tasksJson, String task, int context, int instances, double budgetFraction, int decode, List<String> strategies,
                    Path profile, Path chart, long seed, DType kvType, int chunk) {
    }

    /** Totals of one strategy. */
    private static final class Row {
        int correct;
        int answered;
        long prefillTokens;
        long prefillNanos;
        long decodeTokens;
        long decodeNanos;
        long kvBytes;
        boolean forked;
    }

    private RetrievalDemo() {
    }

    static int run(Settings st, TensorOps ops, PrintWriter out, PrintWriter err) throws IOException {
        Map<String, Row> rows = new LinkedHashMap<>();
        int budget;
        try (Model m = Model.open(st.model())) {
            ModelWeights w = m.weights();
            Tokenizer tok = m.tokenizer();
            RulerSpec rs = RulerSpec.load(st.tasksJson(), tok);
            RandomSource rnd = RandomSource.seeded(st.seed());
            RulerGenerator gen = new RulerGenerator(rs, FillerPool.generate(rs, 3 * st.context() + 40_000, rnd));
            // the prompt, then up to decode tokens, within the context (any length: the committed model was trained at
            // every token count, as since run 11 of the model card; run 10's weights failed at some lengths off multiples of 64)
            int length = st.context() - st.decode();
            budget = Math.max(16, (int) Math.round(st.budgetFraction() * st.context()));
            out.printf("longctx demo: %s, %d documents of %d tokens, %s (asked needle at depths 5%%..95%%), budget %s = %d tokens"
                    + " per KV head, %d threads%n", st.model().getFileName(), st.instances(), length, describe(st.task()),
                    fraction(st.budgetFraction()), budget, ops.pool().threads());
            out.flush();
            HeadProfile profile = st.profile() != null ? HeadProfile.read(st.profile()) : profile(w, ops, gen, rnd, err);
            List<TaskInstance> docs = new ArrayList<>();
            for (int i = 0; i < st.instances(); i++) {
                double depth = st.instances() == 1 ? 0.5 : 0.05 + 0.9 * i / (st.instances() - 1);
                docs.add(gen.instance(st.task(), length, depth, rnd));
            }
            WarmUp.run(w, new Strategy.Full(), DemoCommand.WARM_UP_CHUNKS * Session.DEFAULT_CHUNK, budget, Session.DEFAULT_CHUNK,
                    st.kvType(), ops, st.decode(), err);
            List<String> order = new ArrayList<>(List.of("full"));
            st.strategies().stream().map(s -> s.trim().toLowerCase(Locale.ROOT)).filter(s -> !s.equals("full")).forEach(order::add);
            ProgressLine line = ProgressLine.on(err);
            boolean anySnapKv = order.stream().anyMatch(n -> SnapKvForks.forks(strategy(n, budget, profile)));
            for (int d = 0; d < docs.size(); d++) {
                TaskInstance doc = docs.get(d);
                int[] prompt = doc.prompt();
                String label = "document " + (d + 1);
                // SnapKV forks the full cache's prefill at the prompt's tail (its window, the question): see SnapKvForks
                boolean snapFork = anySnapKv && SnapKvForks.fits(prompt.length, st.chunk());
                int head = snapFork ? prompt.length - SnapKvForks.TAIL : prompt.length;
                int room = snapFork ? SnapKvForks.room(w.config().layers(), st.context(), budget) : 0;
                try (Session full = session(w, tok, new Strategy.Full(), st, 0, room, ops)) {
                    long t0 = System.nanoTime();
                    float[] logits = full.prefill(Arrays.copyOf(prompt, head), (done, total) -> DemoCommand.progress(line, label, done, total));
                    long documentPrefill = System.nanoTime() - t0;
                    try (Session atQuestion = snapFork ? full.fork() : null) {
                        if (snapFork) {
                            logits = full.prefill(Arrays.copyOfRange(prompt, head, prompt.length), null);
                        }
                        long fullPrefill = System.nanoTime() - t0;
                        for (String name : order) {
                            Row row = rows.computeIfAbsent(name, k -> new Row());
                            Strategy s = strategy(name, budget, profile);
                            boolean fork = s instanceof Strategy.Full || s.selectsAtDecode();
                            boolean snap = snapFork && SnapKvForks.forks(s);
                            try (Session sess = fork ? full.fork(s) : snap ? atQuestion.fork(SnapKvForks.withCapacity(s, budget))
                                    : session(w, tok, s, st, budget, 0, ops)) {
                                float[] l = logits;
                                if (fork) {
                                    row.prefillNanos += fullPrefill;
                                    row.forked = !(s instanceof Strategy.Full);
                                } else if (snap) {
                                    long p0 = System.nanoTime();
                                    l = sess.prefill(Arrays.copyOfRange(prompt, head, prompt.length), null);
                                    row.prefillNanos += documentPrefill + System.nanoTime() - p0;
                                    row.forked = true;
                                } else {
                                    long p0 = System.nanoTime();
                                    l = sess.prefill(prompt, null);
                                    row.prefillNanos += System.nanoTime() - p0;
                                }
                                answer(row, sess, l, doc, st, tok);
                            }
                        }
                    }
                }
            }
        }
        out.printf("%n%-15s %9s %13s %12s %9s%n", "strategy", "accuracy", "prefill tok/s", "decode tok/s", "KV MiB");
        List<String> names = new ArrayList<>();
        double[] acc = new double[rows.size()];
        double[] kv = new double[rows.size()];
        int i = 0;
        for (var e : rows.entrySet()) {
            Row r = e.getValue();
            String label = e.getKey() + (r.forked ? " (forked)" : "");
            acc[i] = 100.0 * r.correct / Math.max(1, r.answered);
            kv[i] = r.kvBytes / 1048576.0;
            names.add(e.getKey());
            out.printf(Locale.ROOT, "%-15s %4d/%-4d %13.1f %12.1f %9.1f%n", label, r.correct, r.answered,
                    r.prefillTokens * 1e9 / Math.max(1, r.prefillNanos), r.decodeTokens * 1e9 / Math.max(1, r.decodeNanos), kv[i]);
            i++;
        }
        RulerCharts.strategyBars(names, acc, kv, "answers right: " + st.instances() + " " + st.task() + " documents, budget "
                + fraction(st.budgetFraction()), st.chart());
        out.printf("%naccuracy: exact-match answers to each document's question (greedy); full keeps every"
                + " token; quest forks full's prefill (its prefill is full's) and attends %d keys per step; snapkv forks full's prefill"
                + " of the document and prefills the last " + SnapKvForks.TAIL + " tokens (its window, the question) itself; it and"
                + " the others keep %d tokens"
                + " per KV head (duo: on its streaming heads; its retrieval heads keep everything). Chart: %s%n"
                + "More: ./longctx eval --tasks ruler --help (accuracy per task, length, depth and budget), ./longctx demo --synthetic"
                + " (speed on a synthetic SmolLM2-135M).%n", budget, budget, st.chart().toAbsolutePath());
        out.flush();
        return 0;
    }

    /** Answers {@code doc} greedily from a prefilled session whose last logits are {@code logits}, into {@code row}. */
    private static void answer(Row row, Session sess, float[] logits, TaskInstance doc, Settings st, Tokenizer tok) {
        row.prefillTokens += doc.promptLength();
        int first = DemoCommand.argmax(logits);
        Generation g = sess.generate(new int[] {first}, GenerateOptions.greedy(st.decode() - 1).withStopIds(List.of()), null);
        row.decodeTokens += g.outputIds().length;
        row.decodeNanos += g.decodeNanos();
        int[] ids = new int[g.outputIds().length + 1];
        ids[0] = first;
        System.arraycopy(g.outputIds(), 0, ids, 1, g.outputIds().length);
        int end = 0;
        while (end < ids.length && ids[end] != RulerSpec.EOS) {
            end++;
        }
        String answer = tok.decode(Arrays.copyOf(ids, end)).strip();
        row.answered++;
        if (answer.equals(doc.answer())) {
            row.correct++;
        }
        row.kvBytes = Math.max(row.kvBytes, sess.kvBytesInUse());
    }

    /**
     * A session of its own: evicting strategies keep {@code budget} tokens per KV head; strategies
     * that keep every token hold the context plus {@code room} (for SnapKV's forks: {@link SnapKvForks#room}).
     */
    private static Session session(ModelWeights w, Tokenizer tok, Strategy s, Settings st, int budget, int room, TensorOps ops) {
        int tokens = s.keepsEveryToken() ? st.context() + SPARE + room : budget;
        int chunk = s instanceof Strategy.SnapKv ? st.context() : st.chunk(); // SnapKV: one selection after the prefill, as in the paper
        return Session.builder(w).tokenizer(tok).strategy(s).budgetTokens(tokens).kvType(st.kvType()).chunkSize(chunk).ops(ops)
                .build();
    }

    private static Strategy strategy(String name, int budget, HeadProfile profile) {
        return switch (name) {
            case "quest" -> new Strategy.Quest(budget);
            case "duo" -> new Strategy.RetrievalHeads(profile, SINKS, Math.max(1, budget - SINKS));
            default -> StrategyNames.withSelection(Strategy.parse(name), budget);
        };
    }

    /** What a document of {@code task} holds, for the header line. */
    static String describe(String task) {
        return switch (task) {
            case "niah_single" -> "one needle each";
            case "niah_multikey" -> "key/value needles in each, one key asked";
            case "niah_multivalue" -> "four values of one key in each, all asked";
            case "niah_multiquery" -> "key/value needles in each, several keys asked";
            case "vt" -> "variable-assignment chains in each, one value's variables asked";
            default -> throw new IllegalArgumentException("unknown task '" + task + "' (" + String.join(", ", RulerGenerator.TASKS) + ")");
        };
    }

    /** Duo's profile from the model's own task instances: eight 1,024-token single and multi-key needles. */
    static HeadProfile profile(ModelWeights w, TensorOps ops, RulerGenerator gen, RandomSource rnd, PrintWriter err) {
        err.println("duo: profiling retrieval heads on 8 task instances of 1024 tokens (give --profile FILE to skip)");
        err.flush();
        List<TaskInstance> inst = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            inst.add(gen.instance("niah_single", 1024, 0.1 + 0.25 * i, rnd));
            inst.add(gen.instance("niah_multikey", 1024, 0.1 + 0.25 * i, rnd));
        }
        try (DecoderProfilerModel m = new DecoderProfilerModel(w, ops, 1024 + 16)) {
            return HeadProfile.byFraction(TaskHeadProfiler.score(m, inst), 0.25);
        }
    }

    /**
     * The calibration pass of {@code sink-calib}: the heads whose attention collapses onto
     * non-initial sinks on 8 task instances of 1024 tokens (single and multi-key needles at 4
     * depths, answers teacher-forced), see {@link SinkHeadProfiler}; the scores are logged.
     */
    static SinkHeads sinkHeads(ModelWeights w, TensorOps ops, RulerGenerator gen, RandomSource rnd, PrintWriter err) {
        err.println("sink-calib: calibration pass on 8 task instances of 1024 tokens");
        List<TaskInstance> inst = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            inst.add(gen.instance("niah_single", 1024, 0.1 + 0.25 * i, rnd));
            inst.add(gen.instance("niah_multikey", 1024, 0.1 + 0.25 * i, rnd));
        }
        double[][] scores;
        try (DecoderProfilerModel m = new DecoderProfilerModel(w, ops, 1024 + 16)) {
            scores = SinkHeadProfiler.score(m, inst, Strategy.SinkCalibration.DEFAULT_THRESHOLD);
        }
        for (int l = 0; l < scores.length; l++) {
            StringBuilder b = new StringBuilder("sink-calib: layer " + l + " non-initial sink mass per query head:");
            for (double v : scores[l]) {
                b.append(String.format(java.util.Locale.ROOT, " %.3f", v));
            }
            err.println(b);
        }
        SinkHeads heads = SinkHeadProfiler.collapsed(scores);
        err.println("sink-calib: calibrated heads (mass >= " + SinkHeadProfiler.COLLAPSE + "): " + heads);
        err.flush();
        return heads;
    }

    private static String fraction(double f) {
        return dev.longctx.bench.ruler.RulerResults.fraction(f);
    }
}
