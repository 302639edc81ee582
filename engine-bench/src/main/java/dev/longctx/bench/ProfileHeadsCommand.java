package dev.longctx.bench;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.kvcache.HeadProfile;
import dev.longctx.kvcache.HeadProfiler;
import dev.longctx.models.Model;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** Runs the retrieval-head profiler on a model and writes the profile JSON (for {@code generate --strategy duo}). */
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

    @Option(names = "--threads", description = "compute threads (default: available cores)")
    Integer threads;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** {@code longctx profile-heads ...}. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new ProfileHeadsCommand()).execute(args));
    }

    @Override
    public Integer call() throws Exception {
        TensorOps ops = TensorOps.withThreads(threads);
        HeadProfiler.Settings settings = new HeadProfiler.Settings(context, needle, depths, seed);
        try (Model m = Model.open(model);
                DecoderProfilerModel adapter = new DecoderProfilerModel(m.weights(), ops, context + needle)) {
            HeadProfile profile = HeadProfiler.profile(adapter, settings, fraction);
            profile.write(out);
            PrintWriter w = spec.commandLine().getOut();
            w.printf("wrote %s: %d of %d KV heads are retrieval heads%n", out, profile.retrievalHeads(),
                    m.config().layers() * m.config().kvHeads());
            w.flush();
        }
        return 0;
    }
}
