package dev.longctx.spark;

import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * How many compute threads an executor's engine gets when {@link EngineSettings#threads()} is 0:
 * the executor's cores ({@code spark.executor.cores}), else the {@code N} of a {@code local[N]}
 * master, else the processors the JVM sees (which honours a container's CPU quota).
 *
 * <p>Threading: stateless.
 */
final class ExecutorThreads {
    private static final Pattern LOCAL = Pattern.compile("local\\[\\s*(\\*|\\d+)\\s*(?:,\\s*\\d+\\s*)?]");

    private ExecutorThreads() {
    }

    /**
     * The thread count.
     *
     * @param configured the settings' threads (0 = derive)
     * @param executorCores {@code spark.executor.cores}, or null when unset
     * @param master {@code spark.master}, or null
     * @param processors {@code Runtime.availableProcessors()}
     */
    static int resolve(int configured, String executorCores, String master, int processors) {
        if (configured > 0) {
            return configured;
        }
        if (executorCores != null && !executorCores.isBlank()) {
            try {
                int n = Integer.parseInt(executorCores.trim());
                if (n > 0) {
                    return n;
                }
            } catch (NumberFormatException e) {
                // fall through to the master and the processors
            }
        }
        if (master != null) {
            String m = master.trim().toLowerCase(Locale.ROOT);
            if (m.equals("local")) {
                return 1;
            }
            Matcher x = LOCAL.matcher(m);
            if (x.matches()) {
                return x.group(1).equals("*") ? Math.max(1, processors) : Math.max(1, Integer.parseInt(x.group(1)));
            }
        }
        return Math.max(1, processors);
    }
}
