package dev.longctx.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.config.ModelConfig;
import dev.longctx.models.decoder.ModelWeights;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code longctx bench}: prefill and decode speed, KV memory and resident memory for each
 * long-context strategy at each depth, on a model file or a built-in synthetic-weight preset of a
 * real shape. Each (strategy, depth) runs {@code reps} times in a fresh session: a prompt of
 * {@code depth} random token ids is prefilled, then {@code decode} tokens are generated greedily;
 * the medians are reported with the spread (half the range) over repetitions, as llama-bench does.
 * Synthetic weights measure speed and memory, not text quality.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Prefill and decode tokens/s and KV memory per strategy and depth.")
public final class LongContextBench implements Callable<Integer> {
    @Option(names = "--model", defaultValue = "smollm2-135m",
            description = "a preset (smollm2-135m, qwen2.5-0.5b, llama-3.2-1b) or a model path (default ${DEFAULT-VALUE})")
    String model;

    @Option(names = "--weights", defaultValue = "Q8_0", description = "preset weight dtype: F32, F16, BF16, Q8_0 (default ${DEFAULT-VALUE})")
    DType weights;

    @Option(names = "--kv-type", defaultValue = "BF16", description = "KV page dtype (default ${DEFAULT-VALUE})")
    DType kvType;

    @Option(names = "--strategies", split = ",", defaultValue = "full,streaming,h2o,snapkv,quest,duo,sparse-prefill",
            description = "strategies (default ${DEFAULT-VALUE}); sparse-prefill takes an estimator: sparse-prefill:a-shape, sparse-prefill:top-k;"
                    + " squeezed[:KEEP[:FIXED[:KEYS_PER_CLUSTER]]] (no KEEP: --budget keys of the fixed context per query head)")
    List<String> strategies;

    @Option(names = "--depths", split = ",", defaultValue = "1024,4096", description = "context depths (default ${DEFAULT-VALUE})")
    List<Integer> depths;

    @Option(names = "--budget", defaultValue = "2048", description = "KV budget in tokens per head for evicting strategies"
            + " (default ${DEFAULT-VALUE}); strategies that keep every token get the depth")
    int budget;

    @Option(names = "--decode", defaultValue = "32", description = "tokens generated per run (default ${DEFAULT-VALUE})")
    int decode;

    @Option(names = "--reps", defaultValue = "3", description = "repetitions per cell (default ${DEFAULT-VALUE})")
    int reps;

    @Option(names = "--threads", description = "compute threads (default: available cores)")
    Integer threads;

    @Option(names = "--chunk", defaultValue = "512", description = "prefill chunk (default ${DEFAULT-VALUE})")
    int chunk;

    @Option(names = "--seed", defaultValue = "42", description = "seed for weights and prompts (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--json", description = "print one JSON record per strategy and depth instead of the table")
    boolean json;

    @Option(names = "--chart", description = "write a PNG chart of decode tokens/s and KV MiB against depth")
    Path chart;

    @Option(names = "--profile", description = "head profile JSON for duo (default: profile the model first)")
    Path profile;

    @Option(names = "--moa-profile", description = "MoA profile JSON for moa (from profile-heads --moa): windows fitted to"
            + " --budget at the deepest of --depths")
    Path moaProfile;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /**
     * One (strategy, depth) cell: medians and spreads over the repetitions; KV bytes in all layers
     * and in the sliding-window layers alone (which keep only their window).
     */
    record Cell(String strategy, int depth, double prefillTps, double prefillSpread, double decodeTps, double decodeSpread,
                long kvBytes, long kvBytesSliding, long peakRssBytes, String skipped) {
        static Cell skipped(String strategy, int depth, String why) {
            return new Cell(strategy, depth, 0, 0, 0, 0, 0, 0, 0, why);
        }
    }

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new LongContextBench()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (reps < 1 || decode < 2 || depths.stream().anyMatch(d -> d < 1)) {
            throw new CommandLine.ParameterException(spec.commandLine(), "need --reps >= 1, --decode >= 2 and positive depths");
        }
        TensorOps ops = TensorOps.withThreads(threads);
        List<Cell> cells = new ArrayList<>();
        try (BenchModel w = BenchModel.open(model, weights, seed)) {
            err.printf("model %s (%s), %d threads, KV %s, budget %d tokens/head, %d decoded tokens, %d reps%n", model,
                    w.description(), ops.pool().threads(), kvType, budget, decode, reps);
            StrategyNames names = new StrategyNames(w.weights(), budget, profile, ops, err)
                    .withMoaProfile(moaProfile, depths.stream().mapToInt(Integer::intValue).max().orElse(budget));
            List<Strategy> parsed = new ArrayList<>();
            for (String name : strategies) {
                parsed.add(names.parse(name));
            }
            // Every cell's memory is checked before any work, so that a depth beyond memory is
            // reported at once rather than after hours of the cells before it.
            String[][] problems = new String[parsed.size()][depths.size()];
            for (int i = 0; i < parsed.size(); i++) {
                for (int j = 0; j < depths.size(); j++) {
                    problems[i][j] = memoryProblem(w.weights(), parsed.get(i), depths.get(j), ops);
                    if (problems[i][j] != null) {
                        err.printf("%s depth %d: skipped: %s%n", parsed.get(i).name(), depths.get(j), problems[i][j]);
                    }
                }
            }
            for (int i = 0; i < parsed.size(); i++) {
                if (Arrays.stream(problems[i]).anyMatch(x -> x == null)) {
                    warmUp(w.weights(), parsed.get(i), ops, err);
                }
                for (int j = 0; j < depths.size(); j++) {
                    cells.add(problems[i][j] != null
                            ? Cell.skipped(parsed.get(i).name(), depths.get(j), problems[i][j])
                            : run(w.weights(), parsed.get(i), depths.get(j), ops, err));
                }
            }
        }
        if (json) {
            ObjectMapper m = new ObjectMapper();
            ArrayNode arr = m.createArrayNode();
            for (Cell c : cells) {
                ObjectNode o = arr.addObject();
                o.put("strategy", c.strategy());
                o.put("depth", c.depth());
                if (c.skipped() != null) {
                    o.put("skipped", c.skipped());
                    continue;
                }
                o.put("prefill_tps", c.prefillTps());
                o.put("prefill_tps_spread", c.prefillSpread());
                o.put("decode_tps", c.decodeTps());
                o.put("decode_tps_spread", c.decodeSpread());
                o.put("kv_bytes", c.kvBytes());
                o.put("kv_bytes_full_attention_layers", c.kvBytes() - c.kvBytesSliding());
                o.put("kv_bytes_sliding_layers", c.kvBytesSliding());
                o.put("peak_rss_bytes", c.peakRssBytes());
            }
            out.println(m.writerWithDefaultPrettyPrinter().writeValueAsString(arr));
        } else {
            out.printf("%-15s %8s %18s %18s %12s %13s %16s%n", "strategy", "depth", "prefill tok/s", "decode tok/s", "KV MiB",
                    "peak RSS MiB", "sliding KV MiB");
            for (Cell c : cells) {
                if (c.skipped() != null) {
                    out.printf("%-15s %8d   skipped: %s%n", c.strategy(), c.depth(), c.skipped());
                } else {
                    out.printf(Locale.ROOT, "%-15s %8d %10.1f ± %5.1f %10.2f ± %5.2f %12.1f %13.0f %16.1f%n", c.strategy(),
                            c.depth(), c.prefillTps(), c.prefillSpread(), c.decodeTps(), c.decodeSpread(), c.kvBytes() / 1048576.0,
                            c.peakRssBytes() / 1048576.0, c.kvBytesSliding() / 1048576.0);
                }
            }
        }
        out.flush();
        if (chart != null) {
            writeChart(cells, chart);
            err.println("chart: " + chart);
        }
        return 0;
    }

    private Cell run(ModelWeights w, Strategy s, int depth, TensorOps ops, PrintWriter err) {
        double[] prefill = new double[reps];
        double[] dec = new double[reps];
        long kv = 0;
        long kvSliding = 0;
        long peakRss = 0;
        int[] prompt = BenchData.randomTokens(depth, w.config().vocabSize(), seed + depth);
        for (int rep = 0; rep < reps; rep++) {
            int repNo = rep + 1;
            // Each run reports its own peak; where the kernel refuses the reset, the process's peak.
            ProcessMemory.resetPeak();
            try (Session session = sessionFor(w, s, depth, ops)) {
                DecodeCpu cpu = new DecodeCpu();
                ProgressLine line = ProgressLine.on(err);
                Generation g = session.generate(prompt, GenerateOptions.greedy(decode).withStopIds(List.of()), cpu,
                        (done, total) -> line.update("%s depth %d rep %d: prefill %d/%d", s.name(), depth, repNo, done, total));
                prefill[rep] = g.prefillTokensPerSecond();
                dec[rep] = g.decodeTokensPerSecond();
                kv = session.kvBytesInUse();
                kvSliding = session.kvBytesInUse(ModelConfig.LayerType.SLIDING_ATTENTION);
                peakRss = Math.max(peakRss, ProcessMemory.peakResidentBytes().orElse(0));
                line.overwrite();
                err.printf(Locale.ROOT, "%s depth %d rep %d: prefill %.1f tok/s, decode %.2f tok/s, KV %d bytes, "
                        + "decode CPU of the calling thread %.3f ms/token%n", s.name(), depth, rep + 1, prefill[rep], dec[rep], kv,
                        cpu.millisPerStep());
            } catch (ContextBudgetException e) {
                err.printf("%n%s depth %d: skipped (%s)%n", s.name(), depth, e.getMessage());
                return Cell.skipped(s.name(), depth, e.getMessage());
            }
        }
        return new Cell(s.name(), depth, median(prefill), spread(prefill), median(dec), spread(dec), kv, kvSliding, peakRss, null);
    }

    /**
     * CPU time of the generating thread between the first token (the prefill's) and the last, per
     * decode step. With {@code -Dlongctx.threads=1} the calling thread does all of a step's work, so
     * this is the step's cost whatever else the machine runs (wall-clock tok/s is not, on a shared
     * machine); with more threads it is only the caller's share, spin-waits included.
     */
    private static final class DecodeCpu implements Session.TokenListener {
        private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();
        private long first = -1;
        private long last;
        private int steps = -1;

        @Override
        public void onToken(int id, String text) {
            long now = THREADS.getCurrentThreadCpuTime();
            if (first < 0) {
                first = now;
            }
            last = now;
            steps++;
        }

        double millisPerStep() {
            return steps <= 0 ? Double.NaN : (last - first) / 1e6 / steps;
        }
    }

    /** A cell's session: strategies that keep every token get room for the depth and the decoded tokens. */
    private Session sessionFor(ModelWeights w, Strategy s, int depth, TensorOps ops) {
        int tokens = s.keepsEveryToken() ? Math.max(budget, depth + decode + 1) : budget; // duo also needs its window
        return Session.builder(w).strategy(s).budgetTokens(tokens).kvType(kvType).chunkSize(chunk).ops(ops).build();
    }

    /**
     * Why a cell cannot run, or null: for strategies that keep every token, a context beyond the
     * model's (bounded strategies run past it, as the session allows); for all, KV pages beyond the
     * memory available now (building a session reserves nothing; pages are allocated as they fill).
     */
    private String memoryProblem(ModelWeights w, Strategy s, int depth, TensorOps ops) {
        long positions = (long) depth + decode;
        if (s.keepsEveryToken() && positions > w.config().maxPositions()) {
            return "depth " + depth + " + " + decode + " decoded tokens exceeds the model's context of "
                    + w.config().maxPositions() + " positions";
        }
        long needed;
        try (Session session = sessionFor(w, s, depth, ops)) {
            needed = session.kvBudgetBytes();
        } catch (ContextBudgetException e) {
            return e.getMessage();
        }
        OptionalLong free = ProcessMemory.availableBytes();
        if (free.isEmpty()) {
            return null; // not Linux: nothing to check against; the pool's own budget still applies
        }
        // The Java heap may still grow to its maximum beside the off-heap pages.
        Runtime rt = Runtime.getRuntime();
        long heapGrowth = rt.maxMemory() - rt.totalMemory();
        long available = free.getAsLong() - heapGrowth;
        if (needed > available) {
            return String.format(Locale.ROOT, "needs %d bytes (%.1f GiB) of KV pages; %d bytes (%.1f GiB) available"
                    + " (MemAvailable %d less %d the Java heap may still take)", needed, needed / 1073741824.0,
                    available, available / 1073741824.0, free.getAsLong(), heapGrowth);
        }
        return null;
    }

    /** The strategy's untimed warm-up ({@link WarmUp}) at a context past the budget, so that eviction and selection run. */
    private void warmUp(ModelWeights w, Strategy s, TensorOps ops, PrintWriter err) {
        int context = (int) Math.min(budget + 2L * chunk, w.config().maxPositions() / 2);
        WarmUp.run(w, s, context, budget, chunk, kvType, ops, decode, err);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    /** Half the range. */
    static double spread(double[] v) {
        return (Arrays.stream(v).max().orElse(0) - Arrays.stream(v).min().orElse(0)) / 2;
    }

    private void writeChart(List<Cell> cells, Path file) throws IOException {
        XYChart c = new XYChartBuilder().width(900).height(500).title("longctx bench: " + model).xAxisTitle("context depth (tokens)")
                .yAxisTitle("decode tokens/s").build();
        c.setYAxisGroupTitle(1, "KV MiB");
        c.getStyler().setYAxisGroupPosition(1, org.knowm.xchart.style.Styler.YAxisPosition.Right);
        for (String name : cells.stream().map(Cell::strategy).distinct().toList()) {
            List<Cell> rows = cells.stream().filter(x -> x.strategy().equals(name) && x.skipped() == null).toList();
            if (rows.isEmpty()) {
                continue;
            }
            double[] x = rows.stream().mapToDouble(Cell::depth).toArray();
            c.addSeries(name + " tok/s", x, rows.stream().mapToDouble(Cell::decodeTps).toArray());
            XYSeries kv = c.addSeries(name + " KV", x, rows.stream().mapToDouble(v -> v.kvBytes() / 1048576.0).toArray());
            kv.setYAxisGroup(1);
        }
        // Written beside the target and moved into place, so an interrupted run leaves no partial chart.
        Path target = file.toAbsolutePath();
        Path tmp = target.resolveSibling("." + target.getFileName() + ".partial.png");
        try {
            BitmapEncoder.saveBitmap(c, tmp.toString().replaceFirst("\\.png$", ""), BitmapEncoder.BitmapFormat.PNG);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }
}
