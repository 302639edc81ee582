package dev.longctx.core.parallel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.IntConsumer;

/**
 * The one pool all kernels share. Kernels split their work into tasks and call
 * {@link #parallelFor}; no kernel creates threads.
 *
 * <p><b>Why not a fork/join pool.</b> A decode step calls the pool a few hundred times for small
 * matrices (a 576 x 1536 matvec takes tens of microseconds); waking a parked fork/join worker costs
 * 5-20 us each time. Here workers spin for a short while ({@link #SPIN_NANOS}) after each job, so
 * back-to-back kernel calls find them awake, and park afterwards so an idle pool costs nothing.
 *
 * <p><b>Determinism.</b> Tasks are claimed dynamically (a slow core, e.g. one shared with another
 * process, simply takes fewer), but task boundaries are chosen by the kernel from the problem size
 * only, and each task writes its own outputs, so results are bit-identical for any thread count.
 *
 * <p><b>Concurrency.</b> Thread-safe. One job runs on the workers at a time; a caller that finds the
 * pool busy (another session's kernel) runs its whole job on its own thread instead of waiting,
 * which is correct and keeps both callers moving. Close the pools you create; {@link #shared()}
 * lives for the JVM.
 */
public final class ComputePool implements AutoCloseable {
    /**
     * How long a worker spins for the next job before parking: long enough to bridge the gap
     * between two kernel calls of a decode step (a few microseconds of norms and RoPE), short
     * enough that an idle pool stops burning a core almost at once.
     */
    static final long SPIN_NANOS = 50_000;

    private final int threads;
    private final boolean closable;
    private final Thread[] workers;
    private final ReentrantLock submitLock = new ReentrantLock();
    /** The job in flight, or null; published with {@link #epoch}. */
    private volatile Job current;
    /** Incremented for every job; workers watch it. */
    private volatile long epoch;
    private volatile boolean shutdown;

    private ComputePool(int threads, boolean closable) {
        this.threads = threads;
        this.closable = closable;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Thread(this::workerLoop, "longctx-compute-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    /**
     * A pool of {@code threads} threads, counting the caller: the calling thread always runs a share
     * of the work, so {@code threads == 1} runs everything on the caller and starts no thread.
     */
    public static ComputePool create(int threads) {
        if (threads < 1) {
            throw new IllegalArgumentException("thread count must be at least 1, got " + threads);
        }
        return new ComputePool(threads, true);
    }

    /**
     * The process-wide default pool, sized to {@code longctx.threads} (system property) or the
     * available processors. Created on first use.
     */
    public static ComputePool shared() {
        return SharedHolder.INSTANCE;
    }

    private static final class SharedHolder {
        static final ComputePool INSTANCE = new ComputePool(defaultThreads(), false);
    }

    /** Threads from {@code -Dlongctx.threads}, else the available processors. */
    public static int defaultThreads() {
        String p = System.getProperty("longctx.threads");
        if (p != null && !p.isBlank()) {
            try {
                int n = Integer.parseInt(p.trim());
                if (n >= 1) {
                    return n;
                }
            } catch (NumberFormatException ignored) {
                // reported below
            }
            throw new IllegalArgumentException("longctx.threads must be a positive integer, got '" + p + "'");
        }
        return Runtime.getRuntime().availableProcessors();
    }

    /** Number of threads that run work, the caller included. */
    public int threads() {
        return threads;
    }

    /**
     * Runs {@code body.accept(i)} for every {@code i} in {@code [0, tasks)}, spread over the pool's
     * threads (the caller takes part); returns when all have run. The first exception thrown by a
     * task is rethrown here (others are added as suppressed); the remaining tasks still run.
     *
     * @throws IllegalStateException if the pool is closed
     */
    public void parallelFor(int tasks, IntConsumer body) {
        if (shutdown) {
            throw new IllegalStateException("compute pool is closed");
        }
        if (tasks <= 0) {
            return;
        }
        if (tasks == 1 || workers.length == 0 || !submitLock.tryLock()) {
            runInline(tasks, body);
            return;
        }
        try {
            Job job = new Job(tasks, body);
            current = job;
            epoch++;
            for (Thread w : workers) {
                LockSupport.unpark(w);
            }
            job.work();
            while (job.completed.get() < tasks) {
                Thread.onSpinWait();
            }
            current = null;
            job.rethrow();
        } finally {
            submitLock.unlock();
        }
    }

    private static void runInline(int tasks, IntConsumer body) {
        Job job = new Job(tasks, body);
        job.work();
        job.rethrow();
    }

    private void workerLoop() {
        long seen = 0;
        while (!shutdown) {
            long spinUntil = System.nanoTime() + SPIN_NANOS;
            while (epoch == seen && !shutdown) {
                if (System.nanoTime() < spinUntil) {
                    Thread.onSpinWait();
                } else {
                    // Re-checked after every wake-up: park may return spuriously.
                    LockSupport.parkNanos(this, 1_000_000);
                }
            }
            seen = epoch;
            Job job = current;
            if (job != null) {
                job.work();
            }
        }
    }

    /** One parallelFor call: tasks claimed by an atomic counter, completion counted. */
    private static final class Job {
        final int tasks;
        final IntConsumer body;
        final AtomicInteger next = new AtomicInteger();
        final AtomicInteger completed = new AtomicInteger();
        /** Guarded by this. */
        RuntimeException failure;
        Error error;

        Job(int tasks, IntConsumer body) {
            this.tasks = tasks;
            this.body = body;
        }

        void work() {
            int i;
            while ((i = next.getAndIncrement()) < tasks) {
                try {
                    body.accept(i);
                } catch (RuntimeException e) {
                    record(e);
                } catch (Error e) {
                    recordError(e);
                } finally {
                    completed.incrementAndGet();
                }
            }
        }

        private synchronized void record(RuntimeException e) {
            if (failure == null) {
                failure = e;
            } else {
                failure.addSuppressed(e);
            }
        }

        private synchronized void recordError(Error e) {
            if (error == null) {
                error = e;
            } else {
                error.addSuppressed(e);
            }
        }

        synchronized void rethrow() {
            if (error != null) {
                throw error;
            }
            if (failure != null) {
                throw failure;
            }
        }
    }

    /** Stops the workers (after the job in flight, if any). Idempotent; the shared pool ignores it. */
    @Override
    public void close() {
        if (!closable || shutdown) {
            return;
        }
        shutdown = true;
        for (Thread w : workers) {
            LockSupport.unpark(w);
        }
    }
}
