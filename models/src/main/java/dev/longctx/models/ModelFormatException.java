package dev.longctx.models;

/**
 * A model file is malformed, truncated, hostile or unsupported. The message names the file, the
 * field or tensor, and the byte offset where the problem was found.
 */
public final class ModelFormatException extends RuntimeException {
    private static final long serialVersionUID = 1L;
    private final String source;
    private final long offset;

    /**
     * @param source the file (or other source) name
     * @param offset byte offset of the problem, or -1 when none applies
     * @param message what was wrong
     */
    public ModelFormatException(String source, long offset, String message) {
        super(source + (offset >= 0 ? " at offset " + offset : "") + ": " + message);
        this.source = source;
        this.offset = offset;
    }

    /** The file or source name. */
    public String source() {
        return source;
    }

    /** Byte offset of the problem, or -1. */
    public long offset() {
        return offset;
    }
}
