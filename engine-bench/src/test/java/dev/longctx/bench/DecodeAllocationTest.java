package dev.longctx.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.models.Model;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Session;
import dev.longctx.models.session.Strategy;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * A decode step allocates nothing once warm: the decoder's buffers are the session's, the pool
 * reuses one job, the matvec and attention tasks and scratch are kept per thread, the KV cache
 * writes pages in place. Measured with the JVM's allocation counter over all threads
 * ({@code getTotalThreadAllocatedBytes}) between consecutive tokens of one generation (the token
 * listener reads it), without a tokenizer (the text of each token is a new String by design). The
 * steps that open a page, or grow the cache's page tables (doubling, amortised), allocate; the
 * median step must allocate nothing.
 */
class DecodeAllocationTest {
    private static final int STEPS = 400;

    /** Looked up once: ManagementFactory.getThreadMXBean() itself allocates on every call. */
    private static final com.sun.management.ThreadMXBean THREADS = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private static long allocatedBytes() {
        return THREADS.getTotalThreadAllocatedBytes();
    }

    /** Bytes allocated between consecutive tokens of a {@code STEPS}-token greedy generation of a fork of {@code base}. */
    private static long[] perStep(Session base) {
        long[] at = new long[STEPS];
        int[] n = {0};
        try (Session s = base.fork()) {
            Generation g = s.generate(new int[] {1}, GenerateOptions.greedy(STEPS).withStopIds(List.of()),
                    (id, text) -> at[n[0]++] = allocatedBytes());
            assertEquals(STEPS, g.outputIds().length);
        }
        long[] steps = new long[STEPS - 1];
        for (int i = 1; i < STEPS; i++) {
            steps[i - 1] = at[i] - at[i - 1];
        }
        return steps;
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"full", "streaming"})
    void decodeStepsAllocateNothing(String strategy) {
        assertDecodeAllocatesNothing(EvalCommandTest.stories(), strategy, new int[] {1, 400, 300, 200, 100});
    }

    /**
     * Gemma 3 (the models module's fixture: five sliding layers of window 16, one global layer, two
     * RoPE tables): returning the local layers' pages to the pool as decoding moves on allocates
     * nothing either.
     */
    @Test
    void slidingLayersReleasingPagesAllocateNothing() {
        Path gemma3 = Path.of("").toAbsolutePath().getParent()
                .resolve("models/src/test/resources/fixtures/arch/gemma3-text/model.gguf");
        assertDecodeAllocatesNothing(gemma3, "full", new int[] {1, 40, 30, 20, 10});
    }

    private static void assertDecodeAllocatesNothing(Path model, String strategy, int[] prompt) {
        TensorOps ops = new TensorOps(KernelProvider.get(), ComputePool.create(2));
        try (Model m = Model.open(model, Model.Options.defaults().withOps(ops));
             // page size 16: the split-K kernel (8+ pages per unit) takes over from the tiled one at these depths
             Session base = Session.builder(m.weights()).ops(ops).kvType(DType.BF16).pageSize(16)
                     .strategy(Strategy.parse(strategy)).budgetTokens(strategy.equals("full") ? 1024 : 200).build()) {
            base.prefill(prompt, null);
            // C2 compiles the decode path (and scalar-replaces its temporaries) in the background: at least 15
            // rounds, then more while a round's median step still allocates, up to 60. On a loaded 2-core CI
            // machine 15 rounds were once not enough (median 32,256 bytes in one full run, 0 in every rerun);
            // the measured round below is held to the same assertions either way.
            for (int i = 0; i < 60; i++) {
                long[] warm = perStep(base);
                Arrays.sort(warm);
                if (i >= 14 && warm[warm.length / 2] == 0) {
                    break;
                }
            }
            long[] steps = perStep(base);
            long total = Arrays.stream(steps).sum();
            long[] sorted = steps.clone();
            Arrays.sort(sorted);
            long median = sorted[sorted.length / 2];
            long zero = Arrays.stream(steps).filter(b -> b == 0).count();
            String report = model.getFileName() + " " + strategy + ", per decode step: median " + median + " bytes, mean " + total / steps.length + ", " + zero + " of "
                    + steps.length + " steps allocated nothing, largest " + sorted[sorted.length - 1];
            System.err.println("DecodeAllocationTest " + report);
            // Before the preallocated decoder state (2026-12-06): every step allocated, ~650 KB on SmolLM2's shape.
            assertEquals(0, median, report);
            assertTrue(zero > steps.length * 3 / 4, report);
        }
    }
}
