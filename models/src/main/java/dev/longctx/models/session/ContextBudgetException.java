package dev.longctx.models.session;

/**
 * A context or a budget that cannot work: a prompt longer than what the strategy and budget can
 * hold, a budget too small for a strategy's protected sets (sinks, window, heavy hitters). Thrown
 * before any work is done; the message says what was needed and, where it helps, which strategies
 * would fit.
 */
public final class ContextBudgetException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    /** With a message saying what did not fit. */
    public ContextBudgetException(String message) {
        super(message);
    }
}
