package dev.longctx.models.template;

/**
 * Why a template failed to parse or render, and where (1-based line and column of the source, when
 * known). {@link Kind#RAISED} errors come from the template's own {@code raise_exception(message)}:
 * their message is exactly the raised text. Immutable.
 */
public final class TemplateError extends RuntimeException {
    private static final long serialVersionUID = 1L;

    /** What kind of failure. */
    public enum Kind {
        /** The source is not a valid template (or uses a feature we refuse). */
        SYNTAX,
        /** An operation failed while rendering (undefined value, type error, division by zero...). */
        RENDER,
        /** A {@link TemplateLimits} bound was hit. */
        LIMIT,
        /** The template called {@code raise_exception(message)}. */
        RAISED,
        /** A bug in this engine (never expected; kept distinct so tests can tell). */
        INTERNAL
    }

    private final Kind kind;
    private final String reason;
    private final int line;
    private final int column;

    TemplateError(Kind kind, String reason, int line, int column, Throwable cause) {
        super(kind == Kind.RAISED ? reason : (line > 0 ? "line " + line + ":" + column + ": " : "") + reason, cause);
        this.kind = kind;
        this.reason = reason;
        this.line = line;
        this.column = column;
    }

    TemplateError(Kind kind, String reason) {
        this(kind, reason, 0, 0, null);
    }

    /** A failure of an operation while rendering, its position filled in by the evaluator. */
    static TemplateError render(String reason) {
        return new TemplateError(Kind.RENDER, reason);
    }

    /** A bound was hit. */
    static TemplateError limit(String reason) {
        return new TemplateError(Kind.LIMIT, reason);
    }

    /** This error placed at {@code offset} of {@code source}, unless it already has a position. */
    TemplateError at(Source source, int offset) {
        if (line > 0 || kind == Kind.RAISED || offset < 0) {
            return this;
        }
        return new TemplateError(kind, reason, source.line(offset), source.column(offset), getCause());
    }

    public Kind kind() {
        return kind;
    }

    /** The failure without its position. */
    public String reason() {
        return reason;
    }

    /** 1-based line, or 0 when unknown. */
    public int line() {
        return line;
    }

    /** 1-based column, or 0 when unknown. */
    public int column() {
        return column;
    }
}
