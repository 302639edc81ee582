package dev.longctx.models.template;

/**
 * Where rendered text goes: the template's output, or a buffer for a macro call, block
 * {@code set} or filter block; each bounded by {@link TemplateLimits#maxOutputChars()}. Belongs to
 * one render.
 */
final class Output {
    private final StringBuilder sb = new StringBuilder();
    private final RenderContext ctx;

    Output(RenderContext ctx) {
        this.ctx = ctx;
    }

    void append(String s) {
        ctx.checkString((long) sb.length() + s.length());
        ctx.chargeChars(s.length());
        sb.append(s);
    }

    @Override
    public String toString() {
        return sb.toString();
    }
}
