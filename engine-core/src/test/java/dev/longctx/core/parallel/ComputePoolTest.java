package dev.longctx.core.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ComputePoolTest {

    @Test
    void everyTaskRunsExactlyOnce() {
        for (int threads : new int[] {1, 2, 3}) {
            try (ComputePool p = ComputePool.create(threads)) {
                for (int tasks : new int[] {0, 1, 2, 5, 97}) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(1, tasks));
                    p.parallelFor(tasks, hits::incrementAndGet);
                    for (int i = 0; i < tasks; i++) {
                        assertEquals(1, hits.get(i), "threads=" + threads + " tasks=" + tasks + " i=" + i);
                    }
                }
            }
        }
    }

    @Test
    void workReallyRunsOnSeveralThreads() {
        try (ComputePool p = ComputePool.create(2)) {
            var names = java.util.concurrent.ConcurrentHashMap.<String>newKeySet();
            p.parallelFor(2, i -> names.add(Thread.currentThread().getName()));
            assertEquals(2, names.size(), names.toString());
        }
    }

    @Test
    void exceptionsPropagateToTheCaller() {
        try (ComputePool p = ComputePool.create(2)) {
            var e = assertThrows(IllegalStateException.class, () -> p.parallelFor(8, i -> {
                if (i == 7) {
                    throw new IllegalStateException("task 7 failed");
                }
            }));
            assertTrue(e.getMessage().contains("task 7"), e.getMessage());
        }
    }

    @Test
    void badSizesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> ComputePool.create(0));
    }
}
