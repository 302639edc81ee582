package dev.longctx.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.longctx.bench.ruler.FillerPool;
import dev.longctx.bench.ruler.HeadAblation;
import dev.longctx.bench.ruler.RandomSource;
import dev.longctx.bench.ruler.RulerCharts;
import dev.longctx.bench.ruler.RulerGenerator;
import dev.longctx.bench.ruler.RulerResults;
import dev.longctx.bench.ruler.RulerRunner;
import dev.longctx.bench.ruler.RulerSpec;
import dev.longctx.bench.ruler.TaskInstance;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.models.Model;
import dev.longctx.models.session.SinkHeads;
import dev.longctx.models.session.Strategy;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code longctx eval --tasks ruler}: RULER-style accuracy of every strategy on the retrieval model
 * of {@code tools/retrieval-model}. Task instances come from a Java port of its generator (driven by
 * its {@code tasks.json}, seeded, never with the training streams), one grid of strategy x budget x
 * context length x needle depth, scored by greedy exact match; plus perplexity on filler text
 * against the full cache. Prints a table (or {@code --json} records) and writes three charts: a
 * needle-in-a-haystack heatmap per strategy, accuracy against the budget, and accuracy against KV
 * memory (one point per strategy and budget, at the longest context).
 *
 * <p>Strategies: {@code full}, {@code streaming}, {@code h2o}, {@code snapkv}, {@code quest},
 * {@code tidal} (TidalDecode), {@code recycled} (Recycled Attention), {@code duo} (DuoAttention's split from a head profile), and for checking that profile,
 * {@code ablate-retrieval} (streaming-only attention on the profile's retrieval heads, every other
 * head full) and {@code ablate-random} (streaming-only on as many random heads).
 */
@Command(name = "eval --tasks ruler", mixinStandardHelpOptions = true,
        description = "RULER-style accuracy (exact match) per strategy x budget x length x depth, and filler perplexity.")
public final class RulerEval implements Callable<Integer> {
    /** StreamingLLM's (and duo's streaming heads') sinks. */
    private static final int SINKS = 4;

    @Option(names = "--model", description = "the retrieval model (default: tools/retrieval-model/model/retrieval-16k.gguf)")
    Path model;

    @Option(names = "--spec", description = "the generator's tasks.json (default: tasks.json beside the model, or the model folder's)")
    Path specFile;

    @Option(names = "--tasks", split = ",", defaultValue = "ruler",
            description = "ruler (all five) or some of niah_single, niah_multikey, niah_multivalue, niah_multiquery, vt")
    List<String> tasks;

    @Option(names = "--strategies", split = ",", defaultValue = "full,streaming,h2o,snapkv,quest,duo",
            description = "strategies (default ${DEFAULT-VALUE}; also tidal, recycled, ablate-retrieval, ablate-random)")
    List<String> strategies;

    @Option(names = "--budgets", split = ",", defaultValue = "1/16,1/8,1/4",
            description = "KV budgets as fractions of the context length (default ${DEFAULT-VALUE})")
    List<String> budgets;

    @Option(names = "--lengths", split = ",", defaultValue = "1024,4096,16384",
            description = "context lengths in tokens: the whole conversation, answer included (default ${DEFAULT-VALUE})")
    List<Integer> lengths;

    @Option(names = "--depths", split = ",", defaultValue = "0,0.25,0.5,0.75,1", description = "needle depths in [0, 1] (default ${DEFAULT-VALUE})")
    List<Double> depths;

    @Option(names = "--instances", defaultValue = "1", description = "instances per task x length x depth (default ${DEFAULT-VALUE})")
    int instances;

    @Option(names = "--seed", defaultValue = "20261206",
            description = "seed of the filler pool and the instances (Java's SplittableRandom; default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--perplexity-tokens", defaultValue = "4096",
            description = "tokens of filler text for perplexity per strategy and budget; 0 skips it (default ${DEFAULT-VALUE})")
    int perplexityTokens;

    @Option(names = "--chunk", defaultValue = "128", description = "prefill chunk: evictions run between chunks (default ${DEFAULT-VALUE})")
    int chunk;

    @Option(names = "--snapkv-chunked", description = "SnapKV selects after every prefill chunk (votes add up) instead of once"
            + " at the prompt's end as in the paper (by default SnapKV forks the full cache's prefill and prefills the prompt's"
            + " last 64 tokens itself; ThinK over SnapKV prefills in one chunk)")
    boolean snapKvChunked;

    @Option(names = "--kv-type", defaultValue = "F32", description = "KV page dtype (default ${DEFAULT-VALUE})")
    DType kvType;

    @Option(names = "--profile", description = "head profile JSON for duo and the ablations (default: profile the model first on"
            + " eight 1024-token single and multi-key needle instances)")
    Path profile;

    @Option(names = "--moa-profile", description = "MoA profile JSON for moa (from profile-heads --moa): its windows are fitted"
            + " to each budget and length")
    Path moaProfile;

    @Option(names = "--ablation-seed", defaultValue = "1", description = "seed of ablate-random's heads (default ${DEFAULT-VALUE})")
    long ablationSeed;

    @Option(names = "--chart-dir", defaultValue = "ruler-charts", description = "where the charts go (default ${DEFAULT-VALUE})")
    Path chartDir;

    @Option(names = "--heatmap-budget", defaultValue = "1/8", description = "the budget the heatmaps show (default ${DEFAULT-VALUE})")
    String heatmapBudget;

    @Option(names = "--threads", description = "compute threads (default: available cores)")
    Integer threads;

    @Option(names = "--json", description = "print JSON records instead of tables")
    boolean json;

    @Option(names = "--json-file", description = "also write the JSON records to this file")
    Path jsonFile;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new RulerEval()).execute(args));
    }

    /** tools/retrieval-model/model above the working directory, or null. */
    static Path retrievalModelDir() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            Path m = dir.resolve("tools/retrieval-model/model");
            if (Files.isDirectory(m)) {
                return m;
            }
        }
        return null;
    }

    /** A budget: {@code 1/8} or a decimal fraction in (0, 1]. */
    static double parseFraction(String s) {
        String t = s.trim();
        int slash = t.indexOf('/');
        double v = slash < 0 ? Double.parseDouble(t) : Double.parseDouble(t.substring(0, slash)) / Double.parseDouble(t.substring(slash + 1));
        if (!(v > 0 && v <= 1)) {
            throw new IllegalArgumentException("a budget must be a fraction in (0, 1], got " + s);
        }
        return v;
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Path dir = retrievalModelDir();
        Path modelPath = model != null ? model : dir == null ? null : dir.resolve("retrieval-16k.gguf");
        if (modelPath == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "no --model and no tools/retrieval-model/model found");
        }
        Path tasksJson = specFile != null ? specFile : findSpec(modelPath, dir);
        List<String> taskList = tasks.size() == 1 && tasks.getFirst().equals("ruler") ? RulerGenerator.TASKS : tasks;
        List<Double> fractions = budgets.stream().map(RulerEval::parseFraction).toList();
        double heatFraction = parseFraction(heatmapBudget);
        List<String> order = new ArrayList<>();
        order.add("full");
        strategies.stream().map(s -> s.trim().toLowerCase(Locale.ROOT)).filter(s -> !s.equals("full")).forEach(order::add);
        TensorOps ops = TensorOps.withThreads(threads);
        RulerResults results = new RulerResults();
        try (Model m = Model.open(modelPath)) {
            RulerSpec rs = RulerSpec.load(tasksJson, m.tokenizer());
            RandomSource rnd = RandomSource.seeded(seed);
            int maxLength = lengths.stream().mapToInt(Integer::intValue).max().orElse(1024);
            int poolWords = Math.max(60_000, 3 * Math.max(maxLength, perplexityTokens) + 40_000);
            RulerGenerator gen = new RulerGenerator(rs, FillerPool.generate(rs, poolWords, rnd));
            // Without --profile, duo and the ablations use heads profiled on the model's own task
            // instances (the random-token profiler finds no retrieval heads on this model)
            HeadProfile heads = profile != null || order.stream().noneMatch(s -> s.equals("duo") || s.startsWith("ablate-")) ? null
                    : RetrievalDemo.profile(m.weights(), ops, gen, RandomSource.seeded(seed + 1), err);
            if (order.contains("sink-calib")) {
                sinkHeads = RetrievalDemo.sinkHeads(m.weights(), ops, gen, RandomSource.seeded(seed + 2), err);
            }
            StrategyNames names = new StrategyNames(m.weights(), 0, profile, ops, err, heads).withMoaProfile(moaProfile, 0);
            RulerRunner.Strategies factory = new RulerRunner.Strategies() {
                @Override
                public Strategy make(String name, int budget) throws IOException {
                    return strategy(names, name, budget, 0);
                }

                @Override
                public Strategy make(String name, int budget, int context) throws IOException {
                    return strategy(names, name, budget, context);
                }
            };
            RulerRunner runner = new RulerRunner(m.weights(), m.tokenizer(), ops, kvType, chunk, !snapKvChunked);
            long t0 = System.nanoTime();
            int total = lengths.size() * taskList.size() * depths.size() * instances;
            int done = 0;
            ProgressLine line = ProgressLine.on(err);
            for (int length : lengths) {
                for (String task : taskList) {
                    for (double depth : depths) {
                        for (int i = 0; i < instances; i++) {
                            TaskInstance inst = gen.instance(task, length, depth, rnd);
                            for (RulerRunner.Outcome o : runner.run(inst, order, fractions, factory)) {
                                results.add(inst, o, depth, inWindow(inst, o.budgetTokens()));
                            }
                            done++;
                            line.update("%d/%d instances (%s, %d tokens, depth %.2f) %.0f s", done, total, task, length,
                                    depth, (System.nanoTime() - t0) / 1e9);
                        }
                    }
                }
            }
            line.finish();
            if (perplexityTokens > 0) {
                int[] text = gen.fillerText(perplexityTokens, rnd);
                results.add(new RulerResults.Perplexity("full", 1.0, text.length, text.length,
                        runner.perplexity(text, new Strategy.Full(), text.length)));
                for (double f : fractions) {
                    int b = RulerRunner.budgetTokens(f, text.length);
                    for (String name : order.subList(1, order.size())) {
                        results.add(new RulerResults.Perplexity(name, f, b, text.length,
                                runner.perplexity(text, strategy(names, name, b, text.length), b)));
                    }
                }
            }
        }
        Path heat = chartDir.resolve("ruler-heatmap.png");
        Path byBudget = chartDir.resolve("ruler-accuracy-by-budget.png");
        Path byKv = chartDir.resolve("ruler-accuracy-by-kv.png");
        Set<String> taskSet = new LinkedHashSet<>(taskList);
        RulerCharts.heatmaps(results, taskSet, heatFraction, order, heat);
        RulerCharts.accuracyByBudget(results, taskSet, order, byBudget);
        RulerCharts.accuracyByKvMemory(results, taskSet, order, byKv);
        ObjectMapper mapper = new ObjectMapper();
        var root = results.toJson(mapper);
        root.put("seed", seed).put("instances_per_cell_depth", instances).put("heatmap", heat.toAbsolutePath().toString())
                .put("budget_chart", byBudget.toAbsolutePath().toString()).put("kv_chart", byKv.toAbsolutePath().toString());
        if (jsonFile != null) {
            mapper.writerWithDefaultPrettyPrinter().writeValue(jsonFile.toFile(), root);
        }
        if (json) {
            out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(root));
        } else {
            out.printf("model %s, seed %d, %d instance(s) per task x length x depth (depths %s)%n%n", modelPath, seed, instances, depths);
            results.print(out);
            out.printf("%ncharts: %s (needle depth x length at %s), %s, %s%n", heat.toAbsolutePath(), heatmapBudget,
                    byBudget.toAbsolutePath(), byKv.toAbsolutePath());
        }
        out.flush();
        return 0;
    }

    /** tasks.json beside the model file, in or beside its folder, or in tools/retrieval-model/model. */
    private static Path findSpec(Path modelPath, Path dir) {
        Path abs = modelPath.toAbsolutePath();
        List<Path> candidates = new ArrayList<>();
        if (Files.isDirectory(abs)) {
            candidates.add(abs.resolve("tasks.json"));
        }
        candidates.add(abs.resolveSibling("tasks.json"));
        if (dir != null) {
            candidates.add(dir.resolve("tasks.json"));
        }
        return candidates.stream().filter(Files::isRegularFile).findFirst().orElse(candidates.getLast());
    }

    /**
     * Whether every needle the answer needs starts in StreamingLLM's reach at {@code budget}: the
     * sinks or the last {@code budget - sinks} tokens of the prompt.
     */
    private static boolean inWindow(TaskInstance inst, int budget) {
        int windowStart = inst.promptLength() - (budget - SINKS);
        for (int s : inst.neededStarts()) {
            if (s >= SINKS && s < windowStart) {
                return false;
            }
        }
        return true;
    }

    /** The heads {@code sink-calib} calibrates, from the calibration pass (null until it ran). */
    private SinkHeads sinkHeads;

    /** A strategy at {@code budget} tokens per KV head. */
    private Strategy strategy(StrategyNames names, String name, int budget, int context) throws IOException {
        return switch (name) {
            case "moa" -> names.moa(budget, context);
            case "quest" -> new Strategy.Quest(budget);
            case "sink-calib" -> new Strategy.SinkCalibration(sinkHeads, 0, 0);
            case "duo" -> new Strategy.RetrievalHeads(names.profile(), SINKS, Math.max(1, budget - SINKS));
            case "ablate-retrieval" -> new Strategy.RetrievalHeads(HeadAblation.streamingOnRetrievalHeads(names.profile()), SINKS,
                    Math.max(1, budget - SINKS));
            case "ablate-random" -> new Strategy.RetrievalHeads(HeadAblation.streamingOnRandomHeads(names.profile(), ablationSeed),
                    SINKS, Math.max(1, budget - SINKS));
            default -> StrategyNames.withSelection(Strategy.parse(name), budget); // duo is above: no profile needed here
        };
    }

}
