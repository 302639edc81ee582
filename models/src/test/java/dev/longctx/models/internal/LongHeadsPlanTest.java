package dev.longctx.models.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.models.session.ContextBudgetException;
import dev.longctx.models.session.Strategy;
import org.junit.jupiter.api.Test;

/** LongHeads' parameters against the budget: the paper's 16 chunks of 256 at 4,096 attended keys, the chunk scaled below. */
class LongHeadsPlanTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(1));
    private static final KvLayout LAYOUT = new KvLayout(2, 2, 4, 5, DType.F32);

    private static Strategy.LongHeads resolved(Strategy.LongHeads s, int budget) {
        return (Strategy.LongHeads) StrategyPlan.resolve(s, budget, LAYOUT, 16, OPS).strategy;
    }

    @Test
    void thePapersDefaultsWhereTheyFitScaledBelow() {
        assertEquals(new Strategy.LongHeads(4096, 256, 16), resolved(new Strategy.LongHeads(0, 0, 0), 16384));
        assertEquals(new Strategy.LongHeads(4096, 256, 16), resolved(new Strategy.LongHeads(0, 0, 0), 4096));
        assertEquals(new Strategy.LongHeads(2048, 128, 16), resolved(new Strategy.LongHeads(0, 0, 0), 2048));
        assertEquals(new Strategy.LongHeads(512, 32, 16), resolved(new Strategy.LongHeads(512, 0, 0), 16384), "attended keys given");
        assertEquals(new Strategy.LongHeads(512, 64, 8), resolved(new Strategy.LongHeads(0, 0, 8), 512), "chunks given");
        assertEquals(new Strategy.LongHeads(512, 100, 5), resolved(new Strategy.LongHeads(0, 100, 0), 512), "chunk size given");
        assertThrows(ContextBudgetException.class, () -> resolved(new Strategy.LongHeads(0, 0, 0), 8));
        assertThrows(ContextBudgetException.class, () -> resolved(new Strategy.LongHeads(0, 300, 0), 512));
    }
}
