package dev.longctx.models.template;

import java.util.List;

/**
 * A one-shot Python iterator, what jinja2's {@code select}, {@code map}, {@code reverse},
 * {@code unique} ... filters return (generators): it iterates once (again it is empty), has no
 * length and is always true. Its elements are computed eagerly. Belongs to one render.
 */
final class IteratorValue {
    private final String pyName;
    private List<Object> items;

    IteratorValue(String pyName, List<Object> items) {
        this.pyName = pyName;
        this.items = items;
    }

    /** The remaining elements; the iterator is exhausted afterwards. */
    List<Object> consume() {
        List<Object> out = items;
        items = List.of();
        return out;
    }

    String pyName() {
        return pyName;
    }
}
