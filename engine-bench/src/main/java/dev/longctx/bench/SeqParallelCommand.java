package dev.longctx.bench;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code longctx seqpar-sim}: the sequence-parallel decode simulation ({@link SequenceParallelSimulation})
 * for each worker count: per decode step, the attention time of each shard (what one worker
 * computes, all layers), the coordinator's merge, single-pool attention over the whole context,
 * the largest difference between merged and single-pool outputs, and the bytes sent and received
 * per layer per token. Shards run one after another here, each on the whole compute pool, so a
 * shard's time is what a worker with these cores would take.
 *
 * <p>Threading: a picocli command, one call at a time.
 */
@Command(name = "seqpar-sim", mixinStandardHelpOptions = true,
        description = "Sequence-parallel decode simulated in one JVM: N KV shards, partial states merged.")
public final class SeqParallelCommand implements Callable<Integer> {

    @Option(names = "--shape", defaultValue = "smollm2-135m", description = "smollm2-135m or llama3-8b (default ${DEFAULT-VALUE})")
    String shape;

    @Option(names = "--context", defaultValue = "32768", description = "cached tokens (default ${DEFAULT-VALUE})")
    int context;

    @Option(names = "--workers", split = ",", defaultValue = "1,2,4,8", description = "shard counts (default ${DEFAULT-VALUE})")
    List<Integer> workers;

    @Option(names = "--steps", defaultValue = "5", description = "decode steps measured per worker count, after one warm-up (default ${DEFAULT-VALUE})")
    int steps;

    @Option(names = "--threads", defaultValue = "2", description = "compute threads (default ${DEFAULT-VALUE})")
    int threads;

    @Option(names = "--kv-type", defaultValue = "BF16", description = "KV page dtype (default ${DEFAULT-VALUE})")
    DType kvType;

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** Entry point. */
    public static void main(String[] args) {
        System.exit(new CommandLine(new SeqParallelCommand()).execute(args));
    }

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        SequenceParallelSimulation.Shape s = switch (shape) {
            case "smollm2-135m" -> SequenceParallelSimulation.Shape.SMOLLM2_135M;
            case "llama3-8b" -> SequenceParallelSimulation.Shape.LLAMA3_8B;
            default -> throw new CommandLine.ParameterException(spec.commandLine(), "unknown shape '" + shape
                    + "' (smollm2-135m, llama3-8b)");
        };
        out.printf(Locale.ROOT, "%s: %d layers, %d query / %d KV heads of %d; context %d tokens, %s pages (%d bytes of KV per "
                        + "token); %d threads; median of %d decode steps%n", s.name(), s.layers(), s.queryHeads(), s.kvHeads(),
                s.headDim(), context, kvType, s.kvBytesPerToken(kvType), threads, steps);
        out.printf(Locale.ROOT, "%7s %12s %14s %14s %10s %10s %12s %16s %16s%n", "workers", "shard tok", "slowest ms",
                "mean shard ms", "merge us", "whole ms", "max |diff|", "sent B/layer", "recv B/layer");
        try (ComputePool pool = ComputePool.create(threads)) {
            TensorOps ops = new TensorOps(KernelProvider.get(), pool);
            for (int n : workers) {
                try (SequenceParallelSimulation sim = new SequenceParallelSimulation(s, context, n, kvType, ops, 42)) {
                    sim.step(); // warm-up
                    long[] slowest = new long[steps];
                    long[] mean = new long[steps];
                    long[] merge = new long[steps];
                    long[] whole = new long[steps];
                    double diff = 0;
                    for (int i = 0; i < steps; i++) {
                        SequenceParallelSimulation.Step st = sim.step();
                        slowest[i] = st.slowestShardNanos();
                        long sum = 0;
                        for (long x : st.shardNanos()) {
                            sum += x;
                        }
                        mean[i] = sum / n;
                        merge[i] = st.mergeNanos();
                        whole[i] = st.wholeNanos();
                        diff = Math.max(diff, st.maxAbsDiff());
                    }
                    long[] bytes = SequenceParallelSimulation.bytesPerLayerPerToken(s, n, 4);
                    out.printf(Locale.ROOT, "%7d %12d %14.2f %14.2f %10.1f %10.2f %12.2e %16d %16d%n", n, sim.shardTokens(n - 1),
                            median(slowest) / 1e6, median(mean) / 1e6, median(merge) / 1e3, median(whole) / 1e6, diff, bytes[0],
                            bytes[1]);
                    out.flush();
                }
            }
        }
        return 0;
    }

    private static double median(long[] v) {
        long[] c = v.clone();
        java.util.Arrays.sort(c);
        return c[c.length / 2];
    }
}
