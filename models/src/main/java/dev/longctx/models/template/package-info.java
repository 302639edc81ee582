/**
 * A small, sandboxed interpreter of the Jinja2 subset that chat templates use (internal: not
 * exported). {@link dev.longctx.models.template.Template} parses once (lexer, parser, an
 * immutable tree) and renders many times; each render has its own state
 * ({@code RenderContext}: scopes, step budget, output buffers). Semantics are jinja2 3.1's as
 * transformers configures it ({@code trim_blocks}, {@code lstrip_blocks}, loop controls,
 * {@code raise_exception}, {@code strftime_now}, its {@code tojson}); values are only strings,
 * numbers, booleans, none, lists, dicts, namespaces, loops, macros and the engine's own
 * functions, so templates (hostile input from model files) cannot reach Java objects; every
 * resource is bounded by {@link dev.longctx.models.template.TemplateLimits}.
 *
 * <p>Threading: parsed templates, limits and the AST are immutable and thread-safe; everything
 * created during a render belongs to that render's thread.
 */
package dev.longctx.models.template;
