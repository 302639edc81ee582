package dev.longctx.models.template;

/**
 * One lexical token: its kind, its source text (the operator or name for those kinds), its value
 * (the decoded string, the number) and its offset in the {@link Source}. Immutable.
 */
record Token(Kind kind, String text, Object value, int offset) {
    enum Kind { DATA, VAR_BEGIN, VAR_END, BLOCK_BEGIN, BLOCK_END, NAME, STRING, INTEGER, FLOAT, OPERATOR, EOF }

    boolean isName(String name) {
        return kind == Kind.NAME && text.equals(name);
    }

    boolean isOp(String op) {
        return kind == Kind.OPERATOR && text.equals(op);
    }

    /** How error messages name this token. */
    String describe() {
        return switch (kind) {
            case DATA -> "template data";
            case VAR_BEGIN -> "begin of print statement";
            case VAR_END -> "end of print statement";
            case BLOCK_BEGIN -> "begin of statement block";
            case BLOCK_END -> "end of statement block";
            case EOF -> "end of template";
            default -> "'" + text + "'";
        };
    }
}
