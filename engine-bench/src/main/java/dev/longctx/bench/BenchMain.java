package dev.longctx.bench;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.VectorKernels;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import java.util.stream.Stream;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.RunnerException;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Runs the kernel benchmarks through JMH and prints a roofline table: each benchmark's GB/s or
 * GFLOP/s next to the read bandwidth or FMA peak measured on this machine by {@link RooflineBench},
 * and whether the targets are met.
 *
 * <pre>
 * BenchMain [--quick|--full] [--threads N] [--json FILE] [--include REGEX]
 * </pre>
 * <ul>
 *   <li>{@code --quick} (default): a subset in about 3-4 minutes on 2 cores: the roofline probes,
 *       matvec of every dtype at 2048x8192 and 576x1536, matmul F32 and Q8_0 of 512 tokens on
 *       8192x2048 weights, rmsnorm and softmax at 128K; 1 fork, warmup 2 x 1 s, 2 x 1 s measured.</li>
 *   <li>{@code --full}: every benchmark and parameter, warmup 3 x 2 s, 5 x 2 s measured.</li>
 *   <li>{@code --threads N}: compute-pool threads (default 2, the cores of the reference machine).</li>
 *   <li>{@code --json FILE}: also writes every record (name, params, score, unit, derived figure,
 *       fraction) and the targets as JSON.</li>
 *   <li>{@code --include REGEX}: only kernel benchmarks whose full JMH name
 *       ({@code dev.longctx.bench.MatvecBench.matvec}) contains a match. The roofline probes always
 *       run, because every fraction needs them.</li>
 * </ul>
 * JMH's own progress output goes to log files in a temporary directory (named on stderr); the table
 * goes to stdout.
 */
public final class BenchMain {
    private static final String PKG = BenchMain.class.getPackageName();
    /** Flags the forked benchmark JVMs need; the same as the benchmarks' {@code @Fork} annotations. */
    private static final String[] FORK_FLAGS = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED"};
    /** Default compute-pool threads: the 2 cores of the reference machine (see llamacpp-baseline.md). */
    static final int DEFAULT_THREADS = 2;

    /** JMH iteration settings of one mode. */
    record Settings(int warmupIterations, int warmupMillis, int iterations, int millis) {
    }

    /**
     * Quick mode: two 1 s warmups (before C2 has compiled them, Vector API kernels run 10-1000x
     * slower because every vector is boxed, and on 2 shared cores C2 needs a few seconds for the
     * larger kernels), then six 0.5 s iterations of which the best is reported (see
     * {@link #toRaw}).
     */
    static final Settings QUICK = new Settings(2, 1000, 6, 500);
    static final Settings FULL = new Settings(3, 2000, 8, 1000);

    /**
     * Benchmarks run together in one JMH invocation with one set of parameters.
     *
     * @param label for progress lines
     * @param methods full JMH names ({@code package.Class.method})
     * @param params parameter values (empty: the annotations' defaults)
     * @param probe whether these are the roofline probes (never filtered out)
     */
    record Group(String label, List<String> methods, Map<String, String[]> params, boolean probe) {
    }

    private BenchMain() {
    }

    /** Entry point; exits with status 2 on bad arguments and 1 when a benchmark fails. */
    public static void main(String[] args) {
        Cli cli;
        try {
            cli = Cli.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println("BenchMain: " + e.getMessage());
            System.err.println(Cli.USAGE);
            System.exit(2);
            return;
        }
        if (cli.help) {
            System.out.println(Cli.USAGE);
            return;
        }
        try {
            run(cli);
        } catch (RunnerException | IOException | RuntimeException e) {
            System.err.println("BenchMain: " + e);
            System.exit(1);
        }
    }

    private static void run(Cli cli) throws RunnerException, IOException {
        List<Group> groups = groups(cli.full).stream()
                .map(g -> filter(g, cli.include))
                .filter(g -> !g.methods().isEmpty())
                .toList();
        Settings s = cli.full ? FULL : QUICK;
        Path logs = Files.createTempDirectory("longctx-bench-");
        System.err.printf(Locale.ROOT, "BenchMain: %s mode, %d threads; JMH logs in %s%n",
                cli.full ? "full" : "quick", cli.threads, logs);
        List<RooflineReport.Raw> raws = new ArrayList<>();
        long start = System.nanoTime();
        for (Group g : groups) {
            Path log = logs.resolve(g.label() + ".log");
            System.err.printf(Locale.ROOT, "BenchMain: running %s (%s) ...%n", g.label(),
                    String.join(", ", g.methods().stream().map(Throughput::shortName).toList()));
            try {
                for (RunResult r : runGroup(g, s, cli.threads, log)) {
                    raws.add(toRaw(r));
                }
            } catch (RunnerException e) {
                throw new RunnerException(g.label() + " failed; see " + log, e);
            }
            System.err.printf(Locale.ROOT, "BenchMain: %s done at %.0f s%n", g.label(), (System.nanoTime() - start) / 1e9);
        }
        RooflineReport report = RooflineReport.of(raws);
        Map<String, String> machine = machine(cli);
        List<String> header = new ArrayList<>();
        header.add(String.format(Locale.ROOT, "longctx roofline (%s mode)", cli.full ? "full" : "quick"));
        header.add(String.format(Locale.ROOT, "machine: %s, %s cores | JVM: %s | kernels: %s | threads: %d",
                machine.get("cpu"), machine.get("cores"), machine.get("jvm"), machine.get("kernels"), cli.threads));
        report.print(System.out, header);
        if (cli.json != null) {
            Files.writeString(cli.json, report.toJson(machine), StandardCharsets.UTF_8);
            System.err.println("BenchMain: wrote " + cli.json);
        }
    }

    /** The groups of a mode, in run order (probes first: the table compares with them). */
    static List<Group> groups(boolean full) {
        // The probes run first and last: the machine is shared, and the highest of the two runs is
        // the roofline every kernel is compared with.
        Group probes = new Group("roofline",
                List.of(name("RooflineBench", "read"), name("RooflineBench", "triad"), name("RooflineBench", "fma")),
                Map.of(), true);
        if (full) {
            return List.of(probes,
                    new Group("matvec", List.of(name("MatvecBench", "matvec")), Map.of(), false),
                    new Group("matmul", List.of(name("MatmulBench", "matmul")), Map.of(), false),
                    new Group("elementwise", List.of(name("ElementwiseBench", "rmsnorm"), name("ElementwiseBench", "softmax"),
                            name("ElementwiseBench", "silu"), name("ElementwiseBench", "dot"),
                            name("ElementwiseBench", "rope")), Map.of(), false),
                    new Group("roofline-again", probes.methods(), Map.of(), true));
        }
        Map<String, String[]> matvec = new LinkedHashMap<>();
        matvec.put("dtype", new String[] {"F32", "F16", "BF16", "Q8_0", "Q4_0", "Q5_0", "Q4_K", "Q6_K"});
        matvec.put("shape", new String[] {RooflineReport.MATVEC_TARGET_SHAPE, "576x1536"});
        Map<String, String[]> matmul = new LinkedHashMap<>();
        matmul.put("dtype", new String[] {"F32", "Q8_0"});
        matmul.put("shape", new String[] {RooflineReport.MATMUL_TARGET_SHAPE});
        matmul.put("tokens", new String[] {RooflineReport.MATMUL_TARGET_TOKENS});
        return List.of(probes,
                new Group("matvec", List.of(name("MatvecBench", "matvec")), matvec, false),
                new Group("matmul", List.of(name("MatmulBench", "matmul")), matmul, false),
                new Group("elementwise", List.of(name("ElementwiseBench", "rmsnorm"), name("ElementwiseBench", "softmax")),
                        Map.of(), false),
                new Group("roofline-again", probes.methods(), Map.of(), true));
    }

    /** Keeps the group's methods that match {@code include} (probes are kept whatever it says). */
    static Group filter(Group g, Pattern include) {
        if (include == null || g.probe()) {
            return g;
        }
        List<String> kept = g.methods().stream().filter(m -> include.matcher(m).find()).toList();
        return new Group(g.label(), kept, g.params(), g.probe());
    }

    private static String name(String cls, String method) {
        return PKG + "." + cls + "." + method;
    }

    private static Collection<RunResult> runGroup(Group g, Settings s, int threads, Path log) throws RunnerException {
        ChainedOptionsBuilder o = new OptionsBuilder()
                .forks(1)
                .warmupIterations(s.warmupIterations())
                .warmupTime(TimeValue.milliseconds(s.warmupMillis()))
                .measurementIterations(s.iterations())
                .measurementTime(TimeValue.milliseconds(s.millis()))
                .jvmArgsAppend(FORK_FLAGS)
                .param("threads", Integer.toString(threads))
                .shouldFailOnError(true)
                .output(log.toString());
        for (String m : g.methods()) {
            o = o.include("^" + Pattern.quote(m) + "$");
        }
        for (Map.Entry<String, String[]> p : g.params().entrySet()) {
            o = o.param(p.getKey(), p.getValue());
        }
        return new Runner(o.build()).run();
    }

    /**
     * The best iteration (lowest time per op) and half the spread between best and worst. These
     * machines are shared: a neighbour only ever slows an iteration down, so the best iteration is
     * the closest to what the hardware does, and the probes and the kernels are treated alike, so
     * the fractions compare like with like.
     */
    private static RooflineReport.Raw toRaw(RunResult r) {
        var bp = r.getParams();
        Map<String, String> params = new LinkedHashMap<>();
        for (String k : bp.getParamsKeys()) {
            params.put(k, bp.getParam(k));
        }
        double best = Double.POSITIVE_INFINITY;
        double worst = Double.NEGATIVE_INFINITY;
        for (var br : r.getBenchmarkResults()) {
            for (var it : br.getIterationResults()) {
                double v = it.getPrimaryResult().getScore();
                best = Math.min(best, v);
                worst = Math.max(worst, v);
            }
        }
        var primary = r.getPrimaryResult();
        if (!Double.isFinite(best)) {
            return new RooflineReport.Raw(bp.getBenchmark(), params, primary.getScore(), primary.getScoreError(),
                    primary.getScoreUnit());
        }
        return new RooflineReport.Raw(bp.getBenchmark(), params, best, (worst - best) / 2, primary.getScoreUnit());
    }

    /** The header facts: CPU model, cores, JVM, kernels and threads. */
    private static Map<String, String> machine(Cli cli) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("cpu", cpuModel());
        m.put("cores", Integer.toString(Runtime.getRuntime().availableProcessors()));
        m.put("jvm", System.getProperty("java.vm.name") + " " + System.getProperty("java.runtime.version"));
        VectorKernels k = KernelProvider.get();
        // The forks always add jdk.incubator.vector; this JVM may not have, and then reports scalar.
        m.put("kernels", k.isVectorized() ? k.name()
                : k.name() + " in this JVM (the benchmark forks add jdk.incubator.vector)");
        m.put("threads", Integer.toString(cli.threads));
        m.put("mode", cli.full ? "full" : "quick");
        return m;
    }

    private static String cpuModel() {
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (Files.isReadable(cpuinfo)) {
            try (Stream<String> lines = Files.lines(cpuinfo)) {
                var model = lines.filter(l -> l.startsWith("model name")).findFirst();
                if (model.isPresent() && model.get().indexOf(':') >= 0) {
                    return model.get().substring(model.get().indexOf(':') + 1).trim();
                }
            } catch (IOException | java.io.UncheckedIOException e) {
                // fall back to the architecture name below
            }
        }
        return System.getProperty("os.arch");
    }

    /** Parsed command line. */
    static final class Cli {
        static final String USAGE = "usage: BenchMain [--quick|--full] [--threads N] [--json FILE] [--include REGEX]";

        boolean full;
        boolean help;
        int threads = DEFAULT_THREADS;
        Path json;
        Pattern include;

        static Cli parse(String[] args) {
            Cli c = new Cli();
            for (int i = 0; i < args.length; i++) {
                String a = args[i];
                switch (a) {
                    case "--quick" -> c.full = false;
                    case "--full" -> c.full = true;
                    case "-h", "--help" -> c.help = true;
                    case "--threads" -> {
                        String v = value(args, ++i, a);
                        try {
                            c.threads = Integer.parseInt(v);
                        } catch (NumberFormatException e) {
                            throw new IllegalArgumentException("--threads needs a positive integer, got '" + v + "'");
                        }
                        if (c.threads < 1) {
                            throw new IllegalArgumentException("--threads needs a positive integer, got " + v);
                        }
                    }
                    case "--json" -> c.json = Path.of(value(args, ++i, a));
                    case "--include" -> {
                        String v = value(args, ++i, a);
                        try {
                            c.include = Pattern.compile(v);
                        } catch (PatternSyntaxException e) {
                            throw new IllegalArgumentException("--include: bad regular expression: " + e.getMessage());
                        }
                    }
                    default -> throw new IllegalArgumentException("unknown argument '" + a + "'");
                }
            }
            return c;
        }

        private static String value(String[] args, int i, String option) {
            if (i >= args.length) {
                throw new IllegalArgumentException(option + " needs a value");
            }
            return args[i];
        }
    }
}
