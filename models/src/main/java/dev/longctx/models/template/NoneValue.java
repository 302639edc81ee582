package dev.longctx.models.template;

/** Python's {@code None} ({@code none} / {@code None} in templates). A constant. */
enum NoneValue {
    NONE;

    @Override
    public String toString() {
        return "None";
    }
}
