package dev.longctx.models.template;

import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;

/**
 * One level of template variables. jinja2's scoping: the template's top level is one scope, each
 * {@code for} iteration and {@code with} body a child scope (assignments there do not leak out,
 * nor into the next iteration), a macro call a child of the scope the macro was defined in;
 * {@code if} blocks share their enclosing scope. Most scopes hold a few names (a loop variable and
 * {@code loop}), kept in small arrays; larger ones switch to a hash map so a lookup never costs
 * more than a constant. Belongs to one render.
 */
final class Scope {
    private static final int SMALL = 8;

    private final Scope parent;
    private String[] names = new String[2];
    private Object[] values = new Object[2];
    private int size;
    private Map<String, Object> map;

    Scope(Scope parent) {
        this.parent = parent;
    }

    /** The value of {@code name} here or in an enclosing scope, or null. */
    Object lookup(String name) {
        for (Scope s = this; s != null; s = s.parent) {
            Object v = s.local(name);
            if (v != null) {
                return v;
            }
        }
        return null;
    }

    private Object local(String name) {
        if (map != null) {
            return map.get(name);
        }
        for (int i = 0; i < size; i++) {
            if (names[i].equals(name)) {
                return values[i];
            }
        }
        return null;
    }

    void set(String name, Object value) {
        if (map != null) {
            map.put(name, value);
            return;
        }
        for (int i = 0; i < size; i++) {
            if (names[i].equals(name)) {
                values[i] = value;
                return;
            }
        }
        if (size == SMALL) {
            map = new HashMap<>();
            for (int i = 0; i < size; i++) {
                map.put(names[i], values[i]);
            }
            map.put(name, value);
            names = null;
            values = null;
            return;
        }
        if (size == names.length) {
            names = Arrays.copyOf(names, size * 2);
            values = Arrays.copyOf(values, size * 2);
        }
        names[size] = name;
        values[size++] = value;
    }
}
