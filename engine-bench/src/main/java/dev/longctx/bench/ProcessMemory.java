package dev.longctx.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * What the benchmarks need to know about memory, read from Linux's {@code /proc}: the memory
 * available for new allocations, and this process's peak resident set, which can be reset
 * between runs so that each run reports its own peak. Elsewhere every answer is empty and the
 * callers say so instead of guessing.
 */
final class ProcessMemory {
    private static final Path MEMINFO = Path.of("/proc/meminfo");
    private static final Path STATUS = Path.of("/proc/self/status");
    private static final Path CLEAR_REFS = Path.of("/proc/self/clear_refs");

    private ProcessMemory() {
    }

    /** {@code MemAvailable} of {@code /proc/meminfo}: what the kernel can hand out without swapping. */
    static OptionalLong availableBytes() {
        return kibField(MEMINFO, "MemAvailable:");
    }

    /** This process's peak resident set since start or the last {@link #resetPeak} ({@code VmHWM}). */
    static OptionalLong peakResidentBytes() {
        return kibField(STATUS, "VmHWM:");
    }

    /**
     * Resets the peak resident set to the current one (writing 5 to {@code /proc/self/clear_refs},
     * Linux 4.0 and later).
     *
     * @return false when the kernel does not allow it; the peak then covers the whole process
     */
    static boolean resetPeak() {
        try {
            Files.writeString(CLEAR_REFS, "5");
            return true;
        } catch (IOException | SecurityException | UnsupportedOperationException e) {
            return false;
        }
    }

    private static OptionalLong kibField(Path file, String key) {
        try {
            for (String line : Files.readAllLines(file)) {
                if (line.startsWith(key)) {
                    return OptionalLong.of(Long.parseLong(line.substring(key.length()).replaceAll("[^0-9]", "")) * 1024);
                }
            }
        } catch (IOException | NumberFormatException | SecurityException e) {
            return OptionalLong.empty();
        }
        return OptionalLong.empty();
    }
}
