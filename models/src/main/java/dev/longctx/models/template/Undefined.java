package dev.longctx.models.template;

/**
 * jinja2's default {@code Undefined}: a missing variable, attribute or item. It prints as "", is
 * false, iterates as empty and has length 0; arithmetic, comparison, attribute or item access
 * and calls on it fail with the message of where it came from. Immutable.
 */
final class Undefined {
    private final String message;

    private Undefined(String message) {
        this.message = message;
    }

    static Undefined variable(String name) {
        return new Undefined("'" + name + "' is undefined");
    }

    static Undefined attribute(Object obj, String name) {
        return new Undefined(PyRepr.string(Values.objectTypeName(obj)) + " has no attribute " + PyRepr.string(name));
    }

    static Undefined element(Object obj, Object key) {
        return new Undefined(Values.objectTypeName(obj) + " has no element " + Values.repr(key));
    }

    static Undefined hint(String message) {
        return new Undefined(message);
    }

    /** The error for a use of this value that jinja2 refuses. */
    TemplateError fail() {
        return TemplateError.render(message);
    }

    String message() {
        return message;
    }

    @Override
    public String toString() {
        return "";
    }
}
