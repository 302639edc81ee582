package dev.longctx.models.template;

import java.util.Collections;
import java.util.List;

/**
 * A Python sequence: a list, a tuple, a {@code range()} or a dict view ({@code keys()},
 * {@code values()}, {@code items()}). Lists the template builds are appendable (through
 * {@code append}, bounded by {@link TemplateLimits#maxCollectionSize()}); lists passed in, tuples,
 * ranges and views never change. Belongs to one render.
 */
final class ListValue {
    enum Kind {
        LIST("list"), TUPLE("tuple"), RANGE("range"), KEYS("dict_keys"), VALUES("dict_values"), ITEMS("dict_items");

        final String pyName;

        Kind(String pyName) {
            this.pyName = pyName;
        }
    }

    final Kind kind;
    private final List<Object> items;
    private final boolean appendable;
    /** For a range: its repr, {@code range(0, 3)}. */
    private final String rangeRepr;

    private ListValue(Kind kind, List<Object> items, boolean appendable, String rangeRepr) {
        this.kind = kind;
        this.items = items;
        this.appendable = appendable;
        this.rangeRepr = rangeRepr;
    }

    /** A list the template built: appendable. Takes ownership of {@code items}. */
    static ListValue list(List<Object> items) {
        return new ListValue(Kind.LIST, items, true, null);
    }

    /** A list passed in to the render: read-only. */
    static ListValue frozen(List<Object> items) {
        return new ListValue(Kind.LIST, Collections.unmodifiableList(items), false, null);
    }

    static ListValue tuple(List<Object> items) {
        return new ListValue(Kind.TUPLE, Collections.unmodifiableList(items), false, null);
    }

    static ListValue tuple(Object... items) {
        return tuple(List.of(items));
    }

    static ListValue range(List<Object> items, String repr) {
        return new ListValue(Kind.RANGE, Collections.unmodifiableList(items), false, repr);
    }

    static ListValue view(Kind kind, List<Object> items) {
        return new ListValue(kind, Collections.unmodifiableList(items), false, null);
    }

    /** The elements (read-only view). */
    List<Object> items() {
        return Collections.unmodifiableList(items);
    }

    int size() {
        return items.size();
    }

    Object get(int i) {
        return items.get(i);
    }

    boolean isTuple() {
        return kind == Kind.TUPLE;
    }

    /** Lists, tuples and ranges can be indexed and sliced; dict views cannot. */
    boolean isSubscriptable() {
        return kind == Kind.LIST || kind == Kind.TUPLE || kind == Kind.RANGE;
    }

    boolean isAppendable() {
        return appendable;
    }

    void append(Object v, RenderContext ctx) {
        if (!appendable) {
            throw TemplateError.render(kind == Kind.LIST ? "cannot modify a list passed in to the template"
                    : "'" + kind.pyName + "' object has no attribute 'append'");
        }
        ctx.checkCollectionSize(items.size() + 1L);
        items.add(v);
    }

    /** A new list of the same kind (list or tuple) holding {@code newItems}. */
    ListValue sameKind(List<Object> newItems) {
        return kind == Kind.TUPLE ? tuple(newItems) : list(newItems);
    }

    String rangeRepr() {
        return rangeRepr;
    }
}
