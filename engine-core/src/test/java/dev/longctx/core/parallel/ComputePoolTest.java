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
            // Each task waits until both have started: one thread alone could never finish.
            var bothStarted = new java.util.concurrent.CountDownLatch(2);
            p.parallelFor(2, i -> {
                names.add(Thread.currentThread().getName());
                bothStarted.countDown();
                try {
                    assertTrue(bothStarted.await(30, java.util.concurrent.TimeUnit.SECONDS), "second thread never came");
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException(e);
                }
            });
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
    void concurrentCallersEachGetAllTheirTasks() throws Exception {
        try (ComputePool p = ComputePool.create(2)) {
            int callers = 4;
            AtomicIntegerArray[] hits = new AtomicIntegerArray[callers];
            Thread[] ts = new Thread[callers];
            for (int c = 0; c < callers; c++) {
                hits[c] = new AtomicIntegerArray(50);
                AtomicIntegerArray h = hits[c];
                ts[c] = new Thread(() -> {
                    for (int round = 0; round < 200; round++) {
                        p.parallelFor(50, h::incrementAndGet);
                    }
                });
                ts[c].start();
            }
            for (Thread t : ts) {
                t.join();
            }
            for (AtomicIntegerArray h : hits) {
                for (int i = 0; i < 50; i++) {
                    assertEquals(200, h.get(i));
                }
            }
        }
    }

    /**
     * The pool reuses one job for every call: back-to-back calls of different sizes, some failing,
     * with workers that may arrive late, still run each task of each call exactly once and no
     * task of an earlier call runs during a later one.
     */
    @Test
    void reusedJobRunsEveryCallsTasksOnceAcrossManyCalls() {
        try (ComputePool pool = ComputePool.create(4)) {
            java.util.concurrent.atomic.AtomicInteger running = new java.util.concurrent.atomic.AtomicInteger();
            for (int call = 0; call < 20_000; call++) {
                int tasks = 1 + call % 37;
                int[] runs = new int[tasks];
                int failing = call % 101 == 0 ? call % tasks : -1;
                int current = call;
                Runnable check = () -> {
                    for (int t = 0; t < tasks; t++) {
                        assertEquals(1, runs[t], "call " + current + " task " + t);
                    }
                };
                try {
                    pool.parallelFor(tasks, t -> {
                        assertEquals(1, running.incrementAndGet() > 0 ? 1 : 0);
                        runs[t]++;
                        running.decrementAndGet();
                        if (t == failing) {
                            throw new IllegalStateException("task " + t + " of call " + current);
                        }
                    });
                    assertEquals(-1, failing, "call " + call + " should have thrown");
                } catch (IllegalStateException e) {
                    assertEquals("task " + failing + " of call " + call, e.getMessage());
                }
                check.run();
                assertEquals(0, running.get(), "a task of call " + call + " still running after it returned");
            }
        }
    }

    /**
     * A task that calls back into the pool (the decoder runs each sequence's attention kernel, itself
     * a parallelFor, inside one task per sequence) gets all its inner tasks run, on every thread,
     * the submitter's included (whose lock is reentrant), and the outer job is not disturbed.
     */
    @Test
    void nestedJobsRunInlineAndCompletely() {
        for (int threads : new int[] {2, 4}) {
            try (ComputePool p = ComputePool.create(threads)) {
                for (int round = 0; round < 200; round++) {
                    int outer = 7;
                    int inner = 13;
                    java.util.concurrent.atomic.AtomicIntegerArray hits = new java.util.concurrent.atomic.AtomicIntegerArray(outer * inner);
                    p.parallelFor(outer, i -> p.parallelFor(inner, j -> hits.incrementAndGet(i * inner + j)));
                    for (int k = 0; k < outer * inner; k++) {
                        assertEquals(1, hits.get(k), "threads " + threads + " round " + round + " cell " + k);
                    }
                }
            }
        }
    }

    @Test
    void closedPoolRejectsWork() {
        ComputePool p = ComputePool.create(2);
        p.close();
        p.close();
        assertThrows(IllegalStateException.class, () -> p.parallelFor(3, i -> { }));
    }

    @Test
    void badSizesAreRejected() {
        assertThrows(IllegalArgumentException.class, () -> ComputePool.create(0));
    }
}
