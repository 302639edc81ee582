package dev.longctx.models.serving;

/**
 * A request the engine did not accept: its queue is full, the request could never fit the KV
 * budget, or the engine is closed. Nothing was allocated for it.
 */
public final class RequestRejectedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** Why a request was refused. */
    public enum Reason {
        /** The queue of waiting requests is at its limit: retry later (HTTP 429/503). */
        QUEUE_FULL,
        /** The request needs more KV pages than the engine's whole budget (HTTP 413). */
        TOO_LARGE,
        /** The engine is closed. */
        CLOSED
    }

    private final Reason reason;

    RequestRejectedException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    /** Why. */
    public Reason reason() {
        return reason;
    }
}
