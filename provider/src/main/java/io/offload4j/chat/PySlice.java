package io.offload4j.chat;

import java.util.ArrayList;
import java.util.List;
import jinjava.de.odysseus.el.tree.Bindings;
import jinjava.de.odysseus.el.tree.impl.ast.AstNode;
import jinjava.de.odysseus.el.tree.impl.ast.AstRightValue;
import jinjava.javax.el.ELContext;

/** {@code seq[start:stop:step]} with Python's semantics (negative and out-of-range bounds, negative steps). */
final class PySlice extends AstRightValue {

    private final AstNode base;
    private final AstNode start;
    private final AstNode stop;
    private final AstNode step;

    PySlice(AstNode base, AstNode start, AstNode stop, AstNode step) {
        this.base = base;
        this.start = start;
        this.stop = stop;
        this.step = step;
    }

    @Override
    public Object eval(Bindings bindings, ELContext context) {
        Object seq = base.eval(bindings, context);
        Long a = bound(start, bindings, context);
        Long b = bound(stop, bindings, context);
        Long c = bound(step, bindings, context);
        return slice(seq, a, b, c);
    }

    private static Long bound(AstNode node, Bindings bindings, ELContext context) {
        if (node == null) {
            return null;
        }
        Object v = node.eval(bindings, context);
        if (v == null) {
            return null;
        }
        if (!Py.isInteger(v)) {
            throw new TemplateRuntimeError("slice indices must be integers or None, not " + Py.typeName(v));
        }
        return ((Number) v).longValue();
    }

    static Object slice(Object seq, Long start, Long stop, Long step) {
        if (seq == null) {
            return null; // undefined stays undefined
        }
        long st = step == null ? 1 : step;
        if (st == 0) {
            throw new TemplateRuntimeError("slice step cannot be zero");
        }
        boolean isString = Py.isString(seq);
        if (!isString && !(seq instanceof Iterable<?>) && !seq.getClass().isArray()) {
            throw new TemplateRuntimeError("'" + Py.typeName(seq) + "' object is not subscriptable");
        }
        List<Object> items = Py.iterate(seq instanceof java.util.Map<?, ?> ? List.of() : seq);
        long len = items.size();
        long lo;
        long hi;
        if (st > 0) {
            lo = start == null ? 0 : clamp(start, len, 0, len);
            hi = stop == null ? len : clamp(stop, len, 0, len);
        } else {
            lo = start == null ? len - 1 : clamp(start, len, -1, len - 1);
            hi = stop == null ? -1 : clamp(stop, len, -1, len - 1);
        }
        List<Object> out = new ArrayList<>();
        for (long i = lo; st > 0 ? i < hi : i > hi; i += st) {
            out.add(items.get((int) i));
        }
        if (isString) {
            StringBuilder sb = new StringBuilder();
            out.forEach(sb::append);
            return sb.toString();
        }
        return out;
    }

    /** CPython's PySlice_AdjustIndices for one bound. */
    private static long clamp(long i, long len, long min, long max) {
        if (i < 0) {
            i += len;
            return i < 0 ? min : i;
        }
        return Math.min(i, max);
    }

    @Override
    public void appendStructure(StringBuilder b, Bindings bindings) {
        base.appendStructure(b, bindings);
        b.append('[');
        if (start != null) {
            start.appendStructure(b, bindings);
        }
        b.append(':');
        if (stop != null) {
            stop.appendStructure(b, bindings);
        }
        if (step != null) {
            b.append(':');
            step.appendStructure(b, bindings);
        }
        b.append(']');
    }

    @Override
    public int getCardinality() {
        return 4;
    }

    @Override
    public AstNode getChild(int i) {
        return switch (i) {
            case 0 -> base;
            case 1 -> start;
            case 2 -> stop;
            case 3 -> step;
            default -> null;
        };
    }

    @Override
    public String toString() {
        return "[::]";
    }
}
