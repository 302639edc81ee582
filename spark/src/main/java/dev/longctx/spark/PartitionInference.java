package dev.longctx.spark;

import dev.longctx.models.serving.Request;
import dev.longctx.models.serving.RequestHandle;
import dev.longctx.models.serving.RequestRejectedException;
import dev.longctx.models.serving.ServingEngine;
import dev.longctx.models.session.GenerateOptions;
import dev.longctx.models.session.Generation;
import dev.longctx.models.session.Strategy;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.util.TaskCompletionListener;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The function each Spark task runs over its partition: a lazy iterator that keeps up to
 * {@code maxInFlightPerTask} of the partition's rows generating in the executor's engine and hands
 * back the output rows in input order. A row that finishes while an earlier one is still
 * generating frees its place at once (the task refills on any completion, not only the oldest's),
 * so one long generation does not starve the engine's batch; finished rows wait in order, at most
 * {@link #BUFFER_FACTOR} times the window in all. Rows are read from the input only as room frees
 * up, so a partition of any size streams through in bounded memory.
 *
 * <p>Threading: the function is serialisable and stateless; each call's iterator belongs to the
 * one task thread that consumes it (the task-completion listener, which cancels what is still in
 * flight, runs on that thread too, or after it).
 */
final class PartitionInference implements MapPartitionsFunction<Row, Row> {
    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(PartitionInference.class);
    /** How often a task waiting for a generation checks whether Spark killed it. */
    private static final long POLL_MILLIS = 100;
    /** Rows a task holds at most (generating, or finished behind an earlier one), in windows. */
    static final int BUFFER_FACTOR = 4;

    private final DocumentInference spec;
    private final int column;
    private final int inputWidth;

    PartitionInference(DocumentInference spec, int column, int inputWidth) {
        this.spec = spec;
        this.column = column;
        this.inputWidth = inputWidth;
    }

    @Override
    public Iterator<Row> call(Iterator<Row> rows) {
        if (!rows.hasNext()) {
            return rows; // an empty partition opens no engine
        }
        ServingEngine engine = ExecutorEngines.acquire(spec.engine());
        PromptEncoder encoder = new PromptEncoder(spec, engine.model(), column);
        Window w = new Window(rows, engine, encoder, TaskContext.get());
        return w;
    }

    /** A row in flight: its input values and either its request or the error that stopped it. */
    private record Pending(Row input, int promptTokens, RequestHandle handle, String error) {
    }

    private final class Window implements Iterator<Row> {
        private final Iterator<Row> input;
        private final ServingEngine engine;
        private final PromptEncoder encoder;
        private final TaskContext task;
        private final GenerateOptions options = spec.options().options();
        private final Strategy strategy = spec.strategy() == null ? null : spec.strategy().strategy();
        private final ArrayDeque<Pending> pending = new ArrayDeque<>();
        /** Requests of this task still generating; decremented on the engine's thread as each ends. */
        private final AtomicInteger generating = new AtomicInteger();
        /** A permit per request ended: wakes the task to refill and to look at the oldest row. */
        private final Semaphore ended = new Semaphore(0);
        /** A row read from the input whose submission met a full engine queue; submitted first next time. */
        private Row deferred;
        private int[] deferredIds;
        private long done;
        private long failed;
        private final long started = System.nanoTime();
        private boolean logged;

        Window(Iterator<Row> input, ServingEngine engine, PromptEncoder encoder, TaskContext task) {
            this.input = input;
            this.engine = engine;
            this.encoder = encoder;
            this.task = task;
            if (task != null) {
                task.addTaskCompletionListener((TaskCompletionListener) ctx -> cancelAll());
            }
        }

        @Override
        public boolean hasNext() {
            fill();
            if (pending.isEmpty() && deferred == null && !logged) {
                logged = true;
                LOG.debug("partition {} of stage {}: {} documents ({} with an error) in {} ms",
                        task == null ? -1 : task.partitionId(), task == null ? -1 : task.stageId(), done, failed,
                        (System.nanoTime() - started) / 1_000_000);
            }
            return !pending.isEmpty() || deferred != null;
        }

        @Override
        public Row next() {
            if (!hasNext()) {
                throw new NoSuchElementException();
            }
            Pending p = pending.peek();
            while (p == null || p.handle() != null && !p.handle().isDone()) {
                waitForAnEnd(); // a request of this task, or (only a deferred row) of another task, to end
                fill();
                p = pending.peek();
            }
            pending.poll();
            Row out = p.handle() == null ? errorRow(p.input(), p.promptTokens(), p.error()) : result(p);
            fill(); // the freed place goes to the next row at once
            return out;
        }

        /** Submits rows while fewer than the window are generating, the buffer has room and the engine takes them. */
        private void fill() {
            while (generating.get() < spec.maxInFlightPerTask()
                    && pending.size() < (long) BUFFER_FACTOR * spec.maxInFlightPerTask()) {
                Row row;
                int[] ids;
                if (deferred != null) {
                    row = deferred;
                    ids = deferredIds;
                } else if (input.hasNext()) {
                    row = input.next();
                    ids = null;
                } else {
                    return;
                }
                deferred = null;
                deferredIds = null;
                try {
                    if (ids == null) {
                        ids = encoder.encode(row);
                    }
                    RequestHandle h = engine.submit(request(ids));
                    generating.incrementAndGet();
                    h.result().whenComplete((g, e) -> {
                        generating.decrementAndGet();
                        ended.release();
                    });
                    pending.add(new Pending(row, ids.length, h, null));
                } catch (RequestRejectedException e) {
                    if (e.reason() == RequestRejectedException.Reason.QUEUE_FULL) {
                        deferred = row; // other tasks filled the engine's queue: try again once something ends
                        deferredIds = ids;
                        return;
                    }
                    if (e.reason() == RequestRejectedException.Reason.CLOSED) { // not the row's fault: let Spark retry the task
                        cancelAll();
                        throw new IllegalStateException("the executor's serving engine was closed while this task ran "
                                + "(ExecutorEngines.closeAll or JVM shutdown)", e);
                    }
                    pending.add(new Pending(row, ids.length, null, describe(e))); // TOO_LARGE
                } catch (IllegalArgumentException e) { // bad row, ContextBudgetException included
                    pending.add(new Pending(row, ids == null ? -1 : ids.length, null, describe(e)));
                }
            }
        }

        private Request request(int[] ids) {
            Request.Builder b = Request.tokens(ids).options(options);
            if (strategy != null) {
                b.strategy(strategy);
            }
            if (spec.budgetTokens() > 0) {
                b.budgetTokens(spec.budgetTokens());
            }
            if (spec.timeoutNanos() > 0) {
                b.timeout(Duration.ofNanos(spec.timeoutNanos()));
            }
            return b.build();
        }

        /** The row of a request that has ended. */
        private Row result(Pending p) {
            try {
                return outputRow(p.input(), p.handle().result().get());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                cancelAll();
                throw new IllegalStateException("interrupted while reading a generation", e);
            } catch (ExecutionException e) {
                return errorRow(p.input(), p.promptTokens(), describe(e.getCause()));
            } catch (CancellationException e) {
                return errorRow(p.input(), p.promptTokens(), "CancellationException: the request was cancelled");
            }
        }

        /**
         * Waits until a request of this task ends, or {@link #POLL_MILLIS} pass (a row deferred by a
         * full queue waits for other tasks' requests), checking whether Spark killed the task.
         */
        private void waitForAnEnd() {
            try {
                if (ended.tryAcquire(POLL_MILLIS, TimeUnit.MILLISECONDS)) {
                    ended.drainPermits();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                cancelAll();
                throw new IllegalStateException("interrupted while waiting for a generation", e);
            }
            if (task != null) {
                task.killTaskIfInterrupted(); // throws TaskKilledException; the listener cancels what is in flight
            }
        }

        private Row outputRow(Row in, Generation g) {
            Object[] v = inputValues(in);
            v[inputWidth] = g.text();
            v[inputWidth + 1] = g.promptIds().length;
            v[inputWidth + 2] = g.outputIds().length;
            v[inputWidth + 3] = g.finishReason().label();
            v[inputWidth + 4] = g.prefillNanos() / 1e9;
            v[inputWidth + 5] = g.decodeNanos() / 1e9;
            count(false, g.promptIds().length, g.outputIds().length);
            return RowFactory.create(v);
        }

        private Row errorRow(Row in, int promptTokens, String error) {
            Object[] v = inputValues(in);
            v[inputWidth + 1] = promptTokens >= 0 ? promptTokens : null;
            v[inputWidth + 6] = error;
            count(true, Math.max(0, promptTokens), 0);
            return RowFactory.create(v);
        }

        private Object[] inputValues(Row in) {
            Object[] v = new Object[inputWidth + OutputColumns.NAMES.size()];
            for (int i = 0; i < inputWidth; i++) {
                v[i] = in.get(i);
            }
            return v;
        }

        private void count(boolean error, long prompt, long output) {
            done++;
            if (error) {
                failed++;
            }
            if (spec.progress() != null) {
                spec.progress().record(error, prompt, output);
            }
        }

        /** Cancels every request still in the engine (a task that failed, was killed, or was not read to the end). */
        private void cancelAll() {
            int n = 0;
            for (Pending p : pending) {
                if (p.handle() != null && !p.handle().isDone()) {
                    p.handle().cancel();
                    n++;
                }
            }
            pending.clear();
            deferred = null;
            if (n > 0) {
                LOG.debug("task ended with {} requests in flight: cancelled", n);
            }
        }
    }

    private static String describe(Throwable e) {
        return e.getClass().getSimpleName() + ": " + e.getMessage();
    }
}
