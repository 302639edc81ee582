package dev.longctx.core.parallel;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.ForkJoinTask;
import java.util.concurrent.RecursiveAction;
import java.util.function.IntConsumer;

/**
 * The one pool all kernels share. Kernels split their work into chunks and call
 * {@link #parallelFor}; no kernel creates threads.
 *
 * <p>Chunk boundaries depend only on the problem size and the chunk size, never on the thread
 * count, so a kernel whose chunks are computed independently gives bit-identical results for any
 * number of threads.
 *
 * <p>Thread-safe: several sessions may submit work at once. Close the pools you create;
 * {@link #shared()} lives for the JVM.
 */
public final class ComputePool implements AutoCloseable {
    private final ForkJoinPool pool;
    private final int threads;
    private final boolean closable;

    private ComputePool(int threads, boolean closable) {
        this.threads = threads;
        this.closable = closable;
        this.pool = threads > 1 ? new ForkJoinPool(threads - 1, p -> {
            var t = ForkJoinPool.defaultForkJoinWorkerThreadFactory.newThread(p);
            t.setName("longctx-compute-" + t.getPoolIndex());
            t.setDaemon(true);
            return t;
        }, null, false) : null;
    }

    /**
     * A pool of {@code threads} threads, counting the caller: the calling thread always runs a share
     * of the work, so {@code threads == 1} runs everything on the caller.
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
                // fall through to the processor count; the value is reported below
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
     * threads (the caller takes part); returns when all have run. An exception from any task is
     * rethrown.
     */
    public void parallelFor(int tasks, IntConsumer body) {
        if (tasks <= 0) {
            return;
        }
        if (tasks == 1 || pool == null) {
            for (int i = 0; i < tasks; i++) {
                body.accept(i);
            }
            return;
        }
        int workers = Math.min(threads, tasks);
        // Contiguous runs of task indices per worker: neighbouring chunks share cache lines.
        List<ForkJoinTask<?>> forked = new ArrayList<>(workers - 1);
        for (int w = 1; w < workers; w++) {
            int from = (int) ((long) tasks * w / workers);
            int to = (int) ((long) tasks * (w + 1) / workers);
            forked.add(pool.submit(new Range(body, from, to)));
        }
        RuntimeException failure = null;
        try {
            int end = (int) ((long) tasks / workers);
            for (int i = 0; i < end; i++) {
                body.accept(i);
            }
        } catch (RuntimeException e) {
            failure = e;
        }
        for (ForkJoinTask<?> t : forked) {
            try {
                t.join();
            } catch (RuntimeException e) {
                if (failure == null) {
                    failure = e;
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        if (failure != null) {
            throw failure;
        }
    }

    @SuppressWarnings("serial") // tasks are never serialised
    private static final class Range extends RecursiveAction {
        private final IntConsumer body;
        private final int from;
        private final int to;

        Range(IntConsumer body, int from, int to) {
            this.body = body;
            this.from = from;
            this.to = to;
        }

        @Override
        protected void compute() {
            for (int i = from; i < to; i++) {
                body.accept(i);
            }
        }
    }

    @Override
    public void close() {
        if (pool != null && closable) {
            pool.shutdown();
        }
    }
}
