package dev.longctx.models.template;

/**
 * A macro defined by a template, closed over the scope it was defined in; calling it renders its
 * body to a string in a new child scope (bounded by {@link TemplateLimits#maxCallDepth()}).
 * Belongs to one render.
 */
final class MacroValue implements TemplateCallable {
    final Stmt.Macro def;
    final Scope scope;

    MacroValue(Stmt.Macro def, Scope scope) {
        this.def = def;
        this.scope = scope;
    }

    String name() {
        return def.name();
    }

    @Override
    public String describe() {
        return "<Macro '" + def.name() + "'>";
    }

    @Override
    public Object call(RenderContext ctx, CallArgs args) {
        return ctx.renderer.callMacro(this, args);
    }
}
