package dev.longctx.models.template;

import java.util.List;

/**
 * The {@code loop} variable of a {@code for} body: index, index0, revindex, revindex0, first,
 * last, length, previtem, nextitem, depth, depth0, and the methods {@code cycle(...)} and
 * {@code changed(...)}. Belongs to one loop of one render.
 */
final class LoopValue {
    private static final Object UNSET = new Object();

    private final List<Object> items;
    private int index0;
    private Object lastChanged = UNSET;

    LoopValue(List<Object> items) {
        this.items = items;
    }

    void moveTo(int i) {
        index0 = i;
    }

    int index0() {
        return index0;
    }

    int length() {
        return items.size();
    }

    /** The attribute {@code name}, or null when a loop has none. */
    Object attribute(String name) {
        int n = items.size();
        return switch (name) {
            case "index" -> (long) index0 + 1;
            case "index0" -> (long) index0;
            case "revindex" -> (long) (n - index0);
            case "revindex0" -> (long) (n - index0 - 1);
            case "first" -> index0 == 0;
            case "last" -> index0 == n - 1;
            case "length" -> (long) n;
            case "depth" -> 1L;
            case "depth0" -> 0L;
            case "previtem" -> index0 > 0 ? items.get(index0 - 1) : Undefined.hint("there is no previous item");
            case "nextitem" -> index0 + 1 < n ? items.get(index0 + 1) : Undefined.hint("there is no next item");
            case "cycle", "changed" -> new Methods.BoundMethod(this, name);
            default -> null;
        };
    }

    Object cycle(List<Object> args) {
        if (args.isEmpty()) {
            throw TemplateError.render("no items for cycling given");
        }
        return args.get(index0 % args.size());
    }

    boolean changed(List<Object> args) {
        ListValue value = ListValue.tuple(List.copyOf(args));
        if (lastChanged != UNSET && Values.pyEquals(lastChanged, value, 0)) {
            return false;
        }
        lastChanged = value;
        return true;
    }
}
