package dev.longctx.models.template;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A Python dict: insertion-ordered, keys are strings, numbers, booleans or none (numeric keys
 * compare as Python does: {@code 1 == 1.0 == True}). Built once (from a literal, {@code dict()} or
 * the caller's data) and never changed afterwards: templates cannot mutate dicts (jinja2's
 * immutable sandbox refuses {@code update}, {@code pop} ...). Immutable once built, but made
 * and used by one render.
 */
final class DictValue {
    private final LinkedHashMap<Object, Object> map;

    private DictValue(LinkedHashMap<Object, Object> map) {
        this.map = map;
    }

    /** Builds a dict, keys and values in pairs; a repeated key keeps its first position. */
    static final class Builder {
        private final LinkedHashMap<Object, Object> map = new LinkedHashMap<>();

        Builder put(Object key, Object value) {
            Object k = checkKey(key);
            if (isNumeric(k)) {
                for (Object existing : map.keySet()) {
                    if (isNumeric(existing) && Values.pyEquals(existing, k, 0)) {
                        map.put(existing, value);
                        return this;
                    }
                }
            }
            map.put(k, value);
            return this;
        }

        int size() {
            return map.size();
        }

        DictValue build() {
            return new DictValue(map);
        }
    }

    static Builder builder() {
        return new Builder();
    }

    private static boolean isNumeric(Object k) {
        return k instanceof Long || k instanceof Double || k instanceof Boolean;
    }

    private static Object checkKey(Object key) {
        if (key instanceof String || isNumeric(key) || key == NoneValue.NONE) {
            return key;
        }
        throw TemplateError.render(key instanceof ListValue l && l.isTuple() ? "tuples as dict keys are not supported"
                : "unhashable type: '" + Values.typeName(key) + "'");
    }

    /** The value at {@code key}, or null when absent. */
    Object get(Object key) {
        if (key instanceof String) {
            return map.get(key);
        }
        if (isNumeric(key)) {
            Object v = map.get(key);
            if (v != null) {
                return v;
            }
            for (Map.Entry<Object, Object> e : map.entrySet()) {
                if (isNumeric(e.getKey()) && Values.pyEquals(e.getKey(), key, 0)) {
                    return e.getValue();
                }
            }
            return null;
        }
        if (key == NoneValue.NONE) {
            return map.get(key);
        }
        if (key instanceof ListValue || key instanceof DictValue) {
            throw TemplateError.render("unhashable type: '" + Values.typeName(key) + "'");
        }
        return null;
    }

    boolean containsKey(Object key) {
        return get(key) != null;
    }

    int size() {
        return map.size();
    }

    List<Object> keys() {
        return new ArrayList<>(map.keySet());
    }

    List<Object> values() {
        return new ArrayList<>(map.values());
    }

    /** The (key, value) tuples. */
    List<Object> items() {
        List<Object> out = new ArrayList<>(map.size());
        for (Map.Entry<Object, Object> e : map.entrySet()) {
            out.add(ListValue.tuple(e.getKey(), e.getValue()));
        }
        return out;
    }

    Map<Object, Object> asMap() {
        return Collections.unmodifiableMap(map);
    }
}
