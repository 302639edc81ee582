package dev.longctx.bench;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.AttentionMask;
import dev.longctx.attention.AttentionObserver;
import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.KvView;
import dev.longctx.attention.NaiveAttention;
import dev.longctx.attention.SelectedAttentionBudget;
import dev.longctx.attention.TokenSelectAttention;
import dev.longctx.bench.ruler.FillerPool;
import dev.longctx.bench.ruler.RandomSource;
import dev.longctx.bench.ruler.RulerGenerator;
import dev.longctx.bench.ruler.RulerRunner;
import dev.longctx.bench.ruler.RulerSpec;
import dev.longctx.bench.ruler.TaskInstance;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.Model;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.AttentionPlan;
import dev.longctx.models.decoder.Decoder;
import dev.longctx.models.internal.StrategyPlan;
import dev.longctx.models.session.Strategy;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;

/**
 * A debug harness for issue 21 (why the decode-time selection strategies miss needles the full
 * cache finds): for one single-needle instance of the RULER-style generator, it decodes the answer
 * with a strategy's real plan ({@link StrategyPlan}) and, at every answer decode step, layer and
 * query head, reports
 * <ul>
 *   <li>the full cache's attention probability on the needle token the step must produce (its
 *       position in the needle: the key a copying head reads) and on the whole needle number;</li>
 *   <li>the probability the strategy's kernel gives that token (0 when it did not attend it);</li>
 *   <li>whether the layer's own top-k (the summed-softmax top-k of this very query, current token
 *       forced, as the papers record it, at the same k) would have held it;</li>
 *   <li>the share of the full cache's probability on the keys the kernel attends ("kept"), and the
 *       head's most attended key (distance back from the query, in or out of the kernel's keys),
 *       its mass on the first 4 positions (sinks) and on the last 64 (recent);</li>
 *   <li>the relative L2 error of the kernel's output against exact attention on the same problem;</li>
 *   <li>two consistency checks of the kernel: its fast path (no observer) and its observed path give
 *       the same output, and its probabilities over the keys it attends equal the full cache's
 *       renormalised over them (exact attention restricted to its selection).</li>
 * </ul>
 * Mode {@code teacher}: the answer's tokens are fed and every layer passes the exact output on (the
 * strategy's kernel runs beside it, on the full cache's trajectory: per-layer selection quality in
 * isolation). Mode {@code free}: the strategy's output flows and the greedy tokens are fed (what
 * {@code eval} does; shows where its trajectory first diverges).
 *
 * <p>Not library code: a command-line probe; it prints to standard output. Threading: one run per
 * process, single caller thread (the kernels use the pool).
 */
public final class SelectionProbe {
    /** The eval command's default seed (RulerEval), so the instances are run J's. */
    private static final long SEED = 20261206L;
    /** The eval command's prefill chunk (RulerEval's --chunk default). */
    private static final int CHUNK = 128;
    /** Extra positions the keep-all sessions hold beyond the context (RulerRunner's SPARE). */
    private static final int SPARE = 64;

    private SelectionProbe() {
    }

    /**
     * Arguments (each optional): {@code --length 4096 --depths 0.1,0.5,0.9 --budget 1/8
     * --strategies tidal,recycled,infllm --mode teacher|free --pool-length N --detail false --model PATH};
     * {@code --pool-length} is the largest length of the eval run whose instances are wanted (the
     * filler pool's size depends on it), {@code --detail true} prints the closing step's layers too.
     */
    public static void main(String[] args) throws Exception {
        int length = 4096;
        List<Double> depths = List.of(0.1, 0.5, 0.9);
        String budgetArg = "1/8";
        List<String> strategies = List.of("tidal", "recycled", "infllm");
        String mode = "teacher";
        int poolLength = -1;
        boolean detail = false;
        Path model = Path.of("tools/retrieval-model/model/retrieval-16k.gguf");
        for (int i = 0; i < args.length; i += 2) {
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("selection probe: option " + args[i] + " needs a value");
            }
            String v = args[i + 1];
            switch (args[i]) {
                case "--length" -> length = Integer.parseInt(v);
                case "--depths" -> depths = Arrays.stream(v.split(",")).map(Double::parseDouble).toList();
                case "--budget" -> budgetArg = v;
                case "--strategies" -> strategies = List.of(v.split(","));
                case "--mode" -> mode = v;
                case "--pool-length" -> poolLength = Integer.parseInt(v);
                case "--detail" -> detail = Boolean.parseBoolean(v);
                case "--model" -> model = Path.of(v);
                default -> throw new IllegalArgumentException("selection probe: unknown option " + args[i]);
            }
        }
        double fraction = RulerEval.parseFraction(budgetArg);
        PrintStream out = System.out;
        TensorOps ops = TensorOps.defaults();
        try (Model m = Model.open(model)) {
            RulerSpec rs = RulerSpec.load(model.resolveSibling("tasks.json"), m.tokenizer());
            RandomSource rnd = RandomSource.seeded(SEED);
            int pl = poolLength > 0 ? poolLength : length;
            // as RulerEval: the pool from the same stream first, then the instances in depth order
            RulerGenerator gen = new RulerGenerator(rs, FillerPool.generate(rs, Math.max(60_000, 3 * pl + 40_000), rnd));
            for (double depth : depths) {
                TaskInstance inst = gen.instance("niah_single", length, depth, rnd);
                for (String name : strategies) {
                    new Run(m, ops, inst, name, fraction, mode.equals("free"), detail, out).run();
                }
            }
        }
    }

    /** One instance under one strategy. */
    private static final class Run {
        private final Model m;
        private final ModelConfig c;
        private final TensorOps ops;
        private final TaskInstance inst;
        private final String name;
        private final boolean free;
        private final boolean detail;
        private final PrintStream out;
        private final int budget;
        private final StrategyPlan plan;
        private final NaiveAttention naive = new NaiveAttention();
        private final TokenSelectAttention ownTopK;
        /** Positions of the needle's answer tokens (in answer order) and the whole needle. */
        private final long[] answerPositions;
        private final long needleFrom;
        private final long needleTo;
        /** The current step's target position (-1: none, e.g. the closing end-of-text). */
        private long target = -1;
        private int step;
        /** Summary counters: per layer, steps where the kernel attended / missed the target. */
        private final int[] attendedTarget;
        private final int[] missedTarget;
        private double worstPathDiff;
        private double worstRestrictionDiff;

        Run(Model m, TensorOps ops, TaskInstance inst, String name, double fraction, boolean free, boolean detail, PrintStream out) {
            this.m = m;
            this.c = m.weights().config();
            this.ops = ops;
            this.inst = inst;
            this.name = name;
            this.free = free;
            this.detail = detail;
            this.out = out;
            int context = inst.length();
            this.budget = RulerRunner.budgetTokens(fraction, context);
            Strategy s = StrategyNames.withSelection(Strategy.parse(name), budget);
            KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), KvLayout.DEFAULT_PAGE_SIZE, DType.F32);
            this.plan = StrategyPlan.resolve(s, s.keepsEveryToken() ? context + SPARE : budget, layout, CHUNK, ops,
                    StrategyPlan.modelWindows(c));
            int k = switch (plan.strategy) {
                case Strategy.TidalDecode t -> t.selected();
                case Strategy.Recycled r -> r.selected();
                default -> budget;
            };
            this.ownTopK = new TokenSelectAttention(ops, new SelectedAttentionBudget(k, 0, 1));
            int[] ids = inst.ids();
            int[] ans = inst.answerIds();
            int ns = inst.neededStarts()[0];
            int ne = inst.neededEnds()[0];
            this.needleFrom = ns;
            this.needleTo = ne - 1;
            // the answer's tokens inside the needle (the number is tokenised alike in both, see the model card)
            long[] pos = new long[ans.length];
            Arrays.fill(pos, -1);
            for (int start = ns; start + ans.length <= ne; start++) {
                boolean match = true;
                for (int j = 0; j < ans.length && match; j++) {
                    match = ids[start + j] == ans[j];
                }
                if (match) {
                    for (int j = 0; j < ans.length; j++) {
                        pos[j] = start + j;
                    }
                    break;
                }
            }
            this.answerPositions = pos;
            this.attendedTarget = new int[c.layers()];
            this.missedTarget = new int[c.layers()];
        }

        void run() {
            int[] prompt = inst.prompt();
            int[] ans = inst.answerIds();
            out.printf(Locale.ROOT, "%n=== %s, depth %.2f, %d tokens, budget %d, strategy %s (%s), mode %s%n", inst.task(),
                    inst.depth(), inst.length(), budget, name, plan.strategy, free ? "free" : "teacher");
            out.printf(Locale.ROOT, "answer %s = ids %s at needle positions %s (needle %d..%d), prompt %d tokens%n", inst.answer(),
                    Arrays.toString(ans), Arrays.toString(answerPositions), needleFrom, needleTo, prompt.length);
            Decoder dec = new Decoder(m.weights(), ops);
            KvLayout layout = new KvLayout(c.layers(), c.kvHeads(), c.headDim(), KvLayout.DEFAULT_PAGE_SIZE, DType.F32);
            long bytes = BlockPool.pageBytes(layout) * (long) c.layers() * c.kvHeads()
                    * ((inst.length() + SPARE) / layout.pageSize() + 4);
            try (BlockPool pool = new BlockPool(layout, bytes); SequenceKvCache cache = SequenceKvCache.create(pool)) {
                AttentionPlan probe = new ProbePlan();
                float[] logits = null;
                for (int from = 0; from < prompt.length; from += CHUNK) {
                    int to = Math.min(prompt.length, from + CHUNK);
                    logits = dec.forward(cache, Arrays.copyOfRange(prompt, from, to), from, false, probe, to == prompt.length);
                }
                int first = argmax(logits);
                List<Integer> produced = new ArrayList<>();
                produced.add(first);
                out.printf(Locale.ROOT, "prefill's last position (exact chunk kernel) -> token %d (expected %d)%n", first, ans[0]);
                int token = free ? first : ans[0];
                long position = prompt.length;
                // Answer steps: the input is answer token i-1, the target answer token i (then the end of text).
                for (step = 1; step <= ans.length; step++) {
                    target = step < ans.length ? answerPositions[step] : -1;
                    out.printf(Locale.ROOT, "-- step %d: position %d, input %d, expected %s, target key position %d%n", step, position,
                            token, step < ans.length ? Integer.toString(ans[step]) : "EOS", target);
                    logits = dec.forward(cache, new int[] {token}, position, false, probe, step == 1).clone();
                    int next = argmax(logits);
                    produced.add(next);
                    out.printf(Locale.ROOT, "   -> greedy %d%s%n", next, step < ans.length && next != ans[step] ? "  (WRONG)" : "");
                    position++;
                    token = free ? next : (step < ans.length ? ans[step] : next);
                    if (free && next == RulerSpec.EOS) {
                        break;
                    }
                }
                String text = m.tokenizer().decode(produced.stream().filter(t -> t != RulerSpec.EOS).mapToInt(Integer::intValue).toArray());
                out.printf(Locale.ROOT, "produced %s (%s)%n", text, text.strip().equals(inst.answer()) ? "correct" : "wrong");
                StringBuilder sb = new StringBuilder();
                for (int l = 0; l < c.layers(); l++) {
                    sb.append(String.format(Locale.ROOT, " L%d %d/%d", l, attendedTarget[l], attendedTarget[l] + missedTarget[l]));
                }
                out.printf(Locale.ROOT, "target attended by the kernel (head-steps attended/all, per layer):%s%n", sb);
                out.printf(Locale.ROOT, "consistency: max |fast - observed| output %.3g, max |kernel p - full p renormalised| %.3g%n",
                        worstPathDiff, worstRestrictionDiff);
            }
        }

        /**
         * InfLLM only: per KV head, the memory unit holding the step's target key, its representatives
         * (positions, and how many lie in the needle), and its rank among all units by the paper's
         * relevance ({@code sum_j q_j . sum_r k_r} over the group's scaled queries, rank 1 = retrieved
         * first; the kernel takes the top k) and, for comparison, by its best single key
         * ({@code max_{i in unit} sum_j q_j . k_i}: what a Quest-like bound would rank by). Keys are read
         * from the probe's F32 pages.
         */
        private void reportUnits(AttentionProblem p, SequenceKvCache cache, int layer) {
            dev.longctx.attention.InfLlmMemory mem = plan.infLlmMemory(cache, layer);
            if (mem == null) {
                return;
            }
            int d = p.headDim();
            int g = p.groupSize();
            StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "      L%d infllm units", layer));
            for (int kh = 0; kh < p.kvHeads(); kh++) {
                KvView view = p.kv()[kh];
                int units = mem.units(kh);
                int tu = -1;
                for (int u = 0; u < units; u++) {
                    if (mem.first(kh, u) <= target && target <= mem.last(kh, u)) {
                        tu = u;
                    }
                }
                if (tu < 0) {
                    sb.append(String.format(Locale.ROOT, " | kv%d target in no unit (coveredTo %d, %d units)", kh, mem.coveredTo(kh), units));
                    continue;
                }
                int[] keyAt = keysByPosition(view);
            double[] rel = new double[units];
                double[] best = new double[units];
                for (int u = 0; u < units; u++) {
                    best[u] = Double.NEGATIVE_INFINITY;
                    for (int r = 0; r < mem.reps(); r++) {
                        long pos = mem.representative(kh, u, r);
                        if (pos >= 0) {
                            rel[u] += groupDot(p, view, kh, keyAt, pos, d, g);
                        }
                    }
                    for (long pos = mem.first(kh, u); pos <= mem.last(kh, u); pos++) {
                        best[u] = Math.max(best[u], groupDot(p, view, kh, keyAt, pos, d, g));
                    }
                }
                int rankRel = 1;
                int rankBest = 1;
                for (int u = 0; u < units; u++) {
                    rankRel += rel[u] > rel[tu] ? 1 : 0;
                    rankBest += best[u] > best[tu] ? 1 : 0;
                }
                StringBuilder reps = new StringBuilder();
                int inNeedle = 0;
                for (int r = 0; r < mem.reps(); r++) {
                    long pos = mem.representative(kh, tu, r);
                    reps.append(r == 0 ? "" : ",").append(pos);
                    inNeedle += pos >= needleFrom && pos <= needleTo ? 1 : 0;
                }
                sb.append(String.format(Locale.ROOT, " | kv%d unit %d..%d reps [%s] in needle %d/%d, rank by reps %d, by best key %d of %d",
                        kh, mem.first(kh, tu), mem.last(kh, tu), reps, inNeedle, mem.reps(), rankRel, rankBest, units));
            }
            out.println(sb);
        }

        /** The strategy's plan, with each decode step's kernel wrapped by {@link Probe}. */
        private final class ProbePlan implements AttentionPlan {
            @Override
            public AttentionKernel kernel(int layer, int queryRows) {
                return plan.kernel(layer, queryRows);
            }

            @Override
            public AttentionKernel kernel(SequenceKvCache cache, int layer, int queryRows) {
                AttentionKernel k = plan.kernel(cache, layer, queryRows);
                return queryRows == 1 ? new Probe(k, layer, cache) : k;
            }

            @Override
            public AttentionMask mask(int layer, AttentionMask modelMask) {
                return plan.mask(layer, modelMask);
            }

            @Override
            public AttentionObserver observer(SequenceKvCache cache, int layer, int queryRows, boolean endsPrompt) {
                return plan.observer(cache, layer, queryRows, endsPrompt);
            }

            @Override
            public void afterAttention(SequenceKvCache cache, int layer, int queryRows, boolean endsPrompt) {
                plan.afterAttention(cache, layer, queryRows, endsPrompt);
            }
        }

        /** One decode step's kernel of one layer, measured against exact attention. */
        private final class Probe implements AttentionKernel {
            private final AttentionKernel kernel;
            private final int layer;
            private final SequenceKvCache cache;

            Probe(AttentionKernel kernel, int layer, SequenceKvCache cache) {
                this.kernel = kernel;
                this.layer = layer;
                this.cache = cache;
            }

            @Override
            public String name() {
                return "probe(" + kernel.name() + ")";
            }

            @Override
            public void attend(AttentionProblem p, float[] outArr, float[] lse, AttentionObserver observer) {
                int heads = p.queryHeads();
                int d = p.headDim();
                int g = p.groupSize();
                int ps = p.kv()[0].pageSize();
                int slots = 0;
                for (KvView v : p.kv()) {
                    slots = Math.max(slots, v.pageCount() * ps);
                }
                // exact attention and its probabilities
                float[] exact = new float[heads * d];
                float[] exactLse = new float[heads];
                float[][] full = new float[heads][slots];
                naive.attend(p, exact, exactLse, capture(full, ps));
                // the strategy's kernel on its own path, then observed (same state: recording is idempotent)
                float[] fast = new float[heads * d];
                float[] fastLse = new float[heads];
                kernel.attend(p, fast, fastLse, observer);
                float[] seen = new float[heads * d];
                float[] seenLse = new float[heads];
                float[][] sel = new float[heads][slots];
                kernel.attend(p, seen, seenLse, capture(sel, ps));
                worstPathDiff = Math.max(worstPathDiff, maxAbsDiff(fast, seen));
                StringBuilder line = new StringBuilder();
                line.append(String.format(Locale.ROOT, "   L%d %-22s", layer, kernel.name().length() > 22
                        ? kernel.name().substring(0, 22) : kernel.name()));
                for (int kh = 0; kh < p.kvHeads(); kh++) {
                    KvView view = p.kv()[kh];
                    int targetKey = keyOf(view, target);
                    java.util.BitSet own = ownTopK.selectedKeys(p, 0, kh);
                    for (int j = 0; j < g; j++) {
                        int h = kh * g + j;
                        float[] f = full[h];
                        float[] s = sel[h];
                        // restriction check: s = f / sum_{s>0} f over the attended keys
                        double kept = 0;
                        for (int i = 0; i < slots; i++) {
                            if (s[i] > 0) {
                                kept += f[i];
                            }
                        }
                        for (int i = 0; i < slots; i++) {
                            if (s[i] > 0 && kept > 0) {
                                worstRestrictionDiff = Math.max(worstRestrictionDiff, Math.abs(s[i] - f[i] / kept));
                            }
                        }
                        double needleFull = 0;
                        double needleSel = 0;
                        double sinkFull = 0;
                        double recentFull = 0;
                        int top = 0;
                        for (int i = 1; i < slots; i++) {
                            if (f[i] > f[top]) {
                                top = i;
                            }
                        }
                        long topPos = view.position(top / ps, top % ps);
                        long qPos = p.queryPositions()[0];
                        for (int pg = 0; pg < view.pageCount(); pg++) {
                            for (int sl = 0; sl < view.pageLength(pg); sl++) {
                                long pos = view.position(pg, sl);
                                if (pos < SelectedAttentionBudget.DEFAULT_SINKS) {
                                    sinkFull += f[pg * ps + sl];
                                }
                                if (qPos - pos < SelectedAttentionBudget.DEFAULT_WINDOW) {
                                    recentFull += f[pg * ps + sl];
                                }
                                if (pos >= needleFrom && pos <= needleTo) {
                                    needleFull += f[pg * ps + sl];
                                    needleSel += s[pg * ps + sl];
                                }
                            }
                        }
                        double err = relErr(exact, fast, h * d, d);
                        float tf = targetKey >= 0 ? f[targetKey] : Float.NaN;
                        float ts = targetKey >= 0 ? s[targetKey] : Float.NaN;
                        if (targetKey >= 0) {
                            if (ts > 0) {
                                attendedTarget[layer]++;
                            } else {
                                missedTarget[layer]++;
                            }
                        }
                        line.append(String.format(Locale.ROOT,
                                " | h%d full %.3f/%.3f kern %.3f/%.3f own-topk %s kept %.2f err %.2f top %d(%.2f,%s) sink %.2f recent %.2f",
                                h, tf, needleFull, ts, needleSel, targetKey >= 0 && own.get(targetKey) ? "Y" : "n", kept, err,
                                qPos - topPos, f[top], s[top] > 0 ? "in" : "out", sinkFull, recentFull));
                    }
                }
                if (detail || target >= 0) {
                    out.println(line);
                }
                if (target >= 0 && plan.strategy instanceof Strategy.InfLlm) {
                    reportUnits(p, cache, layer);
                }
                float[] result = free ? fast : exact;
                System.arraycopy(result, 0, outArr, 0, heads * d);
                if (lse != null) {
                    System.arraycopy(free ? fastLse : exactLse, 0, lse, 0, heads);
                }
            }
        }
    }

    /** Key index of every valid position of {@code view} ({@code -1}: none). */
    private static int[] keysByPosition(KvView view) {
        long max = -1;
        for (int pg = 0; pg < view.pageCount(); pg++) {
            if (view.pageLength(pg) > 0) {
                max = Math.max(max, view.pageMaxPosition(pg));
            }
        }
        int[] at = new int[(int) max + 1];
        Arrays.fill(at, -1);
        for (int pg = 0; pg < view.pageCount(); pg++) {
            for (int sl = 0; sl < view.pageLength(pg); sl++) {
                if (view.isValid(pg, sl)) {
                    at[(int) view.position(pg, sl)] = pg * view.pageSize() + sl;
                }
            }
        }
        return at;
    }

    /** {@code sum_j q_j . k} over the g scaled queries of KV head {@code kh}, k the key at {@code pos} (F32 pages), or -inf. */
    private static double groupDot(AttentionProblem p, KvView view, int kh, int[] keyAt, long pos, int d, int g) {
        int key = pos < keyAt.length ? keyAt[(int) pos] : -1;
        if (key < 0) {
            return Double.NEGATIVE_INFINITY;
        }
        java.lang.foreign.MemorySegment seg = view.keys(key / view.pageSize());
        long off = (long) (key % view.pageSize()) * view.rowBytes();
        double s = 0;
        for (int j = 0; j < g; j++) {
            int qi = p.queryIndex(0, kh * g + j);
            for (int c = 0; c < d; c++) {
                s += (double) p.queries()[qi + c] * p.scale()
                        * seg.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, off + 4L * c);
            }
        }
        return s;
    }

    /** An observer writing probabilities into {@code dst[head][page * ps + slot]} (disjoint slots: thread-safe). */
    private static AttentionObserver capture(float[][] dst, int ps) {
        return (row, head, kvHead, page, probs, count) -> System.arraycopy(probs, 0, dst[head], page * ps, count);
    }

    /** Key index {@code page * ps + slot} of {@code position} in {@code view}, or -1. */
    private static int keyOf(KvView view, long position) {
        if (position < 0) {
            return -1;
        }
        for (int pg = 0; pg < view.pageCount(); pg++) {
            for (int s = 0; s < view.pageLength(pg); s++) {
                if (view.isValid(pg, s) && view.position(pg, s) == position) {
                    return pg * view.pageSize() + s;
                }
            }
        }
        return -1;
    }

    private static double relErr(float[] ref, float[] x, int off, int n) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < n; i++) {
            double e = x[off + i] - ref[off + i];
            num += e * e;
            den += (double) ref[off + i] * ref[off + i];
        }
        return den == 0 ? Math.sqrt(num) : Math.sqrt(num / den);
    }

    private static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    private static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }
}
