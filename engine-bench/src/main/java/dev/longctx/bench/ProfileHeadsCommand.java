package dev.longctx.bench;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.HeadProfiler;
import dev.longctx.bench.ruler.FillerPool;
import dev.longctx.bench.ruler.RandomSource;
import dev.longctx.bench.ruler.RulerGenerator;
import dev.longctx.bench.ruler.RulerSpec;
import dev.longctx.bench.ruler.MoaTaskProfiler;
import dev.longctx.bench.ruler.TaskHeadProfiler;
import dev.longctx.kvcache.MoaProfile;
import dev.longctx.bench.ruler.TaskInstance;
import dev.longctx.models.Model;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * Runs the retrieval-head profiler on a model and writes the profile JSON (for {@code generate --strategy duo}):
 * on random-token needles (Wu et al.'s synthetic setting), or with {@code --tasks} on the retrieval
 * model's own task instances ({@link TaskHeadProfiler}).
 */
@Command(name = "profile-heads", description = "Score every KV head's retrieval behaviour on synthetic needle prompts and"
        + " write a head profile JSON.")
public final class ProfileHeadsCommand implements Callable<Integer> {
    @Option(names = "--model", required = true, description = "GGUF file, llama2.c .bin or Hugging Face folder")
    Path model;

    @Option(names = "--out", required = true, description = "where to write the profile JSON")
    Path out;

    @Option(names = "--context", defaultValue = "512", description = "tokens per synthetic prompt (default ${DEFAULT-VALUE})")
    int context;

    @Option(names = "--needle", defaultValue = "16", description = "needle tokens (default ${DEFAULT-VALUE})")
    int needle;

    @Option(names = "--depths", split = ",", defaultValue = "0.1,0.5,0.9", description = "needle depths in [0,1]")
    double[] depths;

    @Option(names = "--fraction", defaultValue = "0.25", description = "share of KV heads marked retrieval (default ${DEFAULT-VALUE})")
    double fraction;

    @Option(names = "--seed", defaultValue = "42", description = "random seed (default ${DEFAULT-VALUE})")
    long seed;

    @Option(names = "--tasks", split = ",", description = "profile on generated task instances of the retrieval model"
            + " (tools/retrieval-model; e.g. niah_single,niah_multikey) instead of random-token needles")
    List<String> tasks;

    @Option(names = "--spec", description = "with --tasks: the generator's tasks.json (default: beside the model)")
    Path specFile;

    @Option(names = "--instances", defaultValue = "8", description = "with --tasks: instances per task, at depths spread over"
            + " [0.05, 0.95] (default ${DEFAULT-VALUE})")
    int instances;

    @Option(names = "--threads", description = "compute threads (default: available cores)")
    Integer threads;

    @Option(names = "--moa", description = "with --tasks: write a MoA profile instead (each KV head's dropped attention mass"
            + " under every candidate window alpha + beta * N; eval and bench fit it to their budget with --moa-profile)")
    boolean moa;

    @Option(names = "--lengths", split = ",", description = "with --moa: instance lengths in tokens (default: --context)")
    List<Integer> lengths;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** {@code longctx profile-heads ...}. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new ProfileHeadsCommand()).execute(args));
    }

    /** {@code --instances} instances of each of {@code --tasks}, {@code --context} tokens each, seeded. */
    private List<TaskInstance> instances(Model m) throws IOException {
        return instances(m, List.of(context));
    }

    /** As above, at each of {@code contexts}. */
    private List<TaskInstance> instances(Model m, List<Integer> contexts) throws IOException {
        Path abs = model.toAbsolutePath();
        Path tasksJson = specFile != null ? specFile
                : Files.isDirectory(abs) && Files.isRegularFile(abs.resolve("tasks.json")) ? abs.resolve("tasks.json")
                : abs.resolveSibling("tasks.json");
        RulerSpec rs = RulerSpec.load(tasksJson, m.tokenizer());
        RandomSource rnd = RandomSource.seeded(seed);
        int longest = contexts.stream().mapToInt(Integer::intValue).max().orElse(context);
        RulerGenerator gen = new RulerGenerator(rs, FillerPool.generate(rs, 3 * longest + 40_000, rnd));
        List<TaskInstance> out = new ArrayList<>();
        for (int length : contexts) {
            for (String t : tasks) {
                for (int i = 0; i < instances; i++) {
                    double depth = instances == 1 ? 0.5 : 0.05 + 0.9 * i / (instances - 1);
                    out.add(gen.instance(t.trim(), length, depth, rnd));
                }
            }
        }
        return out;
    }

    @Override
    public Integer call() throws Exception {
        TensorOps ops = TensorOps.withThreads(threads);
        if (moa) {
            return moaProfile(ops);
        }
        HeadProfiler.Settings settings = new HeadProfiler.Settings(context, needle, depths, seed);
        try (Model m = Model.open(model);
                DecoderProfilerModel adapter = new DecoderProfilerModel(m.weights(), ops, context + needle)) {
            HeadProfile profile = tasks == null ? HeadProfiler.profile(adapter, settings, fraction)
                    : HeadProfile.byFraction(TaskHeadProfiler.score(adapter, instances(m)), fraction);
            profile.write(out);
            PrintWriter w = spec.commandLine().getOut();
            w.printf("wrote %s: %d of %d KV heads are retrieval heads%n", out, profile.retrievalHeads(),
                    m.config().layers() * m.config().kvHeads());
            w.flush();
        }
        return 0;
    }

    private int moaProfile(TensorOps ops) throws IOException {
        if (tasks == null) {
            throw new CommandLine.ParameterException(spec.commandLine(), "--moa profiles on task instances: give --tasks");
        }
        List<Integer> ls = lengths == null || lengths.isEmpty() ? List.of(context) : lengths;
        int longest = ls.stream().mapToInt(Integer::intValue).max().orElseThrow();
        try (Model m = Model.open(model); DecoderProfilerModel adapter = new DecoderProfilerModel(m.weights(), ops, longest + 64)) {
            MoaProfile p = MoaTaskProfiler.profile(adapter, instances(m, ls), MoaProfile.DEFAULT_SINKS, MoaProfile.defaultAlphas(),
                    MoaProfile.defaultBetas());
            p.write(out);
            PrintWriter w = spec.commandLine().getOut();
            w.printf("wrote %s: MoA losses of %d candidate rules for %d x %d KV heads, on %d instances%n", out, p.candidates(),
                    p.layers(), p.kvHeads(), ls.size() * tasks.size() * instances);
            w.flush();
        }
        return 0;
    }
}
