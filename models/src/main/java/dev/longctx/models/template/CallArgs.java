package dev.longctx.models.template;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The evaluated arguments of a call, filter or test, with Python's binding rules for the
 * built-ins: {@link #get} takes a parameter by position or keyword, {@link #done} refuses extra
 * arguments. One per call.
 */
final class CallArgs {
    static final CallArgs EMPTY = new CallArgs("", List.of(), Map.of());

    final String callee;
    final List<Object> positional;
    final Map<String, Object> keywords;
    private int usedPositional;
    private final List<String> usedNames = new ArrayList<>();

    CallArgs(String callee, List<Object> positional, Map<String, Object> keywords) {
        this.callee = callee;
        this.positional = positional;
        this.keywords = keywords;
    }

    CallArgs named(String newCallee) {
        return new CallArgs(newCallee, positional, keywords);
    }

    static CallArgs of(String callee, Object... positional) {
        return new CallArgs(callee, List.of(positional), Map.of());
    }

    /** Parameter {@code index} (0-based among those after the filtered value), by position or name. */
    Object get(int index, String name, Object dflt) {
        usedPositional = Math.max(usedPositional, index + 1);
        usedNames.add(name);
        if (index < positional.size()) {
            if (keywords.containsKey(name)) {
                throw TemplateError.render(callee + "() got multiple values for argument '" + name + "'");
            }
            return positional.get(index);
        }
        return keywords.getOrDefault(name, dflt);
    }

    /** A required parameter. */
    Object required(int index, String name) {
        Object v = get(index, name, null);
        if (v == null) {
            throw TemplateError.render(callee + "() missing required argument '" + name + "'");
        }
        return v;
    }

    /** Positional arguments from {@code index} on (Python's *args). */
    List<Object> rest(int index) {
        usedPositional = Math.max(usedPositional, positional.size());
        return index >= positional.size() ? List.of() : positional.subList(index, positional.size());
    }

    /** Marks every argument as taken (for callees that accept anything). */
    void consumeAll() {
        usedPositional = positional.size();
        usedNames.addAll(keywords.keySet());
    }

    /** Refuses arguments no parameter took. */
    void done() {
        if (positional.size() > usedPositional) {
            throw TemplateError.render(callee + "() takes at most " + usedPositional + " positional argument(s) ("
                    + positional.size() + " given)");
        }
        for (String k : keywords.keySet()) {
            if (!usedNames.contains(k)) {
                throw TemplateError.render(callee + "() got an unexpected keyword argument '" + k + "'");
            }
        }
    }

    /** Keyword arguments as a fresh map, for {@code dict(**kw)} and {@code namespace(**kw)}. */
    Map<String, Object> keywordsCopy() {
        return new LinkedHashMap<>(keywords);
    }
}
