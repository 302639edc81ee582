package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.AttentionProblem;
import dev.longctx.attention.NaiveAttention;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import java.io.PrintWriter;
import java.io.StringWriter;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * The sequence-parallel simulation: partial states of N shards, merged, equal single-pool attention
 * (and the naive reference) at awkward sizes: shards cut inside pages, a shard shorter than a
 * page, a context that is not a multiple of the page size, grouped-query heads, every page dtype.
 * Times are printed by the command, never asserted.
 */
class SequenceParallelSimulationTest {
    private static final SequenceParallelSimulation.Shape SMALL = new SequenceParallelSimulation.Shape("small", 3, 6, 2, 32);

    private static void check(int context, int workers, DType kvType) {
        try (ComputePool pool = ComputePool.create(2);
             SequenceParallelSimulation sim = new SequenceParallelSimulation(SMALL, context, workers, kvType,
                     new TensorOps(KernelProvider.get(), pool), 7)) {
            int total = 0;
            for (int i = 0; i < workers; i++) {
                total += sim.shardTokens(i);
            }
            assertEquals(context, total);
            for (int s = 0; s < 2; s++) {
                SequenceParallelSimulation.Step step = sim.step();
                assertEquals(workers, step.shardNanos().length);
                // Both sides read the same pages; only the f32 merge tree differs.
                assertTrue(step.maxAbsDiff() < 2e-5, context + " tokens, " + workers + " workers, " + kvType + ": "
                        + step.maxAbsDiff());
            }
            AttentionProblem last = sim.wholeProblem(SMALL.layers() - 1);
            float[] naive = new float[last.outputLength()];
            new NaiveAttention().attend(last, naive, null, null);
            float[] merged = sim.lastMerged();
            for (int i = 0; i < naive.length; i++) {
                assertEquals(naive[i], merged[i], 1e-4 * Math.max(1, Math.abs(naive[i])), "element " + i);
            }
        }
    }

    @Test
    void mergedShardsEqualOnePoolAtAwkwardSizes() {
        check(1000, 1, DType.F32);   // one worker: the merge is the identity
        check(1000, 3, DType.BF16);  // cuts at 333 and 666, inside pages
        check(1000, 7, DType.F16);   // 7 shards of 142-143 tokens
        check(129, 5, DType.Q8_0);   // shards of 25-26 tokens, shorter than a page
        check(2311, 4, DType.BF16);  // more than 16 pages per head on one pool: split-K's own units and merges
    }

    @Test
    void bytesPerLayerPerToken() {
        // Llama 3.1 8B, 4 workers, f32 on the wire: 4 queries of 32 x 128 floats and one token's K and V
        // (2 x 8 x 128) out; 4 partial outputs plus 32 log-sum-exps back.
        long[] b = SequenceParallelSimulation.bytesPerLayerPerToken(SequenceParallelSimulation.Shape.LLAMA3_8B, 4, 4);
        assertEquals(4 * 32 * 128 * 4 + 2 * 8 * 128 * 4, b[0]);
        assertEquals(4 * (32 * 128 * 4 + 32 * 4), b[1]);
        assertEquals(131_072, SequenceParallelSimulation.Shape.LLAMA3_8B.kvBytesPerToken(DType.BF16));
    }

    @Test
    void commandPrintsOneLinePerWorkerCount() {
        StringWriter out = new StringWriter();
        CommandLine cl = new CommandLine(new SeqParallelCommand());
        cl.setOut(new PrintWriter(out));
        int code = cl.execute("--context", "700", "--workers", "1,3", "--steps", "1", "--threads", "1");
        assertEquals(0, code, out.toString());
        String[] lines = out.toString().strip().split("\n");
        assertEquals(4, lines.length, out.toString());
        assertTrue(lines[3].trim().startsWith("3 "), lines[3]);
    }
}
