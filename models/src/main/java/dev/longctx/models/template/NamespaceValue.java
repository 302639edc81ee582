package dev.longctx.models.template;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * jinja2's {@code namespace()}: an object whose attributes a template may assign with
 * {@code {% set ns.attr = value %}}, the only way to carry values out of a loop body. Belongs to
 * one render.
 */
final class NamespaceValue {
    private final LinkedHashMap<String, Object> attrs = new LinkedHashMap<>();

    Object get(String name) {
        return attrs.get(name);
    }

    void set(String name, Object value, RenderContext ctx) {
        if (!attrs.containsKey(name)) {
            ctx.checkCollectionSize(attrs.size() + 1L);
        }
        attrs.put(name, value);
    }

    Map<String, Object> attrs() {
        return attrs;
    }
}
