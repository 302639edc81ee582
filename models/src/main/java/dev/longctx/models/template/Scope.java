package dev.longctx.models.template;

import java.util.HashMap;
import java.util.Map;

/**
 * One level of template variables. jinja2's scoping: the template's top level is one scope, each
 * {@code for} iteration and {@code with} body a child scope (assignments there do not leak out,
 * nor into the next iteration), a macro call a child of the scope the macro was defined in;
 * {@code if} blocks share their enclosing scope. Belongs to one render.
 */
final class Scope {
    private final Scope parent;
    private final Map<String, Object> vars = new HashMap<>();

    Scope(Scope parent) {
        this.parent = parent;
    }

    /** The value of {@code name} here or in an enclosing scope, or null. */
    Object lookup(String name) {
        for (Scope s = this; s != null; s = s.parent) {
            Object v = s.vars.get(name);
            if (v != null) {
                return v;
            }
        }
        return null;
    }

    void set(String name, Object value) {
        vars.put(name, value);
    }
}
