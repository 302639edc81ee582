package dev.longctx.core.kernels;

import dev.longctx.core.kernels.spi.KernelProvider;
import dev.longctx.core.kernels.spi.VectorKernels;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.longctx.core.parallel.ComputePool;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.provider.Arguments;

/** Test helpers: both providers x 1 and 2 threads, with a check that Panama really is Panama. */
final class Providers {
    private static final ComputePool ONE = ComputePool.create(1);
    private static final ComputePool TWO = ComputePool.create(2);

    private Providers() {
    }

    static VectorKernels panama() {
        VectorKernels k = KernelProvider.panama();
        assertTrue(k.isVectorized() && k.name().startsWith("panama"), "expected the Panama kernels, got " + k.name());
        // Under -Dlongctx.vectorBits=N (the width executions of the build) the kernels must run at N bits.
        String bits = System.getProperty("longctx.vectorBits");
        if (bits != null && !bits.isBlank()) {
            assertTrue(k.name().equals("panama-" + bits.trim()), "expected panama-" + bits.trim() + ", got " + k.name());
        }
        return k;
    }

    /** (name, ops) for scalar and Panama kernels on 1 and 2 threads. */
    static Stream<Arguments> all() {
        List<Arguments> out = new ArrayList<>();
        VectorKernels scalar = KernelProvider.scalar();
        VectorKernels panama = panama();
        for (VectorKernels k : List.of(scalar, panama)) {
            for (ComputePool p : List.of(ONE, TWO)) {
                out.add(Arguments.of(k.name() + "/" + p.threads() + "t", new TensorOps(k, p)));
            }
        }
        return out.stream();
    }

    static TensorOps reference() {
        return new TensorOps(KernelProvider.scalar(), ONE);
    }
}
