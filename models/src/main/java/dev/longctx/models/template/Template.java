package dev.longctx.models.template;

import java.time.Clock;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A parsed Jinja template, the subset of jinja2 3.1 that chat templates use, rendered as
 * transformers renders chat templates ({@code ImmutableSandboxedEnvironment(trim_blocks=True,
 * lstrip_blocks=True)} with loop controls, {@code raise_exception}, {@code strftime_now} and its
 * own {@code tojson}). Sandboxed by construction: a template only ever sees strings, numbers,
 * booleans, none, lists, dicts, namespaces and the engine's own functions, never a Java object,
 * and every resource it can spend is bounded by {@link TemplateLimits}.
 *
 * <p>Immutable and thread-safe once parsed: concurrent renders share the tree; each render keeps
 * its own state. Every failure, of parse or render, is a {@link TemplateError}.
 */
public final class Template {
    private final Source source;
    private final List<Stmt> body;
    private final TemplateLimits limits;

    private Template(Source source, List<Stmt> body, TemplateLimits limits) {
        this.source = source;
        this.body = body;
        this.limits = limits;
    }

    /** Parses {@code source} under the default limits. */
    public static Template parse(String source) {
        return parse(source, TemplateLimits.DEFAULT);
    }

    /**
     * Parses {@code source}.
     *
     * @throws TemplateError a syntax error (with line:column), an unsupported statement, or a
     *                       limit (source length, nesting) exceeded
     */
    public static Template parse(String source, TemplateLimits limits) {
        Objects.requireNonNull(source, "source");
        Objects.requireNonNull(limits, "limits");
        try {
            Source s = Source.of(source, limits);
            return new Template(s, Parser.parse(s, limits), limits);
        } catch (StackOverflowError e) {
            throw new TemplateError(TemplateError.Kind.LIMIT, "template nesting exhausted the thread's stack", 0, 0, null);
        } catch (TemplateError e) {
            throw e;
        } catch (RuntimeException e) {
            throw new TemplateError(TemplateError.Kind.INTERNAL, "internal error of the template engine: " + e, 0, 0, e);
        }
    }

    public TemplateLimits limits() {
        return limits;
    }

    /**
     * Renders with {@code variables} (converted as {@link Values#fromJava} describes: strings,
     * numbers, booleans, null, maps and lists of them).
     *
     * @param clock what {@code strftime_now} reads
     * @throws TemplateError when rendering fails: {@link TemplateError.Kind#RAISED} with the
     *                       template's own message for {@code raise_exception}, otherwise with the
     *                       line:column and what went wrong
     */
    public String render(Map<String, ?> variables, Clock clock) {
        Objects.requireNonNull(variables, "variables");
        Objects.requireNonNull(clock, "clock");
        try {
            Map<String, Object> vars = new HashMap<>();
            for (Map.Entry<String, ?> e : variables.entrySet()) {
                vars.put(Objects.requireNonNull(e.getKey(), "variable name"), Values.fromJava(e.getValue(), e.getKey(), 0, limits));
            }
            RenderContext ctx = new RenderContext(limits, source, clock, vars);
            Output out = new Output(ctx);
            ctx.renderer.exec(body, out);
            return out.toString();
        } catch (StackOverflowError e) {
            throw new TemplateError(TemplateError.Kind.LIMIT, "template recursion exhausted the thread's stack", 0, 0, null);
        } catch (TemplateError e) {
            throw e;
        } catch (RuntimeException e) {
            throw new TemplateError(TemplateError.Kind.INTERNAL, "internal error of the template engine: " + e, 0, 0, e);
        }
    }

    /** Renders with the system clock. */
    public String render(Map<String, ?> variables) {
        return render(variables, Clock.systemDefaultZone());
    }
}
