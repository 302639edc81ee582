package dev.longctx.core.kernels.spi;


import dev.longctx.core.kernels.spi.VectorKernels;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class KernelProviderTest {

    @Test
    void vectorModuleIsResolvedInTests() {
        // Surefire passes --add-modules jdk.incubator.vector; without it every Panama test would
        // silently test the scalar code twice.
        assertTrue(ModuleLayer.boot().findModule("jdk.incubator.vector").isPresent(),
                "jdk.incubator.vector must be resolved in the test JVM");
        assertNull(KernelProvider.panamaUnavailableReason());
    }

    @Test
    void autoSelectsPanamaWhenAvailable() {
        VectorKernels k = KernelProvider.get();
        assertTrue(k.isVectorized(), "auto selection picked " + k.name());
        assertTrue(KernelProvider.choose("auto").isVectorized());
    }

    @Test
    void propertyForcesEither() {
        assertEquals("scalar", KernelProvider.choose("scalar").name());
        assertFalse(KernelProvider.choose("SCALAR").isVectorized());
        assertTrue(KernelProvider.choose("panama").name().startsWith("panama-"));
    }

    @Test
    void unknownModeIsAClearError() {
        var e = assertThrows(IllegalArgumentException.class, () -> KernelProvider.choose("avx9000"));
        assertTrue(e.getMessage().contains("auto, panama, scalar"), e.getMessage());
    }
}
