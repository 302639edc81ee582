package dev.longctx.models.template;

/** Python's {@code None} ({@code none} / {@code None} in templates). A constant: immutable and thread-safe. */
enum NoneValue {
    NONE;

    @Override
    public String toString() {
        return "None";
    }
}
