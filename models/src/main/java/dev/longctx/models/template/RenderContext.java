package dev.longctx.models.template;

import java.time.Clock;
import java.util.Map;

/**
 * The state of one render: the budgets it spends (steps, call depth), the variables passed in,
 * the current scope and the clock {@code strftime_now} reads. Not thread-safe; a render owns its
 * context and discards it when done.
 */
final class RenderContext {
    final TemplateLimits limits;
    final Source source;
    final Clock clock;
    private final Map<String, Object> variables;
    private long steps;
    private int callDepth;
    Scope scope;
    final Evaluator evaluator;
    final Renderer renderer;

    RenderContext(TemplateLimits limits, Source source, Clock clock, Map<String, Object> variables) {
        this.limits = limits;
        this.source = source;
        this.clock = clock;
        this.variables = variables;
        this.scope = new Scope(null);
        this.evaluator = new Evaluator(this);
        this.renderer = new Renderer(this);
    }

    /** One evaluation step (an expression node, a statement, a loop iteration). */
    void step() {
        if (++steps > limits.maxSteps()) {
            throw stepsExceeded();
        }
    }

    /** Work proportional to {@code elements} copied or visited (one step per 16). */
    void charge(long elements) {
        steps += elements >>> 4;
        if (steps > limits.maxSteps()) {
            throw stepsExceeded();
        }
    }

    /** Work proportional to {@code chars} built (one step per 64). */
    void chargeChars(long chars) {
        steps += chars >>> 6;
        if (steps > limits.maxSteps()) {
            throw stepsExceeded();
        }
    }

    private TemplateError stepsExceeded() {
        return TemplateError.limit("template exceeded " + limits.maxSteps() + " evaluation steps (a runaway loop?)");
    }

    /** Refuses a string (or output) of {@code chars} chars beyond the bound. */
    void checkString(long chars) {
        if (chars > limits.maxOutputChars()) {
            throw TemplateError.limit("a string of " + chars + " chars exceeds the limit of " + limits.maxOutputChars()
                    + " chars on output and strings");
        }
    }

    void checkCollectionSize(long size) {
        if (size > limits.maxCollectionSize()) {
            throw TemplateError.limit("a list or dict of " + size + " elements exceeds the limit of " + limits.maxCollectionSize());
        }
    }

    void enterCall(String what) {
        if (callDepth >= limits.maxCallDepth()) {
            throw TemplateError.limit("calls to " + what + " nest deeper than the limit of " + limits.maxCallDepth()
                    + " (runaway recursion?)");
        }
        callDepth++;
    }

    void leaveCall() {
        callDepth--;
    }

    /** A variable passed in to the render, or a global function; null when neither. */
    Object global(String name) {
        Object v = variables.get(name);
        return v != null ? v : Globals.get(name);
    }
}
