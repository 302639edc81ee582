package dev.longctx.spark;

/**
 * An executor could not open the model or start its serving engine: the file is missing on that
 * host, unreadable or malformed, or the settings do not fit the model. It fails the Spark task
 * (every row of the task would fail the same way), and the message names the host, the path and
 * the cause.
 *
 * <p>Threading: immutable.
 */
public final class EngineOpenException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** With a message naming what could not be opened, and why. */
    public EngineOpenException(String message, Throwable cause) {
        super(message, cause);
    }
}
