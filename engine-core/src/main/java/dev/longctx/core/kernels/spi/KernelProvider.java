package dev.longctx.core.kernels.spi;

import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Chooses the {@link VectorKernels} implementation once, on first use.
 *
 * <p>The system property {@code longctx.vector} selects: {@code auto} (default: Panama when it
 * can run well, else scalar with a logged reason), {@code panama} (fail if unavailable) or
 * {@code scalar}. Panama falls back when the {@code jdk.incubator.vector} module is not
 * resolvable (start the JVM with {@code --add-modules jdk.incubator.vector}), when C2 is off
 * ({@code -Xint}, {@code TieredStopAtLevel} below 4) or when the preferred species holds fewer
 * than 4 floats.
 */
public final class KernelProvider {
    /** System property choosing the implementation: auto, panama or scalar. */
    public static final String PROPERTY = "longctx.vector";
    private static final Logger LOG = LoggerFactory.getLogger(KernelProvider.class);
    private static final String PANAMA_CLASS = "dev.longctx.core.kernels.panama.PanamaVectorKernels";

    private KernelProvider() {
    }

    /** The implementation chosen for this JVM (computed once). */
    public static VectorKernels get() {
        return Holder.CHOSEN;
    }

    private static final class Holder {
        static final VectorKernels CHOSEN = choose(System.getProperty(PROPERTY, "auto"));
    }

    /** A new scalar implementation. */
    public static VectorKernels scalar() {
        return new ScalarKernels();
    }

    /**
     * A Panama implementation.
     *
     * @throws UnsupportedOperationException with the reason when it cannot run here
     */
    public static VectorKernels panama() {
        String why = panamaUnavailableReason();
        if (why != null) {
            throw new UnsupportedOperationException("Panama vector kernels unavailable: " + why);
        }
        try {
            return (VectorKernels) Class.forName(PANAMA_CLASS).getDeclaredConstructor().newInstance();
        } catch (ReflectiveOperationException | LinkageError e) {
            throw new UnsupportedOperationException("Panama vector kernels unavailable: " + e, e);
        }
    }

    /** Why the Panama kernels cannot run in this JVM, or null when they can. */
    public static String panamaUnavailableReason() {
        if (ModuleLayer.boot().findModule("jdk.incubator.vector").isEmpty()) {
            return "module jdk.incubator.vector is not resolved (start the JVM with --add-modules jdk.incubator.vector)";
        }
        List<String> args = ManagementFactory.getRuntimeMXBean().getInputArguments();
        for (String a : args) {
            if (a.equals("-Xint")) {
                return "the JIT is off (-Xint); vector code would run interpreted";
            }
            if (a.startsWith("-XX:TieredStopAtLevel=")) {
                try {
                    if (Integer.parseInt(a.substring(a.indexOf('=') + 1)) < 4) {
                        return "C2 is off (" + a + "); vector intrinsics need C2";
                    }
                } catch (NumberFormatException ignored) {
                    // not a level we understand: assume C2 may run
                }
            }
            if (a.equals("-XX:-UseCompiler")) {
                return "the JIT is off (-XX:-UseCompiler)";
            }
        }
        return PanamaProbe.speciesReason();
    }

    static VectorKernels choose(String mode) {
        String m = mode.trim().toLowerCase(Locale.ROOT);
        switch (m) {
            case "scalar" -> {
                LOG.info("longctx kernels: scalar (forced by -D{}=scalar)", PROPERTY);
                return scalar();
            }
            case "panama" -> {
                VectorKernels k = panama();
                LOG.info("longctx kernels: {} (forced by -D{}=panama)", k.name(), PROPERTY);
                return k;
            }
            case "auto" -> {
                String why = panamaUnavailableReason();
                if (why != null) {
                    LOG.warn("longctx kernels: falling back to scalar because {}", why);
                    return scalar();
                }
                try {
                    VectorKernels k = panama();
                    LOG.info("longctx kernels: {}", k.name());
                    return k;
                } catch (UnsupportedOperationException e) {
                    LOG.warn("longctx kernels: falling back to scalar because {}", e.getMessage());
                    return scalar();
                }
            }
            default -> throw new IllegalArgumentException(
                    "-D" + PROPERTY + "=" + mode + " is not one of auto, panama, scalar");
        }
    }

    /** Reads the species width without linking vector classes into this class. */
    private static final class PanamaProbe {
        static String speciesReason() {
            try {
                Class<?> c = Class.forName(PANAMA_CLASS);
                Object r = c.getMethod("unsupportedReason").invoke(null);
                return (String) r;
            } catch (ReflectiveOperationException | LinkageError e) {
                return "the vector kernels cannot be loaded: " + e;
            }
        }
    }
}
