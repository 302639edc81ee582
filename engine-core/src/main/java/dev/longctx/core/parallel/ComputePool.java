package dev.longctx.core.parallel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
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
 * pool busy (another session's kernel, or a task of this pool's own job calling back into it) runs
 * its whole job on its own thread instead of waiting, which is correct and keeps both callers moving. Close the pools you create; {@link #shared()}
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
    /** The one job every parallelFor call reuses; used only under submitLock. */
    private final Job job = new Job();
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
        // A task that calls back into the pool (a job inside a job) runs its inner job inline: on a
        // worker the lock is held by the submitter, and on the submitting thread the lock is
        // reentrant, so tryLock alone would start a second job over the one in flight.
        if (tasks == 1 || workers.length == 0 || submitLock.isHeldByCurrentThread() || !submitLock.tryLock()) {
            runInline(tasks, body);
            return;
        }
        try {
            Job job = this.job;
            long gen = epoch + 1;
            job.start(gen, tasks, body);
            current = job;
            epoch = gen;
            for (Thread w : workers) {
                LockSupport.unpark(w);
            }
            job.work(gen);
            while (job.completed.get() < tasks) {
                Thread.onSpinWait();
            }
            current = null;
            job.finish();
        } finally {
            submitLock.unlock();
        }
    }

    /** Runs every task on the calling thread; the first failure is thrown after all ran, as in the pool. */
    private static void runInline(int tasks, IntConsumer body) {
        RuntimeException failure = null;
        Error error = null;
        for (int i = 0; i < tasks; i++) {
            try {
                body.accept(i);
            } catch (RuntimeException e) {
                failure = Job.chain(failure, e);
            } catch (Error e) {
                error = Job.chain(error, e);
            }
        }
        if (error != null) {
            throw error;
        }
        if (failure != null) {
            throw failure;
        }
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
                job.work(seen);
            }
        }
    }

    /**
     * The pool's one job, reused by every parallelFor call (a call allocates nothing): tasks are
     * claimed through {@code ticket}, which holds the call's generation in its high 32 bits and the
     * next task index in its low 32. A worker joins the generation it read from {@code epoch} and
     * claims a task only while the ticket is still of that generation, so a worker that arrives late
     * (after its call returned and the next one reset the job) claims nothing of the new call by
     * mistake: the reset writes {@code tasks} and {@code body} before the ticket (a volatile write),
     * and a worker reads them only after a ticket of its own generation.
     *
     * <p>Invariants: each index of a generation is claimed once; {@code completed} counts the
     * claimed tasks that finished, and the submitter returns only when it equals {@code tasks}, so
     * no task of a generation is running when the next one starts.
     */
    private static final class Job {
        final AtomicLong ticket = new AtomicLong();
        final AtomicInteger completed = new AtomicInteger();
        int tasks;
        IntConsumer body;
        /** Guarded by this. */
        RuntimeException failure;
        Error error;

        void start(long gen, int tasks, IntConsumer body) {
            // Close the previous generation's ticket before its fields change: a late worker of that
            // generation holding an exhausted ticket (index == old tasks) could otherwise read the
            // new, larger task count and win its CAS on the unchanged old ticket, running one task
            // of this call with this call's body (twice: it is claimed again below). Its CAS now
            // fails, as the ticket no longer holds the value it read. (Found by
            // reusedJobRunsEveryCallsTasksOnceAcrossManyCalls: "call 6559 task 10 ... was 2".)
            ticket.set((gen << 32) | Integer.MAX_VALUE); // an exhausted ticket: index >= any task count
            this.tasks = tasks;
            this.body = body;
            synchronized (this) {
                failure = null;
                error = null;
            }
            completed.set(0);
            ticket.set(gen << 32);
        }

        void work(long gen) {
            while (true) {
                long t = ticket.get();
                if (t >>> 32 != (gen & 0xFFFF_FFFFL)) {
                    return;
                }
                int i = (int) t;
                if (i >= tasks) {
                    return;
                }
                if (!ticket.compareAndSet(t, t + 1)) {
                    continue;
                }
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
            failure = chain(failure, e);
        }

        private synchronized void recordError(Error e) {
            error = chain(error, e);
        }

        static <T extends Throwable> T chain(T first, T next) {
            if (first == null) {
                return next;
            }
            first.addSuppressed(next);
            return first;
        }

        /** Drops the body (no reference kept between calls) and throws the first failure. */
        void finish() {
            body = null;
            RuntimeException f;
            Error e;
            synchronized (this) {
                f = failure;
                e = error;
                failure = null;
                error = null;
            }
            if (e != null) {
                throw e;
            }
            if (f != null) {
                throw f;
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
