package dev.longctx.models.internal;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.kernels.TensorOps;
import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.parallel.ComputePool;
import dev.longctx.core.tensor.DType;
import dev.longctx.kvcache.KvLayout;
import dev.longctx.kvcache.SnapKvPolicy;
import dev.longctx.models.session.Strategy;
import org.junit.jupiter.api.Test;

/** SnapKV's pooling kernel: by name ({@code snapkv:KERNEL}) into the strategy, and from the strategy into the policy. */
class SnapKvPlanTest {
    private static final TensorOps OPS = new TensorOps(KernelProvider.get(), ComputePool.create(1));
    private static final KvLayout LAYOUT = new KvLayout(2, 2, 20, 7, DType.F32);

    @Test
    void theKernelReachesThePolicyAndDefaultsToThePapers() {
        assertEquals(new Strategy.SnapKv(0, 0, 9), Strategy.parse("snapkv:9"));
        assertEquals(new Strategy.SnapKv(0, 0, 0), Strategy.parse("snapkv"));
        assertEquals(new Strategy.SnapKv(0, 0), new Strategy.SnapKv(0, 0, 0));
        StrategyPlan nine = StrategyPlan.resolve(Strategy.parse("snapkv:9"), 256, LAYOUT, 16, OPS);
        assertEquals(new Strategy.SnapKv(256, SnapKvPolicy.DEFAULT_WINDOW, 9), nine.strategy);
        assertEquals(new SnapKvPolicy(256, SnapKvPolicy.DEFAULT_WINDOW, 9, true), nine.policy());
        StrategyPlan paper = StrategyPlan.resolve(Strategy.parse("snapkv"), 256, LAYOUT, 16, OPS);
        assertEquals(new Strategy.SnapKv(256, SnapKvPolicy.DEFAULT_WINDOW, SnapKvPolicy.DEFAULT_KERNEL), paper.strategy,
                "resolved: the authors' LongBench kernel and window");
        assertEquals(new SnapKvPolicy(256, SnapKvPolicy.DEFAULT_WINDOW, SnapKvPolicy.DEFAULT_KERNEL, true), paper.policy());
        assertEquals(new SnapKvPolicy(256, SnapKvPolicy.DEFAULT_WINDOW, 1, true),
                StrategyPlan.resolve(Strategy.parse("snapkv:1"), 256, LAYOUT, 16, OPS).policy(), "kernel 1: no pooling");
    }

    @Test
    void anEvenOrNegativeKernelIsRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Strategy.parse("snapkv:4"));
        assertTrue(e.getMessage().contains("snapkv pooling kernel must be odd"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Strategy.parse("snapkv:-3"));
        e = assertThrows(IllegalArgumentException.class, () -> Strategy.parse("snapkv:wide"));
        assertTrue(e.getMessage().contains("bad parameters in strategy 'snapkv:wide'"), e.getMessage());
    }
}
