package dev.longctx.bench;

import dev.longctx.bench.ruler.RulerGenerator;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code longctx demo}, the main job. By default ({@link RetrievalDemo}), the retrieval model of
 * {@code tools/retrieval-model} answers questions about 16K-token documents with a needle each
 * under every long-context strategy at a 1/8 budget: accuracy, prefill and decode tokens/s, KV
 * memory and a chart. With {@code --synthetic}, the speed demo: a long random-token prompt
 * prefilled under each strategy on synthetic weights, then a greedy continuation, with a table of
 * prefill and decode tokens/s, KV memory and how far each strategy's next-token logits and
 * continuation are from the full cache's.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Prefill a long prompt under each long-context strategy and compare speed, KV memory and fidelity.")
public final class DemoCommand implements Callable<Integer> {
    @Option(names = "--synthetic", description = "the speed demo: a synthetic-weight preset (--model, default smollm2-135m) on a"
            + " random-token prompt, with fidelity to the full cache instead of task accuracy")
    boolean synthetic;

    @Option(names = "--model", description = "default: the retrieval model (tools/retrieval-model/model/retrieval-16k.gguf);"
            + " with --synthetic, a preset (smollm2-135m, qwen2.5-0.5b, llama-3.2-1b, tiny; default smollm2-135m) or a GGUF /"
            + " safetensors / llama2.c model path")
    String model;

    @Option(names = "--documents", defaultValue = "3", description = "retrieval demo: documents, one asked needle each (default ${DEFAULT-VALUE})")
    int documents;

    @Option(names = "--task", defaultValue = "niah_multikey", description = "retrieval demo: the task of every document: niah_single,"
            + " niah_multikey (many key/value needles, one asked), niah_multivalue, niah_multiquery or vt (default ${DEFAULT-VALUE})")
    String task;

    @Option(names = "--budget-fraction", defaultValue = "1/8",
            description = "retrieval demo: KV budget as a fraction of the context (default ${DEFAULT-VALUE})")
    String budgetFraction;

    @Option(names = "--chart", defaultValue = "longctx-demo.png", description = "retrieval demo: the chart's path (default ${DEFAULT-VALUE})")
    Path chart;

    @Option(names = "--tasks-json", description = "retrieval demo: the generator's tasks.json (default: beside the model)")
    Path tasksJson;

    @Option(names = "--weights", defaultValue = "Q8_0", description = "preset weight dtype (default ${DEFAULT-VALUE})")
    DType weights;

    @Option(names = "--context", defaultValue = "16384", description = "context tokens (default ${DEFAULT-VALUE})")
    int context;

    @Option(names = "--decode", defaultValue = "32", description = "tokens generated per strategy (default ${DEFAULT-VALUE})")
    int decode;

    @Option(names = "--budget", defaultValue = "2048", description = "--synthetic: KV budget per head for evicting strategies (default ${DEFAULT-VALUE})")
    int budget;

    @Option(names = "--strategies", split = ",", defaultValue = "full,streaming,h2o,snapkv,quest,duo",
            description = "strategies (also sparse-prefill[:vertical-slash|a-shape|top-k|hip|hip-token|hyper]); full always runs first as the reference"
                    + " (default ${DEFAULT-VALUE})")
    List<String> strategies;

    @Option(names = "--kv-type", defaultValue = "BF16", description = "KV page dtype (default ${DEFAULT-VALUE})")
    DType kvType;

    @Option(names = "--threads", description = "compute threads (default: available cores)")
    Integer threads;

    @Option(names = "--seed", defaultValue = "42", description = "seed for weights and the prompt (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--profile", description = "head profile JSON for duo (default: profile the model first)")
    Path profile;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /**
     * Prompt chunks of the warm-up: 1,024 tokens, 16 pages per KV head, enough for the decode to
     * take split-K's path as it does at the demo's depth, short enough to cost a few seconds.
     */
    static final int WARM_UP_CHUNKS = 4;

    /** One strategy's row. */
    record Row(String strategy, double prefillTps, double decodeTps, long kvBytes, double attentionError, double massKept,
               double logitError, double agreement) {
    }

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new DemoCommand()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        TensorOps ops = TensorOps.withThreads(threads);
        if (!synthetic) {
            Path dir = RulerEval.retrievalModelDir();
            Path m = model != null ? Path.of(model) : dir == null ? null : dir.resolve("retrieval-16k.gguf");
            if (m == null) {
                throw new CommandLine.ParameterException(spec.commandLine(), "no --model and no tools/retrieval-model/model found"
                        + " (run from the repository, or use --synthetic)");
            }
            Path abs = m.toAbsolutePath();
            Path tj = tasksJson != null ? tasksJson : java.nio.file.Files.isDirectory(abs) ? abs.getParent().resolve("tasks.json")
                    : abs.resolveSibling("tasks.json");
            if (!RulerGenerator.TASKS.contains(task)) {
                throw new CommandLine.ParameterException(spec.commandLine(), "--task: '" + task + "' is not one of "
                        + String.join(", ", RulerGenerator.TASKS));
            }
            return RetrievalDemo.run(new RetrievalDemo.Settings(m, tj, task, context, documents, RulerEval.parseFraction(budgetFraction),
                    decode, strategies, profile, chart, seed, kvType, Session.DEFAULT_CHUNK), ops, out, err);
        }
        if (model == null) {
            model = "smollm2-135m";
        }
        out.printf("longctx demo: %d-token prompt, %d generated tokens, KV %s pages, %d threads%n", context, decode, kvType,
                ops.pool().threads());
        List<Row> rows = new ArrayList<>();
        try (BenchModel bench = BenchModel.open(model, weights, seed)) {
            ModelWeights w = bench.weights();
            if (bench.synthetic()) {
                out.printf("model: %s shape with synthetic %s weights (seed %d). Synthetic weights measure speed and memory, not"
                        + " text quality; run a real model with --model PATH (GGUF, Hugging Face folder or llama2.c .bin).%n", model,
                        weights, seed);
                out.flush();
            }
            int[] prompt = BenchData.randomTokens(context, w.config().vocabSize(), seed);
            List<String> order = new ArrayList<>(List.of("full"));
            strategies.stream().map(String::trim).filter(x -> !x.equals("full")).forEach(order::add);
            StrategyNames names = new StrategyNames(w, budget, profile, ops, err);
            // The prefill and decode paths every strategy shares, compiled before anything is timed:
            // without it the full cache's decode ran partly as profiled C1 code (see WarmUp).
            WarmUp.run(w, new Strategy.Full(), WARM_UP_CHUNKS * Session.DEFAULT_CHUNK, budget, Session.DEFAULT_CHUNK, kvType, ops,
                    decode, err);
            float[] referenceLogits = null;
            int[] referenceIds = null;
            Session full = null;
            ProgressLine line = ProgressLine.on(err);
            try {
                for (String name : order) {
                    Strategy strategy = names.parse(name);
                    // Keep-all strategies: room for the context plus two spare pages per head, which the
                    // forks of the fidelity measurement copy on write.
                    int tokens = strategy.keepsEveryToken() ? Math.max(budget, context + decode + 1 + 2 * KvLayout.DEFAULT_PAGE_SIZE) : budget;
                    // Quest (and TidalDecode, Recycled) read the same full cache as the exact prefill: they fork the full session
                    // after its prefill instead of repeating it (its prefill speed is full's).
                    boolean reuse = strategy.selectsAtDecode() && full != null;
                    try (Session s = reuse ? full.fork(strategy)
                            : Session.builder(w).strategy(strategy).budgetTokens(tokens).kvType(kvType).ops(ops).build()) {
                        double prefillTps;
                        float[] logits;
                        if (reuse) {
                            prefillTps = rows.getFirst().prefillTps();
                            logits = referenceLogits;
                        } else {
                            long t0 = System.nanoTime();
                            logits = s.prefill(prompt, (done, total) -> progress(line, name, done, total));
                            prefillTps = context * 1e9 / (System.nanoTime() - t0);
                        }
                        if (full == null && strategy instanceof Strategy.Full) {
                            full = s.fork(); // kept for forks under other full-cache strategies
                        }
                        double attnError = Double.NaN;
                        double massKept = Double.NaN;
                        if (full != null) { // attention of the next step against exact, on forks of both
                            try (Session a = full.fork(); Session b = s.fork()) {
                                AttentionFidelity f = AttentionFidelity.measure(a, b, argmax(logits));
                                attnError = f.meanRelativeError();
                                massKept = f.meanMassRecovered();
                            }
                        }
                        if (reuse) {
                            // The other strategies' prefills compiled their code; Quest's selection is
                            // compiled during its first steps (measured: its first 32 tokens ran about 40%
                            // slower), so an untimed fork decodes those first.
                            try (Session warm = s.fork()) {
                                warm.generate(new int[] {argmax(logits)}, GenerateOptions.greedy(decode).withStopIds(List.of()), null);
                            }
                        }
                        Generation g = s.generate(new int[] {argmax(logits)}, GenerateOptions.greedy(decode).withStopIds(List.of()),
                                null);
                        if (referenceLogits == null) {
                            referenceLogits = logits;
                            referenceIds = g.outputIds();
                        }
                        rows.add(new Row(s.strategy().name() + (reuse ? " (forked)" : ""), prefillTps, g.decodeTokensPerSecond(),
                                s.kvBytesInUse(), attnError, massKept, relativeL2(logits, referenceLogits),
                                agreement(g.outputIds(), referenceIds)));
                    } catch (ContextBudgetException e) {
                        err.printf("%n%s skipped: %s%n", name, e.getMessage());
                    }
                }
            } finally {
                if (full != null) {
                    full.close();
                }
            }
        }
        out.printf("%n%-15s %13s %12s %9s %12s %10s %12s %14s%n", "strategy", "prefill tok/s", "decode tok/s", "KV MiB",
                "attn rel.L2", "attn mass", "logit rel.L2", "tokens as full");
        for (Row row : rows) {
            out.printf(Locale.ROOT, "%-15s %13.1f %12.2f %9.1f %12.2e %10.4f %12.2e %13.0f%%%n", row.strategy(), row.prefillTps(),
                    row.decodeTps(), row.kvBytes() / 1048576.0, row.attentionError(), row.massKept(), row.logitError(),
                    100 * row.agreement());
        }
        out.printf("%nattn rel.L2 / attn mass: at the first generated step, each layer's and query head's attention output"
                + " against exact attention with the same queries (||o - o_exact|| / ||o_exact||, mean) and the exact attention"
                + " probability of the keys the strategy still holds (mean); logit rel.L2: the same for the next-token logits;"
                + " tokens as full: share of the %d greedy tokens equal to the full cache's. More: ./longctx bench --help,"
                + " ./longctx eval --help.%n", decode);
        out.flush();
        return 0;
    }

    static void progress(ProgressLine line, String name, int done, int total) {
        int width = 30;
        int filled = (int) ((long) done * width / Math.max(1, total));
        line.update("%-15s prefill [%s%s] %d/%d", name, "#".repeat(filled), ".".repeat(width - filled), done, total);
        if (done == total) {
            line.finish();
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

    static double relativeL2(float[] a, float[] ref) {
        double num = 0;
        double den = 0;
        for (int i = 0; i < ref.length; i++) {
            double d = a[i] - ref[i];
            num += d * d;
            den += (double) ref[i] * ref[i];
        }
        return den == 0 ? 0 : Math.sqrt(num / den);
    }

    static double agreement(int[] a, int[] ref) {
        int same = 0;
        for (int i = 0; i < Math.min(a.length, ref.length); i++) {
            if (a[i] == ref[i]) {
                same++;
            }
        }
        return ref.length == 0 ? 1 : (double) same / ref.length;
    }
}
