package io.offload4j.chat;

import java.util.List;

/**
 * Jinja2's {@code loop} object: index, index0, revindex, revindex0, first, last, length, previtem, nextitem,
 * depth, depth0, {@code cycle(...)} and {@code changed(...)}. Exists for one loop of one render.
 */
final class LoopContext {

    private static final Object UNSET = new Object();

    private final List<Object> items;
    private final int depth0;
    private int index0 = -1;
    private Object lastChanged = UNSET;

    LoopContext(List<Object> items, int depth0) {
        this.items = items;
        this.depth0 = depth0;
    }

    void advance() {
        index0++;
    }

    int length() {
        return items.size();
    }

    /** The named attribute, or {@code null} (undefined) for an unknown name. */
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
            case "depth" -> (long) depth0 + 1;
            case "depth0" -> (long) depth0;
            case "previtem" -> index0 > 0 ? items.get(index0 - 1) : null;
            case "nextitem" -> index0 + 1 < n ? items.get(index0 + 1) : null;
            default -> null;
        };
    }

    /** {@code loop.cycle(a, b, ...)}. */
    Object cycle(Object[] args) {
        if (args.length == 0) {
            throw new TemplateRuntimeError("no items for cycling given");
        }
        return args[index0 % args.length];
    }

    /** {@code loop.changed(value)}: true on the first call and whenever the value differs from the last call's. */
    boolean changed(Object[] args) {
        Object value = args.length == 1 ? args[0] : List.of(args);
        if (lastChanged != UNSET && Py.equal(lastChanged, value)) {
            return false;
        }
        lastChanged = value;
        return true;
    }

    @Override
    public String toString() {
        return "<LoopContext " + (index0 + 1) + "/" + items.size() + ">";
    }
}
