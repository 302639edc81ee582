package dev.longctx.models.internal;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.attention.AttentionKernel;
import dev.longctx.attention.SelectedAttentionBudget;
import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.BlockPool;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SequenceKvCache;
import dev.longctx.models.session.Strategy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Which kernel TidalDecode and Recycled Attention run at each layer and step, and where their state lives. */
class PersistentSelectionPlanTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(1));

    private static StrategyPlan plan(Strategy s, int layers) {
        return StrategyPlan.resolve(s, 1024, KvLayout.of(layers, 2, 8, DType.F32), 16, OPS);
    }

    @Test
    void tidalLayersAreThePapersAtDepth32AndProportionalBelow() {
        assertArrayEquals(new int[] {2, 13}, plan(new Strategy.TidalDecode(0, 0, 0), 32).tidalLayers());
        assertArrayEquals(new int[] {1, 4}, plan(new Strategy.TidalDecode(0, 0, 0), 8).tidalLayers());
        assertArrayEquals(new int[] {2, 13}, plan(new Strategy.TidalDecode(0, 0, 0), 30).tidalLayers());
        assertArrayEquals(new int[] {1, -1}, plan(new Strategy.TidalDecode(0, 0, 0), 2).tidalLayers(), "no room to re-select");
        assertArrayEquals(new int[] {2, 6}, plan(new Strategy.TidalDecode(0, 0.25, 0.75), 8).tidalLayers());
        assertEquals(1024, ((Strategy.TidalDecode) plan(new Strategy.TidalDecode(0, 0, 0), 8).strategy).selected(), "budget");
    }

    /**
     * Issue 21: the recorded selections keep StreamingLLM's sinks and a one-page recent window
     * (the retrieval model's local heads lost all their attention without it), within the budget.
     */
    @Test
    void recordedSelectionsKeepSinksAndTheRecentWindow() {
        for (Strategy s : new Strategy[] {new Strategy.TidalDecode(512, 0, 0), new Strategy.Recycled(512, 10)}) {
            SelectedAttentionBudget b = plan(s, 8).recordingBudget();
            assertEquals(new SelectedAttentionBudget(512, SelectedAttentionBudget.DEFAULT_SINKS,
                    SelectedAttentionBudget.DEFAULT_WINDOW), b, s.name());
        }
        assertEquals(new SelectedAttentionBudget(64, 0, 32), plan(new Strategy.Recycled(64, 10), 8).recordingBudget(),
                "a small selection forces half of itself");
        assertEquals(null, plan(new Strategy.Full(), 8).recordingBudget());
    }

    @Test
    void tidalDecodeStepIsDenseThenRecordsThenReusesThenReselects() {
        StrategyPlan p = plan(new Strategy.TidalDecode(64, 0, 0), 8);
        try (BlockPool pool = new BlockPool(KvLayout.of(8, 2, 8, DType.F32), 1 << 20);
             SequenceKvCache cache = SequenceKvCache.create(pool)) {
            AttentionKernel exact = p.kernel(0, 1);
            assertSame(exact, p.kernel(cache, 0, 1), "layer 0 dense");
            AttentionKernel record = p.kernel(cache, 1, 1);
            assertTrue(record.name().startsWith("recording"), record.name());
            AttentionKernel reuse = p.kernel(cache, 2, 1);
            assertEquals("persistent-selection", reuse.name());
            assertSame(reuse, p.kernel(cache, 3, 1));
            assertSame(record, p.kernel(cache, 4, 1), "re-selection layer records into the same selection");
            assertSame(reuse, p.kernel(cache, 7, 1));
            assertSame(p.kernel(0, 7), p.kernel(cache, 0, 7), "prompt chunks are exact");
            try (SequenceKvCache fork = cache.fork()) {
                assertNotSame(reuse, p.kernel(fork, 2, 1), "a fork gets its own selection");
            }
        }
    }

    @Test
    void recycledRunsAFullStepEveryStrideAndAfterEachPromptChunk() {
        StrategyPlan p = plan(new Strategy.Recycled(64, 3), 2);
        try (BlockPool pool = new BlockPool(KvLayout.of(2, 2, 8, DType.F32), 1 << 20);
             SequenceKvCache cache = SequenceKvCache.create(pool)) {
            List<String> schedule = new ArrayList<>();
            for (int step = 0; step < 7; step++) {
                if (step == 4) {
                    p.kernel(cache, 0, 5); // a new prompt chunk (another turn)
                    p.kernel(cache, 1, 5);
                }
                String l0 = p.kernel(cache, 0, 1).name();
                String l1 = p.kernel(cache, 1, 1).name();
                assertEquals(l0.startsWith("recording"), l1.startsWith("recording"), "every layer follows the step");
                schedule.add(l0.startsWith("recording") ? "F" : "r");
            }
            assertEquals(List.of("F", "r", "r", "F", "F", "r", "r"), schedule);
        }
    }
}
