package dev.longctx.models.serving;

import dev.longctx.models.session.Generation;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;

/**
 * A submitted request: its result (a {@link Generation} with its finish reason, also when it was
 * cancelled or timed out) and a way to cancel it. Cancelling, or cancelling the future, ends the
 * request at the engine's next step with {@code CANCELLED} and returns its pages to the pool. The
 * future fails only for errors (an exception in the forward pass or in the request's listener).
 *
 * <p>Threading: thread-safe.
 */
public final class RequestHandle {
    private final long id;
    private final int promptTokens;
    private final CompletableFuture<Generation> result = new CompletableFuture<>();
    private final Runnable wake;
    private volatile boolean cancelled;

    RequestHandle(long id, int promptTokens, Runnable wake) {
        this.id = id;
        this.promptTokens = promptTokens;
        this.wake = wake;
    }

    /** The engine's id of this request (increasing in submission order). */
    public long id() {
        return id;
    }

    /** Prompt tokens after encoding. */
    public int promptTokens() {
        return promptTokens;
    }

    /** The result: completes when the request ends, however it ends. */
    public CompletableFuture<Generation> result() {
        return result;
    }

    /**
     * Waits for the result.
     *
     * @throws IllegalStateException wrapping the cause when the request failed
     */
    public Generation join() {
        try {
            return result.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for request " + id, e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("request " + id + " failed: " + e.getCause().getMessage(), e.getCause());
        }
    }

    /** Asks the engine to end this request; it finishes with {@code CANCELLED} at the next step. */
    public void cancel() {
        cancelled = true;
        wake.run();
    }

    /** Whether the request was cancelled (by {@link #cancel} or by cancelling its future). */
    public boolean cancelRequested() {
        return cancelled || result.isCancelled();
    }

    /** Whether the request has ended. */
    public boolean isDone() {
        return result.isDone();
    }
}
