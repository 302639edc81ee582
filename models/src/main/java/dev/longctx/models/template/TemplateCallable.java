package dev.longctx.models.template;

/**
 * A value a template may call: a macro, a global function ({@code range}, {@code namespace} ...),
 * or a bound method of a string, list or dict. The only code a template can reach. The global
 * functions are stateless and shared by all renders; macros, bound methods and joiners belong to
 * the render that made them.
 */
interface TemplateCallable {
    /** What Python's repr calls it, for messages. */
    String describe();

    Object call(RenderContext ctx, CallArgs args);
}
